//! One attempt as every executor sees it: the six facts of the executor
//! contract ([`RunContext`]) and how it ended ([`RunOutcome`]), with the
//! bounded output tail ([`tail`]). The executors (`crate::executor`) and
//! the worker sessions (`crate::workers`) both build on this module, so
//! neither depends on the other for it.

use std::path::PathBuf;
use std::time::Duration;

use store::model::AttemptState;

pub mod tail;

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
    /// The contract's facts as (env var, header, value), in the order of
    /// docs/executors.md's table ("The six facts").
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
