//! `/`: the cluster (leader, members, lag, health) and its activity
//! (running now, the next 24 hours, recent failures and misses). Each list
//! takes at most [`LIST`] entries.

use axum::extract::State;
use store::model::RunState;
use store::model::time::rfc3339_ms;

use super::html::{self, Html, Nav, badge, countdown, esc, seg, time};
use super::{LIST, Who};
use crate::api::convert;
use crate::app::{App, Caller};
use crate::http::json::{ClusterJson, RunJson};
use crate::node::now_ms;

const DAY_MS: i64 = 24 * 3_600_000;

/// `GET /`.
pub async fn page(State(app): State<App>, Who(who): Who) -> Html {
    let body = format!(
        "<h1>Overview</h1>\
<section id=\"cluster\" data-fragment=\"/fragments/cluster\" data-refresh=\"5000\">{c}</section>\
<section id=\"activity\" data-fragment=\"/fragments/activity\" data-on=\"occurrence\">{a}</section>",
        c = cluster(&app, &who).await,
        a = activity(&app, &who),
    );
    html::ok(html::page(
        "Overview",
        Nav::Overview,
        "overview",
        app.node.id,
        &body,
    ))
}

/// The cluster section.
pub async fn cluster(app: &App, who: &Caller) -> String {
    let status = app.cluster_status(who).await;
    let paused = app.node.state.read(|s| s.scheduler_paused());
    render_cluster(&ClusterJson::from_pb(&status, paused), app.node.id)
}

/// The cluster section from a status (pure: the tests call it).
pub fn render_cluster(c: &ClusterJson, here: u64) -> String {
    let leader = match c.leader {
        Some(id) => format!("<strong id=\"leader\" data-leader=\"{id}\">node {id}</strong>"),
        None => {
            "<strong id=\"leader\" data-leader=\"\" class=\"bad-text\">none known</strong>".into()
        }
    };
    let paused = if c.scheduler_paused {
        " · <span class=\"badge paused\">scheduler paused</span>"
    } else {
        ""
    };
    let changing = if c.membership_changing {
        " · <span class=\"badge paused\" id=\"membership-changing\" \
title=\"Until it finishes, quorums need a majority of the old voters and of the new\">\
membership change in progress</span>"
    } else {
        ""
    };
    let mut rows = String::new();
    for m in &c.members {
        let health = if m.healthy {
            "<span class=\"badge ok\">healthy</span>"
        } else {
            "<span class=\"badge bad\">unhealthy</span>"
        };
        let me = if m.id == here { " (this node)" } else { "" };
        rows += &format!(
            "<tr data-member=\"{id}\"><td data-label=\"Node\">{id}{me}</td>\
<td data-label=\"Address\">{addr}</td><td data-label=\"State\">{state}{voter}</td>\
<td data-label=\"Applied\">{applied}</td><td data-label=\"Lag\">{lag}</td>\
<td data-label=\"Health\">{health}</td></tr>",
            id = m.id,
            addr = esc(&m.addr),
            state = esc(&m.state),
            voter = if m.voter { "" } else { " (learner)" },
            applied = m.applied_index,
            lag = m.lag,
        );
    }
    format!(
        "<h2>Cluster</h2><p>Leader: {leader} · term {term}{paused}{changing}</p>\
<table class=\"cards\"><thead><tr><th>Node</th><th>Address</th><th>State</th>\
<th>Applied</th><th>Lag</th><th>Health</th></tr></thead><tbody>{rows}</tbody></table>",
        term = c.term,
    )
}

/// A job due within the next day.
pub struct Upcoming {
    pub at: String,
    pub job_id: String,
    pub schedule: String,
}

/// The activity section: running now, next 24 h, recent failures and misses.
pub fn activity(app: &App, who: &Caller) -> String {
    let now = now_ms();
    let (running, upcoming) = app.node.state.read(|s| {
        let running: Vec<RunJson> = s
            .open_occurrences()
            .filter(|o| o.state == RunState::Running)
            .take(LIST)
            .map(|o| RunJson::from_pb(&convert::run_to_pb(o)))
            .collect();
        let upcoming: Vec<Upcoming> = s
            .due_through(now + DAY_MS)
            .take(LIST)
            .filter_map(|(at, id)| {
                let job = s.job(id)?;
                Some(Upcoming {
                    at: rfc3339_ms(at),
                    job_id: id.to_string(),
                    schedule: crate::http::words::schedule_text(
                        convert::job_to_pb(job).spec.as_ref()?,
                    ),
                })
            })
            .collect();
        (running, upcoming)
    });
    let since = now - DAY_MS;
    // One pass over the runs for the four states; newest first.
    let mut bad: Vec<RunJson> = app
        .runs_in_states(
            who,
            &[
                RunState::Failed,
                RunState::TimedOut,
                RunState::Missed,
                RunState::Skipped,
            ],
            since,
            LIST,
        )
        .iter()
        .map(|o| RunJson::from_pb(&convert::run_to_pb(o)))
        .collect();
    bad.reverse();
    render_activity(&running, &upcoming, &bad)
}

fn job_link(id: &str) -> String {
    format!("<a href=\"/jobs/{}\">{}</a>", seg(id), esc(id))
}

/// The activity section from its lists (pure: the tests call it).
pub fn render_activity(running: &[RunJson], upcoming: &[Upcoming], bad: &[RunJson]) -> String {
    let mut out = String::from("<div class=\"grid\"><div><h2>Running now</h2>");
    if running.is_empty() {
        out += "<p class=\"muted\">Nothing is running.</p>";
    } else {
        out += "<ul class=\"plain\">";
        for r in running {
            out += &format!(
                "<li>{job} {b} on node {node}, started {t}</li>",
                job = job_link(&r.job_id),
                b = badge(&r.state),
                node = r.node_id,
                t = time(r.started_at.as_deref()),
            );
        }
        out += "</ul>";
    }
    out += "</div><div><h2>Next 24 hours</h2>";
    if upcoming.is_empty() {
        out += "<p class=\"muted\">Nothing is due.</p>";
    } else {
        out += "<ul class=\"plain\">";
        for u in upcoming {
            out += &format!(
                "<li>{job} {c} <span class=\"muted\">{s}</span></li>",
                job = job_link(&u.job_id),
                c = countdown(Some(&u.at)),
                s = esc(&u.schedule),
            );
        }
        out += "</ul>";
        if upcoming.len() >= LIST {
            out += &format!(
                "<p class=\"muted\">The first {LIST}; see <a href=\"/timeline\">the timeline</a>.</p>"
            );
        }
    }
    out += "</div></div><h2>Recent failures and misses</h2>";
    if bad.is_empty() {
        out += "<p class=\"muted\">None in the last 24 hours.</p>";
    } else {
        out += "<table class=\"cards\"><thead><tr><th>Job</th><th>Scheduled</th><th>State</th>\
<th>Reason</th></tr></thead><tbody>";
        for r in bad {
            let reason = match (&r.cause, r.reason.as_str()) {
                (Some(c), "") => c.clone(),
                (_, reason) => reason.to_string(),
            };
            out += &format!(
                "<tr><td data-label=\"Job\">{job}</td><td data-label=\"Scheduled\">{t}</td>\
<td data-label=\"State\">{b}</td><td data-label=\"Reason\" class=\"reason\">{why}</td></tr>",
                job = job_link(&r.job_id),
                t = time(r.scheduled_at.as_deref()),
                b = badge(&r.state),
                why = esc(&reason),
            );
        }
        out += "</tbody></table>";
    }
    out
}
