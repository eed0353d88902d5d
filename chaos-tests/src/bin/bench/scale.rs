//! `scale`: a million registered jobs (`--jobs`), most daily (cron at a
//! random time of day), 1% every minute (cron at a random second), plus
//! ten every-second probe jobs so a fire is always due soon; all post to
//! the sink. Registered with many concurrent clients (progress on
//! stderr), then:
//!
//! - memory: each node's VmRSS (/proc/PID/status) minus its own baseline
//!   taken before registration, per job; the leader's is the headline;
//! - disk: each node's data dir (sled log, state, snapshots), per job;
//! - first fire: kill -9 of the leader, then the time until a survivor
//!   reports a new leader, and until the sink receives an attempt that the
//!   new leader authorised (a fencing token whose log index is above every
//!   index the old leader could have written: the highest last-log index
//!   the survivors reported when they first named the new leader);
//! - join: after the killed node is back, a fresh 4th node joins through
//!   the leader; the time until it is a voter caught up to the leader's
//!   log as of the join and serves the last registered job from its own
//!   state, and whether it installed a snapshot (its log says so).
//!
//! `--snapshot-every` is passed to every node (schedulerd's openraft
//! snapshot policy, `LogsSinceLast`), so the leader has purged the log
//! behind a snapshot and the joining node can only catch up through one.
//! Targets (issue 8): ≤ 1 KiB RSS per job, < 2 s to the first fire,
//! < 30 s to join.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chaos_tests::harness::{Proc, status};
use chaos_tests::sink::Sink;
use chaos_tests::steal::{cpu_jiffies, steal_percent};
use proto::v1 as pb;
use serde_json::{Value, json};

use crate::cluster::{Cluster, TIMING, jobs_client};
use crate::deliveries::Tracker;
use crate::jobs::{self, register};
use crate::poll;
use crate::procfs::{dir_bytes, rss, status_bytes};
use crate::stats::round3;
use crate::time::now_ms;

#[derive(clap::Args)]
pub struct Args {
    /// Registered jobs (besides the ten probes).
    #[arg(long, default_value_t = 1_000_000)]
    jobs: u64,
    /// Percent of the jobs that fire every minute; the rest fire daily.
    #[arg(long, default_value_t = 1)]
    every_minute_pct: u64,
    /// Concurrent registration clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// schedulerd's `--snapshot-every` on every node. Default: a fifth of
    /// the jobs, within 1,000 and schedulerd's own default of 20,000, so
    /// even a quick run builds several snapshots and purges behind them.
    #[arg(long)]
    snapshot_every: Option<u64>,
    /// Seed of the jobs' random times.
    #[arg(long, default_value_t = 8)]
    seed: u64,
    /// Minutes to wait for each phase (catch-up, first fire, restart, join).
    #[arg(long, default_value_t = 20)]
    patience_mins: u64,
}

const PROBES: u64 = 10;

