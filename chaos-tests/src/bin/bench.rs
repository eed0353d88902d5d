//! Benchmarks over real `schedulerd` processes. Each scenario prints JSON
//! lines; BENCHMARKS.md records them with the command.
//!
//! ```text
//! cargo run -p chaos-tests --release --bin bench -- failover [--kills 10]
//! cargo run -p chaos-tests --release --bin bench -- registration [--secs 10]
//! cargo run -p chaos-tests --release --bin bench -- lateness [--jobs 1000] [--secs 20]
//! ```
//!
//! `schedulerd` is taken from beside this binary (built with
//! `cargo build --release -p node` first; the bench builds it if missing).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chaos_tests::harness::{self, create, status, wait_cluster};
use chaos_tests::steal::{cpu_jiffies, steal_percent};
use proto::v1::job_service_client::JobServiceClient;
use serde_json::json;

fn schedulerd() -> anyhow::Result<PathBuf> {
    Ok(chaos_tests::binaries::schedulerd()?)
}

fn flag(args: &[String], name: &str, default: u64) -> anyhow::Result<u64> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .context(format!("{name} needs a value"))?
            .parse()
            .context(format!("{name}: not a number")),
        None => Ok(default),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Time from kill -9 of the leader until a new leader accepts a write.
async fn failover(kills: u64) -> anyhow::Result<()> {
    let bin = schedulerd()?;
    let root = tempfile::tempdir()?;
    // schedulerd's default timing (heartbeat 100 ms, election 300-500 ms).
    let timing = ["--election-min-ms", "300", "--election-max-ms", "500"];
    let mut procs = harness::start_cluster(&bin, root.path(), 3, &timing).await?;
    let mut gaps = Vec::new();
    let mut elections = Vec::new();
    let j0 = cpu_jiffies();
    for k in 0..kills {
        let addrs: Vec<String> = procs.iter().map(|p| p.addr.clone()).collect();
        let s = wait_cluster(&addrs[0], &[1, 2, 3]).await;
        // Wait until every member is healthy, so each kill starts alike.
        harness::wait_for("all members healthy", || async {
            let s = status(&addrs[0]).await?;
            (s.members.len() == 3 && s.members.iter().all(|m| m.healthy)).then_some(())
        })
        .await;
        let leader = s.leader.context("no leader")?;
        let survivors: Vec<String> = procs
            .iter()
            .filter(|p| p.id != leader)
            .map(|p| p.addr.clone())
            .collect();
        let victim = procs
            .iter_mut()
            .find(|p| p.id == leader)
            .context("leader process")?;
        let start = Instant::now();
        victim.kill();
        let new_leader = harness::wait_for("a new leader", || async {
            status(&survivors[0]).await?.leader.filter(|l| *l != leader)
        })
        .await;
        let elected = start.elapsed().as_secs_f64() * 1000.0;
        let mut n = 0u64;
        loop {
            n += 1;
            let target = &survivors[(n % 2) as usize];
            if create(target, &format!("failover-{k}-{n}")).await.is_ok() {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("no write accepted within 60 s of kill {k}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let gap = start.elapsed().as_secs_f64() * 1000.0;
        println!(
            "{}",
            json!({"bench": "failover_kill", "kill": k, "killed_leader": leader, "new_leader": new_leader,
                   "elected_ms": elected, "gap_ms": gap})
        );
        gaps.push(gap);
        elections.push(elected);
        victim.restart()?;
    }
    gaps.sort_by(f64::total_cmp);
    elections.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "bench": "failover", "kills": kills,
            "gap_ms_median": percentile(&gaps, 0.5), "gap_ms_max": gaps.last(),
            "elected_ms_median": percentile(&elections, 0.5), "elected_ms_max": elections.last(),
            "election_timeout_ms": "300-500", "heartbeat_ms": 100,
            "steal_pct": steal_percent(j0, cpu_jiffies()),
        })
    );
    Ok(())
}

