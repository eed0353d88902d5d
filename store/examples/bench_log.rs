//! Append throughput of the sled Raft log store, flushed (every append call
//! awaits its flush before the next one starts, as openraft's callback does).
//!
//! Run: `cargo run --release -p store --example bench_log`
//! Optional: `BENCH_SECS=5` (time per batch size, default 3).
//! Prints one JSON line per batch size, then one with the CPU steal observed
//! over the whole run (from /proc/stat; `null` where unavailable).

use std::time::{Duration, Instant};

use openraft::storage::RaftLogStorageExt;
use openraft::{CommittedLeaderId, EntryPayload};
use serde_json::json;
use store::command::Command;
use store::raft::{Entry, LogId, open};

// The benchmark harness's steal reader, shared rather than copied.
#[path = "../../chaos-tests/src/steal.rs"]
mod steal;
use steal::{cpu_jiffies, steal_percent};

fn entry(index: u64) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Command::Noop),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let entry_bytes = postcard::to_allocvec(&entry(1))?.len();
    let run_start = cpu_jiffies();

    for batch in [1u64, 64] {
        let dir = tempfile::tempdir()?;
        let store = open(dir.path())?;
        let mut log = store.log_store;
        let cpu0 = cpu_jiffies();
        let started = Instant::now();
        let mut next = 1u64;
        let mut latencies = Vec::new();
        while started.elapsed() < Duration::from_secs(secs) {
            let t = Instant::now();
            log.blocking_append((next..next + batch).map(entry)).await?;
            latencies.push(t.elapsed());
            next += batch;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu1 = cpu_jiffies();
        latencies.sort();
        let entries = next - 1;
        println!(
            "{}",
            json!({
                "bench": "log_append_flushed",
                "batch": batch,
                "entry_payload": "Command::Noop",
                "entry_encoded_bytes": entry_bytes,
                "appends": latencies.len(),
                "entries": entries,
                "secs": elapsed,
                "entries_per_sec": entries as f64 / elapsed,
                "appends_per_sec": latencies.len() as f64 / elapsed,
                "append_p50_us": percentile(&latencies, 0.50),
                "append_p99_us": percentile(&latencies, 0.99),
                "db_size_on_disk_bytes": store.db.size_on_disk()?,
                "cpu_steal_percent": steal_percent(cpu0, cpu1),
            })
        );
    }
    println!(
        "{}",
        json!({"bench": "run", "cpu_steal_percent": steal_percent(run_start, cpu_jiffies())})
    );
    Ok(())
}