/// Job `i`: every minute for `pct`% of them, else daily, at a time drawn
/// from a hash of (seed, i), so any client may build any job.
fn job(i: u64, pct: u64, seed: u64, url: &str) -> pb::JobSpec {
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(&i.to_le_bytes(), seed);
    let (s, m, hour) = (h % 60, (h >> 8) % 60, (h >> 16) % 24);
    let expr = if i % 100 < pct {
        format!("{s} * * * * *")
    } else {
        format!("{s} {m} {hour} * * *")
    };
    jobs::cron(format!("scale-{i}"), expr, url)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let patience = Duration::from_secs(args.patience_mins * 60);
    let n = args.jobs;
    let every = args
        .snapshot_every
        .unwrap_or((n / 5).clamp(1_000, 20_000))
        .to_string();
    let sink = Sink::start().await?;
    let mut cluster = Cluster::start(3, &["--snapshot-every", &every]).await?;
    let baseline: BTreeMap<u64, u64> = cluster
        .procs
        .iter()
        .filter_map(|p| Some((p.id, rss(p.pid()?)?)))
        .collect();

    // Registration.
    let addrs = cluster.addrs_leader_first().await?;
    let (pct, seed, url) = (args.every_minute_pct, args.seed, sink.url());
    let make = Arc::new(move |i| job(i, pct, seed, &url));
    let j0 = cpu_jiffies();
    let reg = register(&addrs, 0..n, args.clients, Some("scale"), make).await?;
    let reg_steal = steal_percent(j0, cpu_jiffies());
    let url = sink.url();
    let probe = Arc::new(move |k: u64| {
        jobs::every_second(format!("scale-probe-{k}"), (k * 1000 / PROBES) as i64, &url)
    });
    register(&addrs, 0..PROBES, 1, None, probe).await?;
    eprintln!(
        "scale: {n} jobs registered in {:.0} s ({:.0}/s); waiting for every node to apply them",
        reg.secs,
        reg.per_sec()
    );
    let (leader, leader_addr) = cluster.leader().await?;
    let caught_up = caught_up(&leader_addr, patience).await?;

    // Memory and disk, per node and per job.
    let mut memory = BTreeMap::new();
    let mut disk = BTreeMap::new();
    for p in &cluster.procs {
        let pid = p.pid().context("node not running")?;
        let now = rss(pid).unwrap_or(0);
        let base = baseline.get(&p.id).copied().unwrap_or(0);
        memory.insert(
            p.id,
            json!({
                "rss_bytes": now, "baseline_bytes": base,
                "rss_bytes_per_job": round3(now.saturating_sub(base) as f64 / n as f64),
                "peak_rss_bytes": status_bytes(pid, "VmHWM"),
            }),
        );
        let (alloc, apparent) = dir_bytes(&p.dir);
        disk.insert(
            p.id,
            json!({
                "bytes": alloc, "apparent_bytes": apparent,
                "bytes_per_job": round3(alloc as f64 / n as f64),
            }),
        );
    }
    let per_job =
        |m: &BTreeMap<u64, Value>, id: u64, k: &str| m.get(&id).and_then(|v| v.get(k)).cloned();
    let leader_rss_per_job = per_job(&memory, leader, "rss_bytes_per_job");
    let leader_disk_per_job = per_job(&disk, leader, "bytes_per_job");

    // Leader kill: election, then the new leader's first fire.
    let first_fire = first_fire_after_kill(&mut cluster, leader, &sink, patience).await?;
    let restart = Instant::now();
    cluster.node_mut(leader)?.restart()?;
    Cluster::wait_healthy(&cluster.addrs()[0], 3, patience).await?;
    let restart_secs = restart.elapsed().as_secs_f64();

    // A fresh node joins through a snapshot.
    let join = join_fourth(&mut cluster, &every, patience).await?;

    println!(
        "{}",
        json!({
            "bench": "scale", "jobs": n, "every_minute_pct": pct, "probe_jobs": PROBES,
            "snapshot_every": every.parse::<u64>().ok(),
            "registered_per_sec": round3(reg.per_sec()), "registration_secs": round3(reg.secs),
            "registration_clients": args.clients, "registration_steal_pct": reg_steal.map(round3),
            "catch_up_after_registration_secs": round3(caught_up),
            "leader": leader,
            "leader_rss_bytes_per_job": leader_rss_per_job,
            "leader_disk_bytes_per_job": leader_disk_per_job,
            "memory": memory, "disk": disk,
            "first_fire": first_fire,
            "killed_node_back_healthy_secs": round3(restart_secs),
            "join": join,
        })
    );
    Ok(())
}

/// Waits until the leader's log is replicated to every member; returns
/// how long that took.
async fn caught_up(leader_addr: &str, patience: Duration) -> anyhow::Result<f64> {
    let start = Instant::now();
    poll::until(
        "every node to hold the leader's log",
        patience,
        Duration::from_millis(200),
        || async {
            let s = status(leader_addr).await?;
            let last = s.members.iter().map(|m| m.last_log_index).max()?;
            s.members
                .iter()
                .all(|m| m.healthy && m.applied_index + 100 >= last)
                .then_some(())
        },
    )
    .await?;
    Ok(start.elapsed().as_secs_f64())
}

