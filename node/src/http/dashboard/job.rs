//! `/jobs/{id}`: a job's summary (state, schedule, next 10 fire times,
//! actions with a confirmation), its spec as JSON, and its run history,
//! newest first, [`RUNS_PAGE`] at a time (`?until=` for older pages).
//! The summary and the first page of history are fragments, fetched
//! again when an event names the job.

use axum::extract::{Path, State};
use serde::Deserialize;
use store::model::time::rfc3339_ms;
use store::state::RunFilter;

use super::html::{self, Html, Nav, badge, countdown, esc, job_badge, q, seg, time};
use super::jobs::actions;
use super::{RUNS_PAGE, Who, error_page};
use crate::api::convert;
use crate::app::{ApiError, App, Caller};
use crate::http::extract::Query;
use crate::http::json::{JobJson, RunJson, parse_time};

/// Next fire times shown.
const NEXT: usize = 10;

/// A page of history.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// Only runs scheduled before this time (RFC 3339): an older page.
    pub until: Option<String>,
}

/// `GET /jobs/{id}`.
pub async fn page(
    State(app): State<App>,
    Who(who): Who,
    Path(id): Path<String>,
    Query(rq): Query<RunsQuery>,
) -> Html {
    let node = app.node.id;
    let made = (|| {
        let until = rq
            .until
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|u| parse_time("until", u))
            .transpose()?;
        let job = app.get_job(&who, &id)?;
        let j = JobJson::from_pb(&convert::job_to_pb(&job));
        let spec = serde_json::to_string_pretty(&j.spec)
            .map_err(|e| ApiError::Internal(format!("the spec as JSON: {e}")))?;
        Ok::<_, ApiError>(render_page(
            &j,
            &summary(&app, &who, &id)?,
            &spec,
            &runs(&app, &who, &id, until)?,
            until.is_none(),
        ))
    })();
    match made {
        Ok(body) => html::ok(html::page(&id, Nav::Jobs, "job", node, &body)),
        Err(e) => error_page(node, &e),
    }
}

/// The page body (pure).
pub fn render_page(j: &JobJson, summary: &str, spec: &str, runs: &str, live: bool) -> String {
    let id = &j.spec.id;
    let name = if j.spec.name.is_empty() || &j.spec.name == id {
        String::new()
    } else {
        format!("<p class=\"muted\">{}</p>", esc(&j.spec.name))
    };
    let runs_live = if live {
        format!(" data-fragment=\"/fragments/jobs/{}/runs\"", seg(id))
    } else {
        String::new()
    };
    format!(
        "<h1 id=\"job-title\" data-job=\"{eid}\">{eid}</h1>{name}\
<section id=\"summary\" data-fragment=\"/fragments/jobs/{sid}/summary\">{summary}</section>\
<section><h2>Run history</h2><div id=\"runs\"{runs_live}>{runs}</div></section>\
<section><details><summary>Spec</summary><pre class=\"spec\">{spec}</pre></details></section>",
        eid = esc(id),
        sid = seg(id),
        spec = esc(spec),
    )
}

/// The summary fragment: state, schedule, next runs, actions.
pub fn summary(app: &App, who: &Caller, id: &str) -> Result<String, ApiError> {
    let job = app.get_job(who, id)?;
    let next = app.next_fire_times(who, id, NEXT)?;
    let j = JobJson::from_pb(&convert::job_to_pb(&job));
    Ok(render_summary(
        &j,
        &next.into_iter().map(rfc3339_ms).collect::<Vec<_>>(),
    ))
}

/// The summary (pure).
pub fn render_summary(j: &JobJson, next: &[String]) -> String {
    let state = super::jobs::state_word(&j.state);
    let why = if j.pause_reason.is_empty() {
        String::new()
    } else {
        format!(" <span class=\"reason\">{}</span>", esc(&j.pause_reason))
    };
    let labels: String = j
        .spec
        .labels
        .iter()
        .map(|(k, v)| format!("<span class=\"chip\">{}={}</span>", esc(k), esc(v)))
        .collect();
    let mut fires = String::new();
    for t in next {
        fires += &format!("<li>{}</li>", time(Some(t)));
    }
    if next.is_empty() {
        fires = "<li class=\"muted\">none (paused, finished or waiting on another job)</li>".into();
    }
    format!(
        "<dl class=\"facts\"><dt>State</dt><dd id=\"job-state\">{b}{why}</dd>\
<dt>Schedule</dt><dd>{sched}</dd><dt>Next run</dt><dd>{cd}</dd>\
<dt>Runs so far</dt><dd>{count}</dd><dt>Version</dt><dd>{v}, by {by}</dd>\
<dt>Labels</dt><dd>{labels}</dd></dl>\
<p>{acts}<button data-act=\"delete\" data-job=\"{eid}\" data-confirm=\"1\" class=\"danger\">Delete</button></p>\
<h2>Next {n} fire times</h2><ol class=\"fires\">{fires}</ol>",
        b = job_badge(state),
        sched = esc(&j.schedule_text),
        cd = countdown(j.next_fire_at.as_deref()),
        count = j.run_count,
        v = j.version,
        by = esc(&j.updated_by),
        acts = actions(j, true),
        eid = esc(&j.spec.id),
        n = NEXT,
    )
}

