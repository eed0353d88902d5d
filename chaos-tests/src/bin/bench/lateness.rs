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
    /// What runs each occurrence: an HTTP call of the sink, or a function
    /// on Rust worker processes (one per node) that posts to the sink.
    #[arg(long, value_enum, default_value = "http")]
    executor: ExecutorKind,
    /// TLS everywhere and the ACL on (issue 18): nodes with `--tls-dir`,
    /// the bench and its workers with a client certificate.
    #[arg(long)]
    secure: bool,
}

/// The executor kind measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorKind {
    Http,
    Worker,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    // The certificates outlive each size's cluster.
    let certs = tempfile::tempdir()?;
    if args.secure {
        chaos_tests::secure::enable(certs.path(), 3)?;
    }
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
    let worker = args.executor == ExecutorKind::Worker;
    // One worker per node, each with slots for its share and the next
    // second's armed attempts.
    let mut workers = Vec::new();
    if worker {
        let bin = chaos_tests::binaries::rust_worker()?;
        for (i, addr) in cluster.addrs().iter().enumerate() {
            workers.push(chaos_tests::worker::spawn(
                &bin,
                &cluster.root.path().join(format!("worker-{i}")),
                &format!("bench-{i}"),
                std::slice::from_ref(addr),
                ("bench", "effect"),
                1024,
                &url,
            )?);
        }
        let first = addrs.first().cloned().unwrap_or_default();
        crate::poll::until(
            "3 workers connected",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let first = first.clone();
                async move { (workers_connected(&first).await == 3).then_some(()) }
            },
        )
        .await?;
    }
    let spread = move |i: u64| (i * 1000 / n.max(1)) as i64;
    let make = Arc::new(move |i: u64| {
        let mut spec = jobs::every_second(format!("late-{i}"), spread(i), &url);
        if worker {
            spec.executor = Some(proto::v1::Executor {
                kind: Some(proto::v1::executor::Kind::Worker(
                    proto::v1::WorkerExecutor {
                        queue: "bench".into(),
                        function: "effect".into(),
                        args: String::new(),
                    },
                )),
            });
        }
        spec
    });
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
        "executor": if worker { "worker" } else { "http" },
        "secure": args.secure,
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
    drop(workers);
    drop(cluster);
    Ok(())
}

/// How many workers `addr`'s cluster lists.
async fn workers_connected(addr: &str) -> usize {
    let Ok(ch) = chaos_tests::secure::connect(addr).await else {
        return 0;
    };
    let mut c = proto::v1::worker_service_client::WorkerServiceClient::new(ch);
    c.list_workers(proto::v1::ListWorkersRequest {})
        .await
        .map_or(0, |r| r.into_inner().workers.len())
}
