//! Memory of the replicated state per job: RSS growth of this process
//! while `N` daily cron jobs (HTTP executor, one label) are applied, and
//! the snapshot encoding's size, to tell the state's share of a node's
//! memory from sled's cache, openraft's log and the rest.
//!
//! Allocated with mimalloc, as `schedulerd` is.
//!
//! Run: `cargo run --release -p store --example mem_state` (`BENCH_JOBS`,
//! default 100,000; `BENCH_NO_LABELS=1`). Prints one JSON line.

use std::collections::BTreeMap;

use serde_json::json;
use store::command::{Command, OnConflict};
use store::model::{ExecutorSpec, HttpSpec, JobSpec, Labels, Policies};
use store::schedule::ScheduleSpec;
use store::state::State;

const T0: i64 = 1_767_225_600_000;

// schedulerd's allocator (node/src/main.rs): its size classes, not glibc's,
// decide what a node's state costs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn spec(i: usize, labels: bool) -> JobSpec {
    JobSpec {
        id: format!("job-{i:07}"),
        name: String::new(),
        labels: if labels {
            Labels::from_iter([("team".into(), format!("t{}", i % 16))])
        } else {
            Labels::new()
        },
        schedule: ScheduleSpec::Cron(format!("{} {} * * *", i % 60, (i / 60) % 24)),
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

fn main() -> anyhow::Result<()> {
    let jobs: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // `BENCH_NO_LABELS=1` leaves the label out, to show what one label costs.
    let labels = std::env::var_os("BENCH_NO_LABELS").is_none();
    let mut state = State::default();
    let before = rss_bytes();
    for i in 0..jobs {
        let cmd = Command::CreateJob {
            spec: spec(i, labels),
            on_conflict: OnConflict::Fail,
            now: T0,
        };
        state.apply(i as u64 + 1, &cmd);
        // As the state machine does after each batch (`raft/state_machine.rs`):
        // events are outputs, handed on, not state.
        drop(state.drain_events());
    }
    let after = rss_bytes();
    let encoded = state.encode()?.len();
    println!(
        "{}",
        json!({"bench": "mem_state", "jobs": jobs, "labels": labels,
               "rss_bytes_per_job": (after.saturating_sub(before)) as f64 / jobs as f64,
               "snapshot_bytes_per_job": encoded as f64 / jobs as f64,
               "job_struct_bytes": std::mem::size_of::<store::model::Job>(),
               "spec_struct_bytes": std::mem::size_of::<JobSpec>(),
               "schedule_struct_bytes": std::mem::size_of::<store::schedule::Schedule>(),
               "executor_spec_bytes": std::mem::size_of::<ExecutorSpec>(),
               "policies_bytes": std::mem::size_of::<Policies>(),
               "schedule_spec_bytes": std::mem::size_of::<ScheduleSpec>()})
    );
    Ok(())
}