/// kill -9 of `leader`; times the election and the first sink request
/// authorised by the new leader.
async fn first_fire_after_kill(
    cluster: &mut Cluster,
    leader: u64,
    sink: &Sink,
    patience: Duration,
) -> anyhow::Result<Value> {
    let survivors: Vec<String> = cluster
        .procs
        .iter()
        .filter(|p| p.id != leader)
        .map(|p| p.addr.clone())
        .collect();
    let mut tracker = Tracker::from_now(sink);
    let kill_ms = now_ms();
    let start = Instant::now();
    cluster.node_mut(leader)?.kill();
    let (new_leader, old_max) = poll::until(
        "a new leader",
        patience,
        Duration::from_millis(10),
        || async {
            for a in &survivors {
                if let Some(s) = status(a).await
                    && let Some(l) = s.leader.filter(|l| *l != leader)
                {
                    let max = s.members.iter().map(|m| m.last_log_index).max();
                    return Some((l, max.unwrap_or(0)));
                }
            }
            None
        },
    )
    .await?;
    let elected = start.elapsed().as_secs_f64();
    let (fire_ms, index) = poll::until(
        "a fire authorised by the new leader",
        patience,
        Duration::from_millis(5),
        || {
            let first = tracker
                .pull()
                .into_iter()
                .filter(|d| d.log_index() > old_max)
                .map(|d| (d.received_ms, d.log_index()))
                .next();
            std::future::ready(first)
        },
    )
    .await?;
    let to_fire = (fire_ms - kill_ms as f64) / 1000.0;
    Ok(json!({
        "killed": leader, "new_leader": new_leader,
        "elected_secs": round3(elected),
        "first_fire_after_kill_secs": round3(to_fire),
        "election_to_first_fire_secs": round3(to_fire - elected),
        "log_index_bound": old_max, "first_fire_log_index": index,
    }))
}

/// Starts node 4 joining through the leader; times it until it is a
/// voter, caught up, and serves the last probe job from its own state.
async fn join_fourth(
    cluster: &mut Cluster,
    every: &str,
    patience: Duration,
) -> anyhow::Result<Value> {
    let (_, leader_addr) = cluster.leader().await?;
    let target = status(&leader_addr)
        .await
        .and_then(|s| s.members.iter().map(|m| m.last_log_index).max())
        .context("leader status")?;
    let flags = [
        &["--join", leader_addr.as_str(), "--snapshot-every", every][..],
        &TIMING[..],
    ]
    .concat();
    let start = Instant::now();
    let node = Proc::start(&cluster.bin, 4, cluster.root.path(), &flags)?;
    let (addr, log) = (node.addr.clone(), node.dir.with_extension("log"));
    cluster.procs.push(node);
    poll::until(
        "node 4 to be a caught-up voter",
        patience,
        Duration::from_millis(100),
        || async {
            let s = status(&leader_addr).await?;
            s.members
                .iter()
                .any(|m| m.id == 4 && m.voter && m.applied_index >= target)
                .then_some(())
        },
    )
    .await?;
    let voter = start.elapsed().as_secs_f64();
    let last = format!("scale-probe-{}", PROBES - 1);
    poll::until(
        "node 4 to serve the last job",
        patience,
        Duration::from_millis(100),
        || async {
            let mut c = jobs_client(&addr).await.ok()?;
            c.get_job(pb::GetJobRequest { id: last.clone() })
                .await
                .ok()
                .map(|_| ())
        },
    )
    .await?;
    let serving = start.elapsed().as_secs_f64();
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let rss_bytes = cluster.node(4)?.pid().and_then(rss).unwrap_or(0);
    Ok(json!({
        "voter_caught_up_secs": round3(voter),
        "serving_secs": round3(serving),
        "installed_snapshot": logged.contains("installed snapshot"),
        "log_index_at_join": target,
        "rss_bytes": rss_bytes,
    }))
}
