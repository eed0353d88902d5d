//! Executors. INTERIM stub: the shell and HTTP executors are being built on
//! the `executors` branch; until they land every attempt fails with a clear
//! reason rather than pretending to run.

use std::path::PathBuf;
use std::time::Duration;

use store::model::{AttemptState, ExecutorSpec};

/// The six facts of the executor contract, plus limits.
pub struct RunContext {
    pub job_id: String,
    pub occurrence_id: String,
    pub scheduled_at: String,
    pub fencing_token: u64,
    pub attempt: u32,
    pub node_id: u64,
    pub timeout: Option<Duration>,
    pub default_working_dir: PathBuf,
    pub shell_enabled: bool,
}

/// How an attempt ended.
pub struct RunOutcome {
    pub state: AttemptState,
    pub exit_code: Option<i32>,
    pub output_tail: String,
}

/// Runs one attempt.
pub async fn run(
    spec: &ExecutorSpec,
    ctx: &RunContext,
    cancel: impl std::future::Future<Output = ()>,
) -> RunOutcome {
    let _ = (spec, ctx, cancel);
    RunOutcome {
        state: AttemptState::Failed,
        exit_code: None,
        output_tail: "executors are not built yet".into(),
    }
}
