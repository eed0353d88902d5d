//! `/jobs`: a page of jobs (at most [`MAX_JOBS_PAGE`]), filtered by
//! labels and state, each with its schedule in words, a countdown to its
//! next run, its last [`MARKS`] runs as coloured marks and its buttons.
//! A row is also a fragment, fetched again when an event names its job.

use axum::extract::State;
use serde::Deserialize;
use store::state::RunFilter;

use super::html::{self, Html, Nav, countdown, esc, job_badge, q, seg, state_class};
use super::{JOBS_PAGE, MARKS, MAX_JOBS_PAGE, Who, error_page};
use crate::api::convert;
use crate::app::{ApiError, App, Caller};
use crate::http::extract::Query;
use crate::http::jobs::parse_labels;
use crate::http::json::{JobJson, JobStateJson, RunJson};

/// The filters and page of `/jobs`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    /// `k=v,k2=v2`.
    pub labels: Option<String>,
    /// active, paused or finished; empty: any.
    pub state: Option<String>,
    pub page_size: Option<usize>,
    pub page_token: Option<String>,
}

/// A job and its last runs, oldest first.
pub struct Row {
    pub job: JobJson,
    pub runs: Vec<RunJson>,
}

fn state_filter(s: Option<&str>) -> Result<Option<store::model::JobState>, ApiError> {
    use store::model::JobState as S;
    Ok(match s.unwrap_or("") {
        "" => None,
        "active" => Some(S::Active),
        "paused" => Some(S::Paused),
        "finished" => Some(S::Finished),
        other => {
            return Err(ApiError::invalid(
                "state",
                format!("{other:?} is not active, paused or finished"),
            ));
        }
    })
}

fn row_of(app: &App, who: &Caller, job: &store::model::Job) -> Row {
    let runs = app
        .list_runs(
            who,
            RunFilter {
                job_id: Some(job.spec.id.clone()),
                limit: MARKS,
                ..Default::default()
            },
        )
        .iter()
        .map(|o| RunJson::from_pb(&convert::run_to_pb(o)))
        .collect();
    Row {
        job: JobJson::from_pb(&convert::job_to_pb(job)),
        runs,
    }
}

/// `GET /jobs`.
pub async fn page(State(app): State<App>, Who(who): Who, Query(f): Query<JobsQuery>) -> Html {
    let node = app.node.id;
    let labels = match parse_labels("labels", f.labels.as_deref()) {
        Ok(l) => l,
        Err(e) => return error_page(node, &e),
    };
    let state = match state_filter(f.state.as_deref()) {
        Ok(s) => s,
        Err(e) => return error_page(node, &e),
    };
    let size = f.page_size.unwrap_or(JOBS_PAGE).clamp(1, MAX_JOBS_PAGE);
    let token = f.page_token.as_deref().filter(|t| !t.is_empty());
    let page = app.list_jobs_in(&who, &labels, state, size, token);
    let rows: Vec<Row> = page.jobs.iter().map(|j| row_of(&app, &who, j)).collect();
    let body = render_page(&f, &rows, page.next_page_token.as_deref());
    html::ok(html::page("Jobs", Nav::Jobs, "jobs", node, &body))
}

/// The row fragment of job `id`: its cells.
pub fn row_cells(app: &App, who: &Caller, id: &str) -> Result<String, ApiError> {
    let job = app.get_job(who, id)?;
    Ok(render_cells(&row_of(app, who, &job)))
}

