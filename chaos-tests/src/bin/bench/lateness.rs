//! `lateness`: N jobs every second, their instants spread evenly over the
//! second, HTTP executor calling the bench's sink, three nodes. Lateness
//! = sink receive time minus the scheduled instant, over every occurrence
//! scheduled in the measured window (late ones included, however late).
//! Targets (issue 8): p99 ≤ 2 ms at 1,000 jobs, ≤ 5 ms at 10,000.

use std::sync::Arc;
use std::time::Duration;

use chaos_tests::sink::Sink;
use serde_json::json;

use crate::cluster::Cluster;
use crate::deliveries::Tracker;
use crate::jobs::{self, register};
use crate::ledger::Ledger;
use crate::stats::{merge, round3};
use crate::time::{ceil_sec, now_ms};
use crate::window::measure;

#[derive(clap::Args)]
pub struct Args {
    /// Jobs firing every second; a comma list runs each size on a fresh
    /// cluster and prints one JSON line each.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    jobs: Vec<u64>,
    /// Seconds of scheduled instants measured.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Seconds of firing before the measured window.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Concurrent clients registering the jobs.
    #[arg(long, default_value_t = 16)]
    clients: usize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    for &n in &args.jobs {
        one_size(&args, n).await?;
    }
    Ok(())
}

async fn one_size(args: &Args, n: u64) -> anyhow::Result<()> {
    let sink = Sink::start().await?;
    let cluster = Cluster::start(3, &[]).await?;
    let addrs = cluster.addrs_leader_first().await?;
    let url = sink.url();
    let spread = move |i: u64| (i * 1000 / n.max(1)) as i64;
    let make = Arc::new(move |i: u64| jobs::every_second(format!("late-{i}"), spread(i), &url));
    let reg = register(&addrs, 0..n, args.clients, Some("lateness"), make).await?;

    let from = ceil_sec(now_ms() + args.warmup as i64 * 1000);
    let to = from + args.secs as i64 * 1000;
    let mut ledger = Ledger::new(from, to);
    for i in 0..n {
        ledger.expect_every_second(&format!("late-{i}"), spread(i));
    }
    let mut tracker = Tracker::from_now(&sink);
    let m = measure(&mut tracker, &mut ledger, from, to, Duration::from_secs(10)).await;
    m.outcome.shout("lateness");
    let line = json!({
        "bench": "lateness", "jobs": n, "secs": args.secs,
        "fires": m.outcome.delivered,
        "fires_per_sec": round3(m.kept_in_window as f64 / args.secs as f64),
        "offered_per_sec": n,
        "refused_at_sink": m.refused,
        "registered_per_sec": round3(reg.per_sec()),
        "steal_pct": m.steal_pct.map(round3),
        "drained_ms": m.drained_ms,
    });
    let line = merge(line, m.outcome.lateness.fields("lateness_ms"));
    println!("{}", merge(line, m.outcome.fields()));
    drop(cluster);
    Ok(())
}
