//! Shared helpers of the real-process tests: job specs, run listings and
//! time conversions. Processes and waits come from `chaos_tests::harness`.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::time::Duration;

use chaos_tests::harness::{self, Proc};
use proto::v1 as pb;
use proto::v1::job_service_client::JobServiceClient;
use tonic::transport::Channel;

#[allow(unused_imports)] // each test binary uses a different subset
pub use chaos_tests::pb::{dur, http, ms, ts};
/// The `schedulerd` binary cargo built for this test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_schedulerd"))
}

/// Starts an `n`-node cluster under `root`.
pub async fn start_cluster(root: &Path, n: u64, extra: &[&str]) -> Vec<Proc> {
    harness::start_cluster(bin(), root, n, extra)
        .await
        .expect("start schedulerd processes")
}

/// A job client for `addr`.
pub async fn jobs(addr: &str) -> JobServiceClient<Channel> {
    JobServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to the job service")
}

/// Milliseconds since the epoch, now.
#[allow(unused_imports)] // each test binary uses a different subset
pub use proto::time::now_ms;

/// A cron schedule.
pub fn cron(expr: &str) -> pb::Schedule {
    pb::Schedule {
        kind: Some(pb::schedule::Kind::Cron(expr.into())),
    }
}

/// A one-shot schedule at `ms`.
pub fn once(ms: i64) -> pb::Schedule {
    pb::Schedule {
        kind: Some(pb::schedule::Kind::Once(ts(ms))),
    }
}

/// A shell executor running `sh -c command`.
pub fn shell(command: &str) -> pb::Executor {
    pb::Executor {
        kind: Some(pb::executor::Kind::Shell(pb::ShellExecutor {
            command: command.into(),
            ..Default::default()
        })),
    }
}

/// A job spec with default policies.
pub fn spec(id: &str, schedule: pb::Schedule, executor: pb::Executor) -> pb::JobSpec {
    pb::JobSpec {
        id: id.into(),
        schedule: Some(schedule),
        executor: Some(executor),
        policies: Some(pb::Policies::default()),
        ..Default::default()
    }
}

/// Mutable access to a spec's policies.
pub fn policies(spec: &mut pb::JobSpec) -> &mut pb::Policies {
    spec.policies.get_or_insert_with(Default::default)
}

/// Creates `spec` (failing on an existing id).
pub async fn create(c: &mut JobServiceClient<Channel>, spec: pb::JobSpec) -> pb::Job {
    let id = spec.id.clone();
    c.create_job(pb::CreateJobRequest {
        job: Some(spec),
        on_conflict: pb::OnConflict::Fail as i32,
    })
    .await
    .unwrap_or_else(|e| panic!("create {id}: {e}"))
    .into_inner()
}

/// The runs of `job` (all of them, up to 1000), or `None` if the node
/// does not answer.
pub async fn runs(c: &JobServiceClient<Channel>, job: &str) -> Option<Vec<pb::Run>> {
    let mut c = c.clone();
    c.list_runs(pb::ListRunsRequest {
        job_id: job.into(),
        limit: 1000,
        ..Default::default()
    })
    .await
    .ok()
    .map(|r| r.into_inner().runs)
}

/// Whether a run has reached a final state.
pub fn finished(r: &pb::Run) -> bool {
    use pb::RunState as S;
    !matches!(
        pb::RunState::try_from(r.state),
        Ok(S::Armed | S::Running | S::Unspecified) | Err(_)
    )
}

/// The state of a run.
pub fn state(r: &pb::Run) -> pb::RunState {
    pb::RunState::try_from(r.state).unwrap_or(pb::RunState::Unspecified)
}

/// Runs of `job` in state `s`.
pub fn count(runs: &[pb::Run], s: pb::RunState) -> usize {
    runs.iter().filter(|r| state(r) == s).count()
}

/// The largest number of runs whose [started, finished] intervals overlap.
pub fn max_concurrency(runs: &[pb::Run]) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for r in runs {
        if let (Some(s), Some(f)) = (&r.started_at, &r.finished_at) {
            edges.push((ms(s), 1));
            // A run that ends at the instant another starts does not overlap it.
            edges.push((ms(f), -1));
        }
    }
    edges.sort_by_key(|&(t, d)| (t, d));
    let (mut now, mut max) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        max = max.max(now);
    }
    max as usize
}

/// Pauses or resumes the whole scheduler.
pub async fn pause_scheduler(c: &mut JobServiceClient<Channel>, pause: bool) {
    let req = pb::PauseRequest {
        target: Some(pb::pause_request::Target::Scheduler(true)),
    };
    if pause {
        c.pause_jobs(req).await.expect("pause the scheduler");
    } else {
        c.resume_jobs(req).await.expect("resume the scheduler");
    }
}

/// A fixed observation window, for asserting that something does *not*
/// happen (there is no condition to poll for).
pub async fn observe(d: Duration) {
    tokio::time::sleep(d).await;
}