/// The page body (pure: the tests call it).
pub fn render_page(f: &JobsQuery, rows: &[Row], next: Option<&str>) -> String {
    let labels = f.labels.as_deref().unwrap_or("");
    let state = f.state.as_deref().unwrap_or("");
    let option = |v: &str, text: &str| {
        let sel = if v == state { " selected" } else { "" };
        format!("<option value=\"{v}\"{sel}>{text}</option>")
    };
    let mut out = format!(
        "<h1>Jobs</h1><form class=\"filters\" method=\"get\" action=\"/jobs\">\
<label>Labels <input name=\"labels\" value=\"{l}\" placeholder=\"team=a,env=prod\"></label>\
<label>State <select name=\"state\">{any}{a}{p}{f}</select></label>\
<button type=\"submit\">Filter</button></form>",
        l = esc(labels),
        any = option("", "any"),
        a = option("active", "active"),
        p = option("paused", "paused"),
        f = option("finished", "finished"),
    );
    if rows.is_empty() {
        out += "<p class=\"muted\" id=\"no-jobs\">No jobs match.</p>";
    }
    out += "<table class=\"cards jobs\"><thead><tr><th>Job</th><th>State</th><th>Schedule</th>\
<th>Next run</th><th>Last runs</th><th>Actions</th></tr></thead><tbody>";
    for r in rows {
        let id = &r.job.spec.id;
        out += &format!(
            "<tr id=\"job-{eid}\" data-job=\"{eid}\" data-fragment=\"/fragments/jobs/{sid}/row\">{cells}</tr>",
            eid = esc(id),
            sid = seg(id),
            cells = render_cells(r),
        );
    }
    out += "</tbody></table>";
    if let Some(next) = next {
        out += &format!(
            "<nav class=\"pager\"><a href=\"/jobs?labels={l}&amp;state={s}&amp;page_token={t}{size}\">Next page →</a></nav>",
            l = q(labels),
            s = q(state),
            t = q(next),
            size = f
                .page_size
                .map(|n| format!("&amp;page_size={n}"))
                .unwrap_or_default(),
        );
    }
    out
}

/// The coloured marks of runs (oldest first), each linking to its run.
pub fn marks(job_id: &str, runs: &[RunJson]) -> String {
    let mut out = format!("<span class=\"marks\" data-count=\"{}\">", runs.len());
    for r in runs {
        let at = r.scheduled_at.as_deref().unwrap_or("");
        out += &format!(
            "<a class=\"mark {c}\" href=\"/jobs/{j}#run-{a}\" title=\"{t}\" data-run=\"{o}\"></a>",
            c = state_class(&r.state),
            j = seg(job_id),
            a = esc(&seg(at)),
            t = esc(&format!(
                "{} {}",
                r.state.replace('_', " "),
                html::short_time(at)
            )),
            o = esc(&r.occurrence_id),
        );
    }
    if runs.is_empty() {
        out += "<span class=\"muted\">no runs yet</span>";
    }
    out + "</span>"
}

/// A job's action buttons (`confirm`: ask first).
pub fn actions(j: &JobJson, confirm: bool) -> String {
    let id = esc(&j.spec.id);
    let ask = if confirm { " data-confirm=\"1\"" } else { "" };
    let toggle = match j.state {
        JobStateJson::Paused => {
            format!("<button data-act=\"resume\" data-job=\"{id}\"{ask}>Resume</button>")
        }
        JobStateJson::Active => {
            format!("<button data-act=\"pause\" data-job=\"{id}\"{ask}>Pause</button>")
        }
        JobStateJson::Finished => String::new(),
    };
    format!(
        "<span class=\"actions\">{toggle}<button data-act=\"run\" data-job=\"{id}\"{ask}>Run now</button></span>"
    )
}

/// A job state's word.
pub fn state_word(s: &JobStateJson) -> &'static str {
    match s {
        JobStateJson::Active => "active",
        JobStateJson::Paused => "paused",
        JobStateJson::Finished => "finished",
    }
}

/// A row's cells (pure).
pub fn render_cells(r: &Row) -> String {
    let j = &r.job;
    let id = &j.spec.id;
    let name = if j.spec.name.is_empty() || &j.spec.name == id {
        String::new()
    } else {
        format!("<div class=\"muted\">{}</div>", esc(&j.spec.name))
    };
    let labels: String = j
        .spec
        .labels
        .iter()
        .map(|(k, v)| format!("<span class=\"chip\">{}={}</span>", esc(k), esc(v)))
        .collect();
    let why = if j.pause_reason.is_empty() {
        String::new()
    } else {
        format!("<div class=\"reason\">{}</div>", esc(&j.pause_reason))
    };
    format!(
        "<td data-label=\"Job\"><a href=\"/jobs/{sid}\">{eid}</a>{name}<div>{labels}</div></td>\
<td data-label=\"State\" class=\"state\">{state}{why}</td>\
<td data-label=\"Schedule\">{sched}</td>\
<td data-label=\"Next run\">{next}</td>\
<td data-label=\"Last runs\">{marks}</td>\
<td data-label=\"Actions\">{acts}</td>",
        sid = seg(id),
        eid = esc(id),
        state = job_badge(state_word(&j.state)),
        sched = esc(&j.schedule_text),
        next = countdown(j.next_fire_at.as_deref()),
        marks = marks(id, &r.runs),
        acts = actions(j, false),
    )
}
