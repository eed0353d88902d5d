//! The executors: what runs one attempt of a job on this node.
//!
//! Both expose the six facts of DESIGN.md's executor contract (job id,
//! occurrence id, scheduled instant, fencing token, attempt number, node
//! id): the shell executor as `SCHEDULER_*` environment variables, the HTTP
//! executor as `X-Scheduler-*` headers. Neither ever panics or returns an
//! error: whatever goes wrong becomes a `Failed` (or `TimedOut`) outcome
//! whose output tail says why, because the outcome is what the cluster
//! records for the attempt.
//!
//! - [`shell`]: a process in its own process group, killed whole on timeout
//!   or cancel.
//! - [`http`]: one request through a shared, pooled client.
//! - [`tail`]: the bounded tail of output kept for the record.

use std::future::Future;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use store::model::{AttemptState, ExecutorSpec};

pub mod http;
pub mod shell;
pub mod tail;

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod shell_tests;

/// The six facts of the executor contract, plus limits.
#[derive(Clone, Debug)]
pub struct RunContext {
    /// The job's id.
    pub job_id: String,
    /// `<job_id>@<scheduled_at>`.
    pub occurrence_id: String,
    /// RFC 3339 UTC, as in the occurrence id.
    pub scheduled_at: String,
    /// The attempt's fencing token.
    pub fencing_token: u64,
    /// 1-based.
    pub attempt: u32,
    /// The node running the attempt.
    pub node_id: u64,
    /// The job's timeout; `None` means none for shell jobs and
    /// [`http::DEFAULT_TIMEOUT`] for HTTP jobs.
    pub timeout: Option<Duration>,
    /// Where shell jobs without a working dir run (relative ones are
    /// resolved against it).
    pub default_working_dir: PathBuf,
    /// `--enable-shell-executor` on this node.
    pub shell_enabled: bool,
}

impl RunContext {
    /// The contract's facts as (env var, header, value), in DESIGN.md's order.
    pub fn contract(&self) -> [(&'static str, &'static str, String); 6] {
        [
            (
                "SCHEDULER_JOB_ID",
                "X-Scheduler-Job-Id",
                self.job_id.clone(),
            ),
            (
                "SCHEDULER_OCCURRENCE_ID",
                "X-Scheduler-Occurrence-Id",
                self.occurrence_id.clone(),
            ),
            (
                "SCHEDULER_SCHEDULED_AT",
                "X-Scheduler-Scheduled-At",
                self.scheduled_at.clone(),
            ),
            (
                "SCHEDULER_FENCING_TOKEN",
                "X-Scheduler-Fencing-Token",
                self.fencing_token.to_string(),
            ),
            (
                "SCHEDULER_ATTEMPT",
                "X-Scheduler-Attempt",
                self.attempt.to_string(),
            ),
            (
                "SCHEDULER_NODE_ID",
                "X-Scheduler-Node-Id",
                self.node_id.to_string(),
            ),
        ]
    }
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// `Succeeded`, `Failed` or `TimedOut`, never anything else.
    pub state: AttemptState,
    /// The process's exit code (128 + N when killed by signal N) or the
    /// HTTP status; `None` when there was none (spawn failure, timeout,
    /// connection error, cancel).
    pub exit_code: Option<i32>,
    /// At most [`store::model::MAX_OUTPUT_TAIL`] bytes: the end of the
    /// output, valid UTF-8.
    pub output_tail: String,
}

/// The tail of a cancelled attempt.
pub const CANCELLED: &str = "cancelled";

impl RunOutcome {
    /// A failure with nothing to show but `why`.
    pub fn failed(why: impl Into<String>) -> Self {
        RunOutcome {
            state: AttemptState::Failed,
            exit_code: None,
            output_tail: tail::trim_front(why.into(), store::model::MAX_OUTPUT_TAIL),
        }
    }

    /// The outcome of a cancelled attempt: `Failed`, tail "cancelled".
    pub fn cancelled() -> Self {
        Self::failed(CANCELLED)
    }
}

/// The executors of one node, holding what calls share (the HTTP client's
/// connection pool). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Executors {
    http: http::HttpExecutor,
}

impl Executors {
    /// Executors with a new HTTP client.
    pub fn new() -> Result<Self, http::ClientError> {
        Ok(Executors {
            http: http::HttpExecutor::new()?,
        })
    }

    /// Runs one attempt; see [`run`].
    pub async fn run(
        &self,
        spec: &ExecutorSpec,
        ctx: &RunContext,
        cancel: impl Future<Output = ()>,
    ) -> RunOutcome {
        match spec {
            ExecutorSpec::Shell(s) => shell::run(s, ctx, cancel).await,
            ExecutorSpec::Http(h) => self.http.run(h, ctx, cancel).await,
        }
    }
}

/// The process-wide executors behind [`run`]; `Err` holds why the HTTP
/// client could not be built (then every HTTP attempt fails with it).
static SHARED: LazyLock<Result<Executors, String>> =
    LazyLock::new(|| Executors::new().map_err(|e| e.to_string()));

/// Runs one attempt with the process-wide [`Executors`] (one HTTP
/// connection pool per process).
///
/// Never panics; every failure (spawn error, connection refused, shell
/// disabled) is a `Failed` outcome whose tail says why. `cancel` resolving
/// means "stop now" (job deleted or replaced): the run is killed and the
/// outcome is `Failed` with tail [`CANCELLED`]. Dropping the returned future
/// also kills a running process group.
pub async fn run(
    spec: &ExecutorSpec,
    ctx: &RunContext,
    cancel: impl Future<Output = ()>,
) -> RunOutcome {
    match (spec, &*SHARED) {
        (ExecutorSpec::Shell(s), _) => shell::run(s, ctx, cancel).await,
        (ExecutorSpec::Http(_), Ok(ex)) => ex.run(spec, ctx, cancel).await,
        (ExecutorSpec::Http(_), Err(e)) => RunOutcome::failed(format!("http executor: {e}")),
    }
}

/// A context for tests.
#[cfg(test)]
pub(crate) fn test_ctx(dir: &std::path::Path) -> RunContext {
    RunContext {
        job_id: "job-1".into(),
        occurrence_id: "job-1@2026-03-08T07:30:00.000Z".into(),
        scheduled_at: "2026-03-08T07:30:00.000Z".into(),
        fencing_token: (42 << 16) + 3,
        attempt: 2,
        node_id: 7,
        timeout: Some(Duration::from_secs(20)),
        default_working_dir: dir.to_path_buf(),
        shell_enabled: true,
    }
}

/// The runner spawns attempts as tokio tasks: a run must be `Send`.
#[cfg(test)]
#[allow(dead_code)]
fn runs_are_send(spec: &ExecutorSpec, ctx: &RunContext, ex: &Executors) {
    fn send<T: Send>(_: T) {}
    send(run(spec, ctx, async {}));
    send(ex.run(spec, ctx, async {}));
}
