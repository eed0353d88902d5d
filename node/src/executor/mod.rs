//! The executors: what runs one attempt of a job on this node.
//!
//! Both expose the six facts of the executor contract (docs/executors.md: job id,
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
//! - `tail` (`crate::attempt::tail`): the bounded tail of output kept for the record.
//!
//! [`Executors`] is the registry of kinds a node owns: the runner's one
//! call is [`Executors::run`], whatever the kind.

use std::future::Future;
#[cfg(test)]
use std::sync::LazyLock;
#[cfg(test)]
use std::time::Duration;

use store::model::{Capability, ExecutorSpec};

use crate::workers::{WorkerHub, WorkerTiming};

pub mod http;
pub mod reaper;
pub mod shell;
pub mod worker;

pub use crate::attempt::{CANCELLED, RunContext, RunOutcome, tail};

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod shell_tests;

/// The executors of one node: the HTTP client's connection pool, the
/// shell flag and the worker sessions. Cheap to clone.
#[derive(Clone)]
pub struct Executors {
    http: Result<http::HttpExecutor, String>,
    workers: WorkerHub,
    shell_enabled: bool,
    reaper: Option<reaper::ShellReaper>,
}

impl Executors {
    /// Executors for tests: a new HTTP client and a worker hub of node 0.
    pub fn new() -> Result<Self, http::ClientError> {
        Ok(Executors {
            http: Ok(http::HttpExecutor::new()?),
            workers: WorkerHub::new(0, WorkerTiming::default()),
            shell_enabled: true,
            reaper: None,
        })
    }

    /// The executors of node `node_id`; shell jobs run only with
    /// `shell_enabled` (`--enable-shell-executor`). An HTTP client that
    /// cannot be built fails every HTTP attempt with the reason.
    pub fn for_node(node_id: u64, shell_enabled: bool, timing: WorkerTiming) -> Self {
        Executors {
            http: http::HttpExecutor::new().map_err(|e| e.to_string()),
            workers: WorkerHub::new(node_id, timing),
            shell_enabled,
            reaper: None,
        }
    }

    /// With `reaper` watching this node's shell jobs, so they die with it.
    pub fn with_reaper(mut self, reaper: reaper::ShellReaper) -> Self {
        self.reaper = Some(reaper);
        self
    }

    /// The kinds this node runs, as it advertises them to the leader.
    pub fn capabilities(&self) -> std::collections::BTreeSet<Capability> {
        let mut set = std::collections::BTreeSet::from([Capability::Worker]);
        if self.http.is_ok() {
            set.insert(Capability::Http);
        }
        if self.shell_enabled {
            set.insert(Capability::Shell);
        }
        set
    }

    /// Whether shell jobs run here.
    pub fn shell_enabled(&self) -> bool {
        self.shell_enabled
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
            ExecutorSpec::Shell(s) => shell::run(s, ctx, self.reaper.as_ref(), cancel).await,
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
    LazyLock::new(|| Executors::for_node(0, true, WorkerTiming::default()));

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
