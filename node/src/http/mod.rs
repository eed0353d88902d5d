//! The HTTP side of the client port: a JSON API under `/api/v1` with its
//! OpenAPI document, and the dashboard at `/`. Served by the same listener
//! and server as gRPC (tonic's router is axum's), behind the same auth
//! layer and policy table; the handlers call the same application layer.
//!
//! - [`jobs`], [`runs`], [`events`], [`calendars`]: the API's handlers.
//! - [`json`]: the JSON forms of the messages and their schemas;
//!   [`words`]: a schedule in words.
//! - [`extract`]: the caller and bodies whose errors name their field.
//! - [`error`]: `ApiError` as a status and JSON body.
//! - [`dashboard`]: the server-rendered pages.
//!
//! Every route is registered with `utoipa_axum::routes!`, which adds it to
//! the router and the OpenAPI document in one step, so the document
//! describes exactly what is served (a test checks it).

pub mod calendars;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod extract;
pub mod jobs;
pub mod json;
pub mod runs;
pub mod words;

use std::sync::OnceLock;

use axum::Json;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{ApiError, App};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "schedulerd HTTP API",
        description = "Jobs, runs, events and cluster status of a schedulerd cluster. \
            Writes on any node are forwarded to the leader; reads come from the answering \
            node's applied state. Errors are `{\"error\": {code, field, message, leader}}` \
            with the gRPC API's codes and field paths. Authenticate with \
            `Authorization: Bearer <token>` once the cluster's ACL is bootstrapped.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "jobs", description = "Jobs: create, read, change, pause, run"),
        (name = "runs", description = "Occurrences and their attempts"),
        (name = "events", description = "Server-sent events"),
        (name = "cluster", description = "Members, leader, scheduler pause"),
        (name = "calendars", description = "Exclusion calendars: days on which the jobs that name them do not fire"),
    )
)]
struct ApiDoc;

fn api() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(jobs::list_jobs, jobs::create_job))
        .routes(routes!(jobs::get_job, jobs::update_job, jobs::delete_job))
        .routes(routes!(jobs::pause_job))
        .routes(routes!(jobs::resume_job))
        .routes(routes!(jobs::run_job_now))
        .routes(routes!(jobs::backfill_job))
        .routes(routes!(jobs::next_fire_times))
        .routes(routes!(jobs::pause_scheduler))
        .routes(routes!(jobs::resume_scheduler))
        .routes(routes!(runs::list_runs))
        .routes(routes!(runs::cluster_status))
        .routes(routes!(events::events))
        .routes(routes!(calendars::list_calendars))
        .routes(routes!(
            calendars::get_calendar,
            calendars::put_calendar,
            calendars::delete_calendar
        ))
        .routes(routes!(openapi_json))
}

/// The OpenAPI document of everything under `/api/v1`.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| api().into_openapi())
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "cluster",
    responses((status = 200, description = "This document", content_type = "application/json")))]
/// This API's OpenAPI 3 document.
async fn openapi_json() -> impl IntoResponse {
    Json(openapi().clone())
}

async fn no_route(uri: axum::http::Uri) -> error::HttpError {
    ApiError::NotFound(format!(
        "no API route {}: see /api/v1/openapi.json for the routes",
        uri.path()
    ))
    .into()
}

/// The API and the dashboard, for the client port's server.
pub fn router(app: App) -> axum::Router {
    let (api, _) = api().split_for_parts();
    api.route("/api/v1/{*rest}", axum::routing::any(no_route))
        .merge(dashboard::routes())
        .with_state(app)
}