/// Job creates per second through the public API, with 1, 16 and 64 clients.
async fn registration(secs: u64) -> anyhow::Result<()> {
    let bin = schedulerd()?;
    let root = tempfile::tempdir()?;
    let procs = harness::start_cluster(&bin, root.path(), 3, &[]).await?;
    let s = wait_cluster(&procs[0].addr, &[1, 2, 3]).await;
    let leader = s.leader.context("no leader")?;
    let addr = procs
        .iter()
        .find(|p| p.id == leader)
        .context("leader")?
        .addr
        .clone();
    for clients in [1usize, 16, 64] {
        let j0 = cpu_jiffies();
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for c in 0..clients {
            let addr = addr.clone();
            tasks.push(tokio::spawn(async move {
                let mut client = JobServiceClient::connect(format!("http://{addr}")).await?;
                let mut done = 0u64;
                while Instant::now() < deadline {
                    client
                        .create_job(harness::daily_job(&format!("reg-{clients}-{c}-{done}")))
                        .await?;
                    done += 1;
                }
                anyhow::Ok(done)
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await??;
        }
        println!(
            "{}",
            json!({"bench": "registration", "clients": clients, "secs": secs, "creates": total,
                   "per_sec": total as f64 / secs as f64, "through": "leader",
                   "steal_pct": steal_percent(j0, cpu_jiffies())})
        );
    }
    Ok(())
}

/// Lateness of HTTP fires at a local sink: `jobs` jobs every second, their
/// instants spread over the second, for `secs` seconds.
async fn lateness(jobs: u64, secs: u64) -> anyhow::Result<()> {
    let bin = schedulerd()?;
    let root = tempfile::tempdir()?;
    let sink = chaos_tests::sink::Sink::start().await?;
    let timing = ["--election-min-ms", "300", "--election-max-ms", "500"];
    let procs = harness::start_cluster(&bin, root.path(), 3, &timing).await?;
    let s = wait_cluster(&procs[0].addr, &[1, 2, 3]).await;
    let leader = s.leader.context("no leader")?;
    let addr = procs
        .iter()
        .find(|p| p.id == leader)
        .context("leader")?
        .addr
        .clone();
    let mut client = JobServiceClient::connect(format!("http://{addr}")).await?;
    for i in 0..jobs {
        let mut req = harness::daily_job(&format!("late-{i}"));
        if let Some(spec) = req.job.as_mut() {
            spec.schedule = Some(proto::v1::Schedule {
                kind: Some(proto::v1::schedule::Kind::Interval(
                    proto::v1::IntervalSchedule {
                        every: Some(prost_types::Duration {
                            seconds: 1,
                            nanos: 0,
                        }),
                        every_max: None,
                        anchor: Some(prost_types::Timestamp {
                            seconds: 0,
                            nanos: ((i * 1_000 / jobs) * 1_000_000) as i32,
                        }),
                    },
                )),
            });
            spec.executor = Some(proto::v1::Executor {
                kind: Some(proto::v1::executor::Kind::Http(proto::v1::HttpExecutor {
                    url: sink.url(),
                    ..Default::default()
                })),
            });
        }
        client.create_job(req).await?;
    }
    // Warm up, then measure a window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let from = std::time::SystemTime::now();
    let j0 = cpu_jiffies();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let to = std::time::SystemTime::now();
    let steal = steal_percent(j0, cpu_jiffies());
    let mut late_ms: Vec<f64> = Vec::new();
    let mut dup = 0;
    for h in sink.hits() {
        if h.received_at < from || h.received_at > to {
            continue;
        }
        if !h.accepted {
            dup += 1;
            continue;
        }
        let at = chrono::DateTime::parse_from_rfc3339(&h.scheduled_at)
            .context("scheduled_at header")?
            .timestamp_millis() as f64;
        let recv = h
            .received_at
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs_f64()
            * 1000.0;
        late_ms.push(recv - at);
    }
    late_ms.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({"bench": "lateness", "jobs": jobs, "secs": secs, "fires": late_ms.len(),
               "fires_per_sec": late_ms.len() as f64 / secs as f64,
               "lateness_ms_p50": percentile(&late_ms, 0.5), "lateness_ms_p99": percentile(&late_ms, 0.99),
               "lateness_ms_max": late_ms.last(), "refused_at_sink": dup, "steal_pct": steal})
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("failover") => failover(flag(&args, "--kills", 10)?).await,
        Some("registration") => registration(flag(&args, "--secs", 10)?).await,
        Some("lateness") => {
            lateness(flag(&args, "--jobs", 1000)?, flag(&args, "--secs", 20)?).await
        }
        other => bail!("unknown scenario {other:?}; use failover, registration or lateness"),
    }
}
