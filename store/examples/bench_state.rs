//! Apply throughput of the state machine, and snapshot build and install
//! time for 100k jobs through the sled-backed openraft state machine.
//!
//! Run: `cargo run --release -p store --example bench_state`
//! Optional: `BENCH_JOBS=100000`.
//! Prints one JSON line per figure, each with the CPU steal during it.

use std::collections::BTreeMap;
use std::time::Instant;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload};
use serde_json::json;
use store::command::{Advance, Command, OnConflict};
use store::model::{ExecutorSpec, HttpSpec, JobSpec, time};
use store::raft::{Entry, LogId, open};
use store::schedule::{IntervalSpec, ScheduleSpec};
use store::state::State;

// The benchmark harness's steal reader, shared rather than copied.
#[path = "../../chaos-tests/src/steal.rs"]
mod steal;
use steal::{cpu_jiffies, steal_percent};

const T0: i64 = 1_767_225_600_000;

fn spec(i: usize) -> JobSpec {
    JobSpec {
        id: format!("job-{i:07}"),
        name: format!("nightly report {i}"),
        labels: store::model::Labels::from_iter([("team".into(), format!("t{}", i % 16))]),
        schedule: ScheduleSpec::Interval(IntervalSpec {
            every_ms: 86_400_000,
            every_max_ms: None,
            anchor: Some(time::to_datetime(T0 + (i as i64 % 86_400) * 1000)),
        }),
        time_zone: "UTC".into(),
        start_at: None,
        end_at: None,
        paused: false,
        executor: ExecutorSpec::Http(HttpSpec {
            method: "POST".into(),
            url: "http://127.0.0.1:8080/hook".into(),
            ..HttpSpec::default()
        }),
        policies: Default::default(),
        node_selector: BTreeMap::new(),
        exclude_calendars: Default::default(),
    }
}

fn entry(index: u64, cmd: Command) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(cmd),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let jobs: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);

    // 1. Apply throughput: job creates, one command per entry (pure State).
    let mut state = State::default();
    let j0 = cpu_jiffies();
    let start = Instant::now();
    for i in 0..jobs {
        state.apply(
            i as u64 + 1,
            &Command::CreateJob {
                spec: spec(i),
                on_conflict: OnConflict::Fail,
                now: T0,
            },
        );
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"bench": "apply_create_job", "commands": jobs, "per_sec": jobs as f64 / secs,
               "steal_pct": steal_percent(j0, cpu_jiffies())})
    );

    // 2. Apply throughput of fire batches: 1,000 jobs armed per entry.
    let j0 = cpu_jiffies();
    let start = Instant::now();
    let mut index = jobs as u64;
    let ids: Vec<String> = (0..jobs).map(|i| format!("job-{i:07}")).collect();
    for chunk in ids.chunks(1000) {
        index += 1;
        let advances = chunk
            .iter()
            .map(|id| Advance {
                job_id: id.clone(),
                through: T0 + 86_400_000,
                assignee: 2,
                on_time: false,
            })
            .collect();
        state.apply(index, &Command::Fire { now: T0, advances });
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"bench": "apply_fire_batch", "occurrences": jobs, "batch": 1000, "occurrences_per_sec": jobs as f64 / secs,
               "steal_pct": steal_percent(j0, cpu_jiffies())})
    );
    drop(state);

    // 3. Snapshot build and install of `jobs` jobs through the sled store.
    let dir = tempfile::tempdir()?;
    let mut store = open(&dir.path().join("a"))?;
    let entries: Vec<Entry> = (0..jobs)
        .map(|i| {
            entry(
                i as u64 + 1,
                Command::CreateJob {
                    spec: spec(i),
                    on_conflict: OnConflict::Fail,
                    now: T0,
                },
            )
        })
        .collect();
    store.state_machine.apply(entries).await?;
    let j0 = cpu_jiffies();
    let start = Instant::now();
    let mut builder = store.state_machine.get_snapshot_builder().await;
    let snapshot = builder.build_snapshot().await?;
    let build_secs = start.elapsed().as_secs_f64();
    let bytes = snapshot.snapshot.get_ref().len();
    println!(
        "{}",
        json!({"bench": "snapshot_build", "jobs": jobs, "bytes": bytes, "bytes_per_job": bytes as f64 / jobs as f64,
               "secs": build_secs, "steal_pct": steal_percent(j0, cpu_jiffies())})
    );

    let mut other = open(&dir.path().join("b"))?;
    let j0 = cpu_jiffies();
    let start = Instant::now();
    other
        .state_machine
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await?;
    let install_secs = start.elapsed().as_secs_f64();
    let installed = other.state_machine.handle().read(|s| s.job_count());
    anyhow::ensure!(
        installed == jobs,
        "installed {installed} jobs, expected {jobs}"
    );
    println!(
        "{}",
        json!({"bench": "snapshot_install", "jobs": jobs, "secs": install_secs,
               "steal_pct": steal_percent(j0, cpu_jiffies())})
    );
    Ok(())
}
