//! `/timeline`: the last hour's runs and the next hour's fire times of a
//! page of jobs ([`LANES`] at a time), one lane per job, each mark placed
//! by its time (classes `.x0`..`.x100`, so no inline style). And
//! `/events`: the live event tail, filled by the script.

use axum::extract::State;
use serde::Deserialize;
use store::model::time::rfc3339_ms;
use store::state::RunFilter;

use super::html::{self, Html, Nav, esc, q, seg, short_time, state_class};
use super::{Who, error_page};
use crate::api::convert;
use crate::app::{ApiError, App, Caller};
use crate::http::extract::Query;
use crate::http::json::RunJson;
use crate::node::now_ms;

/// Jobs on one page of the timeline.
pub const LANES: usize = 25;
/// Each side of now, in milliseconds.
const SPAN_MS: i64 = 3_600_000;
/// Runs and fire times per lane, at most.
const PER_LANE: usize = 60;

/// The timeline's page.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    pub page_token: Option<String>,
}

/// One job's lane.
pub struct Lane {
    pub job_id: String,
    pub runs: Vec<RunJson>,
    pub next: Vec<String>,
}

/// `GET /timeline`.
pub async fn page(State(app): State<App>, Who(who): Who, Query(tq): Query<TimelineQuery>) -> Html {
    let node = app.node.id;
    match lanes(&app, &who, &tq) {
        Ok(lanes) => {
            let token = tq.page_token.as_deref().unwrap_or("");
            let body = format!(
                "<h1>Timeline</h1><p class=\"muted\">The last hour's runs and the next hour's \
fire times, per job.</p><div id=\"timeline\" data-fragment=\"/fragments/timeline?page_token={t}\" \
data-refresh=\"15000\" data-on=\"occurrence\">{lanes}</div>",
                t = q(token),
            );
            html::ok(html::page(
                "Timeline",
                Nav::Timeline,
                "timeline",
                node,
                &body,
            ))
        }
        Err(e) => error_page(node, &e),
    }
}

/// The lanes of a page of jobs, as markup.
pub fn lanes(app: &App, who: &Caller, tq: &TimelineQuery) -> Result<String, ApiError> {
    let now = now_ms();
    let token = tq.page_token.as_deref().filter(|t| !t.is_empty());
    let page = app.list_jobs_in(who, &Default::default(), None, LANES, token);
    let mut lanes = Vec::with_capacity(page.jobs.len());
    for job in &page.jobs {
        let id = &job.spec.id;
        let runs = app
            .list_runs(
                who,
                RunFilter {
                    job_id: Some(id.clone()),
                    since: Some(now - SPAN_MS),
                    limit: PER_LANE,
                    ..Default::default()
                },
            )
            .iter()
            .map(|o| RunJson::from_pb(&convert::run_to_pb(o)))
            .collect();
        let next = app
            .next_fire_times(who, id, PER_LANE)?
            .into_iter()
            .take_while(|t| *t <= now + SPAN_MS)
            .map(rfc3339_ms)
            .collect();
        lanes.push(Lane {
            job_id: id.clone(),
            runs,
            next,
        });
    }
    Ok(render_lanes(now, &lanes, page.next_page_token.as_deref()))
}

/// Where `t` (RFC 3339) falls between an hour ago and an hour ahead, 0-100.
fn position(now: i64, t: &str) -> Option<i64> {
    let at = chrono::DateTime::parse_from_rfc3339(t)
        .ok()?
        .timestamp_millis();
    Some(((at - (now - SPAN_MS)) * 100 / (2 * SPAN_MS)).clamp(0, 100))
}

/// The lanes (pure).
pub fn render_lanes(now: i64, lanes: &[Lane], next_page: Option<&str>) -> String {
    let mut out = String::from(
        "<div class=\"axis\"><span class=\"x0\">−1 h</span><span class=\"x25\">−30 m</span>\
<span class=\"x50\">now</span><span class=\"x75\">+30 m</span><span class=\"x100\">+1 h</span></div>",
    );
    if lanes.is_empty() {
        out += "<p class=\"muted\">No jobs.</p>";
    }
    for lane in lanes {
        let mut marks = String::from("<span class=\"now x50\"></span>");
        for r in &lane.runs {
            let at = r.scheduled_at.as_deref().unwrap_or("");
            let Some(x) = position(now, at) else { continue };
            marks += &format!(
                "<a class=\"tick {c} x{x}\" href=\"/jobs/{j}#run-{a}\" title=\"{t}\"></a>",
                c = state_class(&r.state),
                j = seg(&lane.job_id),
                a = esc(&seg(at)),
                t = esc(&format!("{} {}", r.state.replace('_', " "), short_time(at))),
            );
        }
        for t in &lane.next {
            let Some(x) = position(now, t) else { continue };
            marks += &format!(
                "<span class=\"tick next x{x}\" title=\"next: {t}\"></span>",
                t = esc(&short_time(t)),
            );
        }
        out += &format!(
            "<div class=\"lane\"><a class=\"lane-name\" href=\"/jobs/{sid}\">{eid}</a>\
<div class=\"track\">{marks}</div></div>",
            sid = seg(&lane.job_id),
            eid = esc(&lane.job_id),
        );
    }
    if let Some(next) = next_page {
        out += &format!(
            "<nav class=\"pager\"><a href=\"/timeline?page_token={}\">Next jobs →</a></nav>",
            q(next)
        );
    }
    out
}

/// `GET /events`: the live tail (the script fills it from the stream).
pub async fn events_page(State(app): State<App>, Who(_who): Who) -> Html {
    let body = "<h1>Events</h1><p class=\"muted\">Events as this node applies them, newest \
first (the last 500 are kept on this page).</p>\
<ol id=\"event-tail\" class=\"tail\" reversed></ol>";
    html::ok(html::page(
        "Events",
        Nav::Events,
        "events",
        app.node.id,
        body,
    ))
}
