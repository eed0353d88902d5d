//! `/api/v1/runs` and `/api/v1/cluster`: reads of this node's applied
//! state (the cluster status asks the leader for replication progress).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use store::state::RunFilter;
use utoipa::IntoParams;

use super::error::{ErrorJson, HttpError};
use super::extract::{Query, Who};
use super::json::{ClusterJson, RunJson, RunsJson, parse_time};
use crate::api::convert;
use crate::app::{ApiError, App};

/// Filters of the run list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRunsQuery {
    /// Only this job's runs.
    pub job_id: Option<String>,
    /// Only runs scheduled at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only runs scheduled before this time (RFC 3339); pass a page's
    /// `next_until` for the page of older runs.
    pub until: Option<String>,
    /// Only runs in this state: armed, running, succeeded, failed,
    /// timed_out, cancelled, missed or skipped.
    pub state: Option<String>,
    /// The newest this many; 0 or absent: 1000, at most 1000.
    pub limit: Option<u32>,
}

fn run_state(s: &str) -> Result<store::model::RunState, ApiError> {
    use store::model::RunState as S;
    Ok(match s {
        "armed" => S::Armed,
        "running" => S::Running,
        "succeeded" => S::Succeeded,
        "failed" => S::Failed,
        "timed_out" => S::TimedOut,
        "cancelled" => S::Cancelled,
        "missed" => S::Missed,
        "skipped" => S::Skipped,
        other => {
            return Err(ApiError::invalid(
                "state",
                format!(
                    "{other:?} is not armed, running, succeeded, failed, timed_out, cancelled, \
                     missed or skipped"
                ),
            ));
        }
    })
}

#[utoipa::path(get, path = "/api/v1/runs", tag = "runs",
    params(ListRunsQuery),
    responses((status = 200, body = RunsJson), (status = 400, body = ErrorJson)))]
/// Runs (occurrences with their attempts), oldest first: the newest
/// `limit` of those that match.
pub async fn list_runs(
    State(app): State<App>,
    Who(who): Who,
    Query(q): Query<ListRunsQuery>,
) -> Result<Json<RunsJson>, HttpError> {
    let filter = RunFilter {
        job_id: q.job_id.filter(|j| !j.is_empty()),
        since: q
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
        until: q
            .until
            .as_deref()
            .map(|t| parse_time("until", t))
            .transpose()?,
        state: q.state.as_deref().map(run_state).transpose()?,
        limit: q.limit.unwrap_or(0) as usize,
    };
    let limit = match filter.limit {
        0 => store::model::MAX_RUNS_LISTED,
        n => n.min(store::model::MAX_RUNS_LISTED),
    };
    let runs = app.list_runs(&who, filter);
    let next_until = (runs.len() >= limit)
        .then(|| {
            runs.first()
                .map(|o| store::model::time::rfc3339_ms(o.key.scheduled_at + 1))
        })
        .flatten();
    Ok(Json(RunsJson {
        runs: runs
            .iter()
            .map(|o| RunJson::from_pb(&convert::run_to_pb(o)))
            .collect(),
        next_until,
    }))
}

#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, body = ClusterJson)))]
/// Members with role, log positions, lag and health; answers without a leader too.
pub async fn cluster_status(State(app): State<App>, Who(who): Who) -> Json<ClusterJson> {
    let status = app.cluster_status(&who).await;
    let paused = app.node.state.read(|s| s.scheduler_paused());
    Json(ClusterJson::from_pb(&status, paused))
}
