//! `burst`: N jobs (default 1,000) all due on the same whole second,
//! registered well ahead so every one is armed (the leader arms 1 s
//! ahead) before it comes due. Lateness p50/p99/max of that second's
//! effects at the sink. With `--rounds R` the same jobs come due together
//! again every `--period` seconds (an interval schedule anchored on the
//! first instant, `max_runs` R), one JSON line per round. Target (issue
//! 8): p99 ≤ 20 ms.

use std::sync::Arc;
use std::time::Duration;

use chaos_tests::sink::Sink;
use chaos_tests::steal::{cpu_jiffies, steal_percent};
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::deliveries::Tracker;
use crate::jobs::{self, register};
use crate::ledger::Ledger;
use crate::poll;
use crate::stats::{Summary, merge, round3};
use crate::time::{ceil_sec, now_ms, sleep_until_ms};

#[derive(clap::Args)]
pub struct Args {
    /// Jobs due on the same second.
    #[arg(long, default_value_t = 1000)]
    jobs: u64,
    /// How many times the burst comes due.
    #[arg(long, default_value_t = 1)]
    rounds: u64,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 5)]
    period: u64,
    /// Concurrent clients registering the jobs.
    #[arg(long, default_value_t = 16)]
    clients: usize,
}

/// Registration rate assumed when choosing the first instant: well below
/// what a loaded machine does (BENCHMARKS.md: about 1,500/s with 16
/// clients), so the jobs are in before the leader arms them.
const ASSUMED_CREATES_PER_SEC: u64 = 250;
/// How long the leader arms ahead of an instant (its lookahead).
const LOOKAHEAD_MS: i64 = 1000;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.jobs;
    let rounds = args.rounds.max(1);
    let sink = Sink::start().await?;
    let cluster = Cluster::start(3, &[]).await?;
    let addrs = cluster.addrs_leader_first().await?;
    let first = ceil_sec(now_ms() + 3000 + (n * 1000 / ASSUMED_CREATES_PER_SEC) as i64);
    let period_ms = args.period.max(1) * 1000;
    let url = sink.url();
    let make = Arc::new(move |i: u64| {
        let mut spec = jobs::spec(format!("burst-{i}"), jobs::interval(first, period_ms), &url);
        if let Some(p) = spec.policies.as_mut() {
            p.max_runs = rounds;
        }
        spec
    });
    let mut tracker = Tracker::from_now(&sink);
    let reg = register(&addrs, 0..n, args.clients, None, make).await?;
    // Jobs registered after the leader armed the first round fire it late
    // (or not at all): say so next to the figures.
    let spare_ms = first - now_ms();
    if spare_ms < LOOKAHEAD_MS {
        eprintln!(
            "burst: registration ended {spare_ms} ms before the first instant \
             (less than the 1 s lookahead): round 0 is not a clean burst"
        );
    }
    let mut lates = Vec::new();
    for r in 0..rounds {
        let at = first + (r * period_ms) as i64;
        sleep_until_ms(at - LOOKAHEAD_MS).await;
        let j0 = cpu_jiffies();
        let mut ledger = Ledger::new(at, at + 1);
        for i in 0..n {
            ledger.expect(&format!("burst-{i}"), at);
        }
        let mut first_ms = f64::INFINITY;
        let mut last_ms = f64::NEG_INFINITY;
        // A timeout only means some are missing; the outcome reports them.
        let _ = poll::until(
            "the burst's effects",
            Duration::from_millis(LOOKAHEAD_MS as u64) + Duration::from_secs(10),
            Duration::from_millis(20),
            || {
                for d in tracker.pull() {
                    if d.scheduled_ms == at && d.job_id.starts_with("burst-") {
                        first_ms = first_ms.min(d.received_ms);
                        last_ms = last_ms.max(d.received_ms);
                    }
                    ledger.note(&d);
                }
                std::future::ready(ledger.complete().then_some(()))
            },
        )
        .await;
        let outcome = ledger.outcome();
        outcome.shout("burst");
        let line = json!({
            "bench": "burst", "jobs": n, "round": r, "instant": crate::time::rfc3339_ms(at),
            "fires": outcome.delivered,
            "first_fire_ms": round3(first_ms - at as f64),
            "last_fire_ms": round3(last_ms - at as f64),
            "registered_per_sec": round3(reg.per_sec()),
            "registered_ms_before_first_instant": spare_ms,
            "steal_pct": steal_percent(j0, cpu_jiffies()).map(round3),
        });
        let line = merge(line, outcome.lateness.fields("lateness_ms"));
        let line = merge(line, outcome.fields());
        println!("{line}");
        lates.push(line);
    }
    if rounds > 1 {
        println!("{}", across_rounds(n, &lates));
    }
    Ok(())
}

/// The per-round figures side by side, and their worst.
fn across_rounds(n: u64, rounds: &[Value]) -> Value {
    let each = |key: &str| -> Vec<f64> {
        rounds
            .iter()
            .map(|l| l.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN))
            .collect()
    };
    let p99 = each("lateness_ms_p99");
    let worst = Summary::of(p99.iter().copied().filter(|x| !x.is_nan()).collect());
    json!({
        "bench": "burst_rounds", "jobs": n, "rounds": rounds.len(),
        "lateness_ms_p50_each": each("lateness_ms_p50"),
        "lateness_ms_p99_each": p99,
        "lateness_ms_max_each": each("lateness_ms_max"),
        "lateness_ms_p99_worst": round3(worst.max),
        "exactly_once": rounds.iter().all(|l| l.get("exactly_once").and_then(Value::as_bool) == Some(true)),
    })
}
