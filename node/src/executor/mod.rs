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
//! - [`worker`]: a function in a worker process connected to this node.
//! - [`tail`]: the bounded tail of output kept for the record.
//!
//! [`Executors`] is the registry of kinds a node owns: the runner's one
//! call is [`Executors::run`], whatever the kind.

use std::future::Future;
use std::path::PathBuf;
#[cfg(test)]
use std::sync::LazyLock;
use std::time::Duration;

use store::model::{AttemptState, ExecutorSpec};

use crate::workers::{WorkerHub, WorkerTiming};

pub mod http;
pub mod shell;
pub mod tail;
pub mod worker;

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
    /// The same instant in milliseconds since the epoch.
    pub scheduled_at_ms: store::model::UnixMs,
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

/// The executors of one node: the HTTP client's connection pool, the
/// shell flag and the worker sessions. Cheap to clone.
#[derive(Clone)]
pub struct Executors {
    http: Result<http::HttpExecutor, String>,
    workers: WorkerHub,
}

impl Executors {
    /// Executors for tests: a new HTTP client and a worker hub of node 0.
    pub fn new() -> Result<Self, http::ClientError> {
        Ok(Executors {
            http: Ok(http::HttpExecutor::new()?),
            workers: WorkerHub::new(0, WorkerTiming::default()),
        })
    }

    /// The executors of node `node_id`. An HTTP client that cannot be built
    /// fails every HTTP attempt with the reason, nothing else.
    pub fn for_node(node_id: u64, timing: WorkerTiming) -> Self {
        Executors {
            http: http::HttpExecutor::new().map_err(|e| e.to_string()),
            workers: WorkerHub::new(node_id, timing),
        }
    }

    /// The worker sessions of this node.
    pub fn workers(&self) -> &WorkerHub {
        &self.workers
    }

    /// Whether an attempt of `spec` can start here now. Only a worker job
    /// can have to wait: for a connected worker with a free slot.
    pub fn ready(&self, spec: &ExecutorSpec) -> bool {
        match spec {
            ExecutorSpec::Worker(w) => self.workers.can_take(w),
            _ => true,
        }
    }

    /// The outcome of `token` is recorded durably on this node: a worker
    /// that sent it is told that it is accepted.
    pub fn recorded(&self, spec: &ExecutorSpec, token: u64) {
        if matches!(spec, ExecutorSpec::Worker(_)) {
            self.workers.recorded(token);
        }
    }

    /// Runs one attempt. Never panics; every failure (spawn error,
    /// connection refused, shell disabled, no worker) is a `Failed`
    /// outcome whose tail says why. `cancel` resolving means "stop now"
    /// (job deleted or replaced): the run is killed and the outcome is
    /// `Failed` with tail [`CANCELLED`]. Dropping the returned future also
    /// kills a running process group.
    pub async fn run(
        &self,
        spec: &ExecutorSpec,
        ctx: &RunContext,
        cancel: impl Future<Output = ()>,
    ) -> RunOutcome {
        match spec {
            ExecutorSpec::Shell(s) => shell::run(s, ctx, cancel).await,
            ExecutorSpec::Http(h) => match &self.http {
                Ok(ex) => ex.run(h, ctx, cancel).await,
                Err(e) => RunOutcome::failed(format!("http executor: {e}")),
            },
            ExecutorSpec::Worker(w) => worker::run(&self.workers, w, ctx, cancel).await,
        }
    }
}

/// Process-wide executors for the executor tests.
#[cfg(test)]
static SHARED: LazyLock<Executors> =
    LazyLock::new(|| Executors::for_node(0, WorkerTiming::default()));

/// Runs one attempt with the process-wide test [`Executors`].
#[cfg(test)]
pub async fn run(
    spec: &ExecutorSpec,
    ctx: &RunContext,
    cancel: impl Future<Output = ()>,
) -> RunOutcome {
    SHARED.run(spec, ctx, cancel).await
}

/// A context for tests.
#[cfg(test)]
pub(crate) fn test_ctx(dir: &std::path::Path) -> RunContext {
    RunContext {
        job_id: "job-1".into(),
        occurrence_id: "job-1@2026-03-08T07:30:00.000Z".into(),
        scheduled_at: "2026-03-08T07:30:00.000Z".into(),
        scheduled_at_ms: 1_772_955_000_000,
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
