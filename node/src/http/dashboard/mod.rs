//! The dashboard: server-rendered pages over the application layer (the
//! same reads as `/api/v1`, from the answering node's applied state), a
//! small script that keeps them live from `/api/v1/events` and calls the
//! API for its buttons, and a stylesheet. Nothing is loaded from outside
//! the binary.
//!
//! - [`overview`]: `/` (leader, members, running now, next 24 h, recent
//!   failures and misses).
//! - [`jobs`]: `/jobs` (a page of jobs with their last runs) and each
//!   job's row as a fragment.
//! - [`job`]: `/jobs/{id}` (spec, next fire times, run history, actions).
//! - [`timeline`]: `/timeline` (the last and next hour, per job) and
//!   `/events` (the live tail).
//! - [`login`]: the sign-in page that turns a token into a cookie.
//! - [`html`]: escaping and the page frame; [`assets`]: script and style.
//!
//! Live updates: every section that can change carries `data-fragment`,
//! the URL of its own markup under `/fragments/`; the script fetches it
//! again when an event concerns it. So the markup has one writer, here.
//!
//! Scale: every page is bounded. A page of jobs is at most
//! [`MAX_JOBS_PAGE`], each with its last [`MARKS`] runs; a job's history is
//! paged by [`RUNS_PAGE`]; the overview's lists take at most [`LIST`] each.

mod assets;
mod html;
mod job;
mod jobs;
mod login;
mod overview;
mod timeline;

use axum::extract::{Path, State};

use self::html::{Html, Nav, esc, page};
use super::extract::Who;
use crate::app::{ApiError, App};

pub use store::model::{
    DASHBOARD_JOBS_PAGE as JOBS_PAGE, DASHBOARD_LIST as LIST, DASHBOARD_MARKS as MARKS,
    DASHBOARD_MAX_JOBS_PAGE as MAX_JOBS_PAGE, DASHBOARD_RUNS_PAGE as RUNS_PAGE,
};

/// Declares the dashboard's routes once: the router and the list that
/// the tests compare with the policy table come from the same lines.
macro_rules! dashboard_routes {
    ($($method:ident $path:literal => $handler:expr,)*) => {
        /// The dashboard's routes, each `(method, path)` as in the policy table.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path),)*];

        /// The dashboard's routes.
        pub fn routes() -> axum::Router<App> {
            axum::Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

dashboard_routes! {
    get "/" => overview::page,
    get "/jobs" => jobs::page,
    get "/jobs/{id}" => job::page,
    get "/timeline" => timeline::page,
    get "/events" => timeline::events_page,
    get "/fragments/{name}" => fragment,
    get "/fragments/jobs/{id}/{name}" => job_fragment,
    get "/assets/{file}" => assets::asset,
    get "/login" => login::form,
    post "/login" => login::sign_in,
    post "/logout" => login::sign_out,
}

/// A page that could not be made: the error, in the frame.
pub fn error_page(node: u64, e: &ApiError) -> Html {
    let (status, code) = super::error::status_of(e);
    let body = format!(
        "<h1>{title}</h1><p class=\"error\">{code}: {msg}</p><p><a href=\"/jobs\">All jobs</a></p>",
        title = esc(status.canonical_reason().unwrap_or("Error")),
        msg = esc(&e.to_string()),
    );
    Html(status, page("Error", Nav::None, "error", node, &body))
}

/// A fragment that could not be made: the error as a line of markup.
pub fn error_fragment(e: &ApiError) -> Html {
    let (status, code) = super::error::status_of(e);
    Html(
        status,
        format!("<p class=\"error\">{code}: {}</p>", esc(&e.to_string())),
    )
}

/// `GET /fragments/{name}`: a live section of the overview or timeline.
async fn fragment(
    State(app): State<App>,
    Who(who): Who,
    Path(name): Path<String>,
    super::extract::Query(q): super::extract::Query<timeline::TimelineQuery>,
) -> Html {
    match name.as_str() {
        "cluster" => html::ok(overview::cluster(&app, &who).await),
        "activity" => html::ok(overview::activity(&app, &who)),
        "timeline" => match timeline::lanes(&app, &who, &q) {
            Ok(m) => html::ok(m),
            Err(e) => error_fragment(&e),
        },
        other => error_fragment(&ApiError::NotFound(format!(
            "no fragment {other:?} (cluster, activity or timeline)"
        ))),
    }
}

/// `GET /fragments/jobs/{id}/{name}`: a job's row, summary or runs.
async fn job_fragment(
    State(app): State<App>,
    Who(who): Who,
    Path((id, name)): Path<(String, String)>,
) -> Html {
    let made = match name.as_str() {
        "row" => jobs::row_cells(&app, &who, &id),
        "summary" => job::summary(&app, &who, &id),
        "runs" => job::runs(&app, &who, &id, None),
        other => Err(ApiError::NotFound(format!(
            "no job fragment {other:?} (row, summary or runs)"
        ))),
    };
    match made {
        Ok(m) => html::ok(m),
        Err(e) => error_fragment(&e),
    }
}

/// A 303 to `to`, with the dashboard's headers.
pub fn see_other(to: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    html::secure(axum::response::Redirect::to(to).into_response())
}

#[cfg(test)]
mod tests;