/// A page of `id`'s history: the newest [`RUNS_PAGE`] before `until`.
pub fn runs(app: &App, who: &Caller, id: &str, until: Option<i64>) -> Result<String, ApiError> {
    app.get_job(who, id)?;
    let list: Vec<RunJson> = app
        .list_runs(
            who,
            RunFilter {
                job_id: Some(id.to_string()),
                until,
                limit: RUNS_PAGE,
                ..Default::default()
            },
        )
        .iter()
        .rev()
        .map(|o| RunJson::from_pb(&convert::run_to_pb(o)))
        .collect();
    // A full page has older runs behind it; the oldest shown is the last.
    let older = (list.len() >= RUNS_PAGE)
        .then(|| list.last().and_then(|r| r.scheduled_at.clone()))
        .flatten();
    Ok(render_runs(id, &list, older.as_deref(), until.is_some()))
}

/// The history table (pure): `runs` newest first; `older`: the instant
/// to page from.
pub fn render_runs(id: &str, runs: &[RunJson], older: Option<&str>, paged: bool) -> String {
    if runs.is_empty() {
        return "<p class=\"muted\" data-count=\"0\">No runs yet.</p>".into();
    }
    let mut out = format!(
        "<table class=\"cards runs\" data-count=\"{}\"><thead><tr><th>Scheduled</th><th>State</th>\
<th>Attempt</th><th>Token</th><th>Node</th><th>Started</th><th>Finished</th><th>Code</th>\
<th>Reason</th></tr></thead><tbody>",
        runs.len()
    );
    for r in runs {
        let at = r.scheduled_at.as_deref().unwrap_or("");
        let reason = match (&r.cause, r.reason.as_str()) {
            (Some(c), "") => c.clone(),
            (Some(c), why) => format!("{c}: {why}"),
            (None, why) => why.to_string(),
        };
        let code = r.exit_code.map(|c| c.to_string()).unwrap_or_default();
        let mut detail = String::new();
        if r.attempts.len() > 1 || !r.output_tail.is_empty() {
            let mut attempts = String::new();
            for a in &r.attempts {
                attempts += &format!(
                    "<li>attempt {n}: {b} node {node}, token {tok}, due {due}, started {s}, finished {f}{code}</li>",
                    n = a.number,
                    b = badge(&a.state),
                    node = a.node_id,
                    tok = a.fencing_token,
                    due = time(a.due_at.as_deref()),
                    s = time(a.started_at.as_deref()),
                    f = time(a.finished_at.as_deref()),
                    code = a
                        .exit_code
                        .map(|c| format!(", code {c}"))
                        .unwrap_or_default(),
                );
            }
            let tail = if r.output_tail.is_empty() {
                String::new()
            } else {
                format!("<pre class=\"output\">{}</pre>", esc(&r.output_tail))
            };
            detail = format!(
                "<tr class=\"detail\"><td colspan=\"9\"><details><summary>attempts and output</summary>\
<ol class=\"plain\">{attempts}</ol>{tail}</details></td></tr>"
            );
        }
        out += &format!(
            "<tr id=\"run-{rid}\" data-run=\"{occ}\"><td data-label=\"Scheduled\">{t}</td>\
<td data-label=\"State\">{b}</td><td data-label=\"Attempt\">{att}</td>\
<td data-label=\"Token\">{tok}</td><td data-label=\"Node\">{node}</td>\
<td data-label=\"Started\">{s}</td><td data-label=\"Finished\">{f}</td>\
<td data-label=\"Code\">{code}</td><td data-label=\"Reason\" class=\"reason\">{why}</td></tr>{detail}",
            rid = esc(&seg(at)),
            occ = esc(&r.occurrence_id),
            t = time(r.scheduled_at.as_deref()),
            b = badge(&r.state),
            att = r.attempt,
            tok = r.fencing_token,
            node = r.node_id,
            s = time(r.started_at.as_deref()),
            f = time(r.finished_at.as_deref()),
            code = esc(&code),
            why = esc(&reason),
        );
    }
    out += "</tbody></table><nav class=\"pager\">";
    if paged {
        out += &format!("<a href=\"/jobs/{}\">Newest runs</a> ", seg(id));
    }
    if let Some(older) = older {
        out += &format!(
            "<a href=\"/jobs/{}?until={}\">Older runs →</a>",
            seg(id),
            q(older)
        );
    }
    out + "</nav>"
}
