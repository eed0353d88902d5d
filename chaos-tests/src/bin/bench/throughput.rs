//! `throughput`: the highest sustained fires/s end to end. A ramp of
//! every-second jobs (each step adds jobs up to its count, instants spread
//! over the second); each step is held for `--secs` seconds of instants,
//! and checked once they drained: the rate the sink kept effects at, and
//! exactly one effect per expected occurrence (none missing, none
//! delivered twice, nothing unscheduled). A step keeps up when its rate is
//! within 2% of the offered rate and exactly-once holds; the ramp stops at
//! the first step that does not (unless `--all-steps`). An exactly-once
//! violation is printed loudly and reported in the JSON, never hidden.
//! Each step also prints the CPU time each node (and the bench with its
//! sink) used over the step's window, per fire delivered, read from
//! `/proc` (10 ms resolution, so long windows): `cpu_us_per_fire` by node
//! id, the leader named, and their sum. Target (issue 20): ≥ 10,000
//! fires/s, ≤ 150 µs of node CPU per fire across the cluster.

use std::sync::Arc;
use std::time::Duration;

use chaos_tests::sink::Sink;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::deliveries::Tracker;
use crate::jobs::{self, golden_offset_ms, register};
use crate::ledger::{Ledger, classify};
use crate::procfs;
use crate::stats::{merge, round3};
use crate::time::{ceil_sec, now_ms};
use crate::window::measure;

#[derive(clap::Args)]
pub struct Args {
    /// Jobs firing every second at each step (the offered fires/s).
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,5000,10000")]
    steps: Vec<u64>,
    /// Seconds of instants measured per step.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Seconds of firing at a step's rate before its window.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Concurrent clients registering the jobs.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Run every step, also after one failed to keep up.
    #[arg(long)]
    all_steps: bool,
}

/// A step keeps up when the sink kept at least this share of the offered rate.
const KEPT_UP_SHARE: f64 = 0.98;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let sink = Sink::start().await?;
    let cluster = Cluster::start(3, &[]).await?;
    let url = sink.url();
    let make = Arc::new(move |i| jobs::every_second(format!("thr-{i}"), golden_offset_ms(i), &url));
    let mut registered = 0;
    let mut best: Option<Value> = None;
    let mut violations = 0;
    let mut steps_run = 0;
    for &n in &args.steps {
        if n > registered {
            // Through the current leader: it may have changed under load.
            let addrs = cluster.addrs_leader_first().await?;
            register(
                &addrs,
                registered..n,
                args.clients,
                Some("throughput"),
                make.clone(),
            )
            .await?;
            registered = n;
        }
        let from = ceil_sec(now_ms() + args.warmup as i64 * 1000);
        let to = from + args.secs as i64 * 1000;
        let mut ledger = Ledger::new(from, to);
        for i in 0..registered {
            ledger.expect_every_second(&format!("thr-{i}"), golden_offset_ms(i));
        }
        let (leader, leader_addr) = cluster.leader().await?;
        let entries = tokio::spawn(log_entries_between(leader, leader_addr, from, to));
        let pids: Vec<(u64, u32)> = cluster
            .procs
            .iter()
            .filter_map(|p| Some((p.id, p.pid()?)))
            .collect();
        let cpu = tokio::spawn(procfs::cpu_between(pids, from, to));
        let mut tracker = Tracker::from_now(&sink);
        let m = measure(&mut tracker, &mut ledger, from, to, Duration::from_secs(15)).await;
        steps_run += 1;
        let rate = m.kept_in_window as f64 / args.secs as f64;
        let offered = registered as f64;
        let kept_up = rate >= KEPT_UP_SHARE * offered && m.outcome.exactly_once();
        m.outcome.shout(&format!("throughput step {registered}"));
        let mut line = json!({
            "bench": "throughput_step", "jobs": registered, "secs": args.secs,
            "offered_per_sec": offered, "fires_per_sec": round3(rate),
            "kept_up": kept_up, "refused_at_sink": m.refused,
            "drained_ms": m.drained_ms, "steal_pct": m.steal_pct.map(round3),
        });
        if !m.outcome.exactly_once() {
            violations += 1;
            let lost: Vec<(String, i64)> = m
                .outcome
                .missing
                .iter()
                .chain(&m.outcome.refused_only)
                .cloned()
                .collect();
            if !lost.is_empty() {
                let (_, leader) = cluster.leader().await?;
                line = merge(
                    line,
                    json!({"missing_recorded_as": classify(&leader, &lost).await}),
                );
            }
        }
        let fires = m.kept_in_window.max(1) as f64;
        let entries = entries.await?;
        let per_fire = |us: u64| round3(us as f64 / fires);
        let cpu = cpu.await?;
        let by_node: serde_json::Map<String, Value> = cpu
            .nodes
            .iter()
            .map(|&(id, us)| (id.to_string(), json!(per_fire(us))))
            .collect();
        let line = merge(
            line,
            json!({
                "leader": leader,
                "cpu_us_per_fire": by_node,
                "cpu_us_per_fire_cluster": per_fire(cpu.nodes.iter().map(|&(_, us)| us).sum()),
                "cpu_us_per_fire_bench_and_sink": per_fire(cpu.bench_us),
                // Each entry is an fsync on every node and an apply: the
                // fixed cost that batching spreads over the fires.
                "log_entries_per_sec": entries.map(|n| round3(n as f64 / args.secs as f64)),
                "log_entries_per_1000_fires": entries.map(|n| round3(n as f64 * 1000.0 / fires)),
            }),
        );
        let line = merge(line, m.outcome.lateness.fields("lateness_ms"));
        let line = merge(line, m.outcome.fields());
        println!("{line}");
        if kept_up {
            best = Some(line);
        } else if !args.all_steps {
            break;
        }
    }
    let get = |k: &str| best.as_ref().and_then(|b| b.get(k).cloned());
    println!(
        "{}",
        json!({
            "bench": "throughput", "steps_run": steps_run,
            "highest_kept_up_jobs": get("jobs"),
            "highest_kept_up_fires_per_sec": get("fires_per_sec"),
            "highest_kept_up_lateness_ms_p99": get("lateness_ms_p99"),
            "exactly_once_violations": violations,
        })
    );
    if violations > 0 {
        eprintln!(
            "!!! throughput: exactly-once violated in {violations} step(s); see the JSON lines above !!!"
        );
    }
    Ok(())
}

/// Raft log entries the leader appended during the window `[from, to]`
/// (ms): its last log index at each end, as it reports itself. `None` if
/// either read failed or it no longer leads at the end.
async fn log_entries_between(leader: u64, addr: String, from: i64, to: i64) -> Option<u64> {
    let last_log = |addr: String| async move {
        let s = chaos_tests::harness::status(&addr).await?;
        (s.leader == Some(leader))
            .then(|| {
                s.members
                    .iter()
                    .find(|m| m.id == leader)
                    .map(|m| m.last_log_index)
            })
            .flatten()
    };
    crate::time::sleep_until_ms(from).await;
    let start = last_log(addr.clone()).await?;
    crate::time::sleep_until_ms(to).await;
    let end = last_log(addr).await?;
    end.checked_sub(start)
}
