//! `api`: how the HTTP API and the dashboard answer with a large history
//! (issue 19: 100,000 jobs and 1,000,000 runs; each page under 100 ms
//! p99). Registers `--jobs` yearly jobs (never due during the run) that
//! post to the sink, backfills `--runs-per-job` past instants of each (spread
//! over the three nodes, which run them), waits until every run is
//! delivered, then times `--samples` sequential GETs of each route on a
//! follower: a page of jobs from a random place, one job, a job's runs,
//! the newest runs across all jobs, the next fire times, and the
//! dashboard's jobs page, job page and overview. Prints one JSON line,
//! with each node's RSS and the CPU steal of the timed phase.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chaos_tests::sink::Sink;
use chaos_tests::steal::{cpu_jiffies, steal_percent};
use proto::v1 as pb;
use serde_json::{Value, json};

use crate::cluster::{Cluster, jobs_client};
use crate::jobs::{self, register};
use crate::poll;
use crate::procfs::rss;
use crate::stats::{Summary, round3};

#[derive(clap::Args)]
pub struct Args {
    /// Registered jobs.
    #[arg(long, default_value_t = 100_000)]
    jobs: u64,
    /// Past instants backfilled (and run) per job.
    #[arg(long, default_value_t = 10)]
    runs_per_job: u64,
    /// Timed requests per route.
    #[arg(long, default_value_t = 300)]
    samples: usize,
    /// Concurrent clients for registration and backfill.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Minutes to wait for the runs to finish.
    #[arg(long, default_value_t = 30)]
    patience_mins: u64,
}

/// The path of a route's `k`th sample.
type PathOf = Box<dyn Fn(usize) -> String>;

/// Job `i`: on 1 January at a time of day drawn from `i`, so its past
/// instants are one a year and none falls due while the bench runs.
fn job(i: u64, url: &str) -> pb::JobSpec {
    let h = xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes());
    let (m, hour) = (h % 60, (h >> 8) % 24);
    jobs::cron(format!("api-{i:06}"), format!("{m} {hour} 1 1 *"), url)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.jobs;
    let patience = Duration::from_secs(args.patience_mins * 60);
    let sink = Sink::start().await?;
    let cluster = Cluster::start(3, &[]).await?;
    let addrs = cluster.addrs_leader_first().await?;
    let url = sink.url();
    let reg = register(
        &addrs,
        0..n,
        args.clients,
        Some("api"),
        Arc::new(move |i| job(i, &url)),
    )
    .await?;
    eprintln!("api: {n} jobs registered in {:.0} s", reg.secs);

    // Backfill: the last `runs_per_job` New Years of each job, through
    // every node in turn (the receiving node is the assignee).
    let years = args.runs_per_job.clamp(1, 50) as i32;
    let from = chrono::NaiveDate::from_ymd_opt(2025 - years + 1, 12, 31)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .context("a date")?
        .and_utc()
        .timestamp_millis();
    let to = chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .context("a date")?
        .and_utc()
        .timestamp_millis();
    let created = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let clients = args.clients.max(1) as u64;
    for c in 0..clients {
        let addr = addrs[c as usize % addrs.len()].clone();
        let created = created.clone();
        tasks.spawn(async move {
            let mut client = jobs_client(&addr).await?;
            for i in (c..n).step_by(clients as usize) {
                let r = client
                    .backfill_job(pb::BackfillJobRequest {
                        id: format!("api-{i:06}"),
                        from: Some(crate::time::ts(from)),
                        to: Some(crate::time::ts(to)),
                    })
                    .await
                    .with_context(|| format!("backfill api-{i:06}"))?
                    .into_inner();
                created.fetch_add(u64::from(r.created), Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let total = created.load(Ordering::Relaxed);
    eprintln!(
        "api: {total} runs backfilled in {:.0} s; waiting for them to run",
        start.elapsed().as_secs_f64()
    );
    let ran = Instant::now();
    poll::until(
        "every backfilled run to reach the sink",
        patience,
        Duration::from_secs(2),
        || async {
            let got = sink.len() as u64;
            if ran.elapsed().as_secs() % 30 < 2 {
                eprintln!("api: {got}/{total} delivered");
            }
            (got >= total).then_some(())
        },
    )
    .await?;
    let run_secs = ran.elapsed().as_secs_f64();

    // The timed phase, on a follower.
    let (leader, _) = cluster.leader().await?;
    let follower = cluster
        .procs
        .iter()
        .find(|p| p.id != leader)
        .context("a follower")?;
    let base = format!("http://{}", follower.addr);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let pick = move |k: usize| format!("api-{:06}", (k as u64 * 7919) % n);
    let routes: Vec<(&str, PathOf)> = vec![
        (
            "api_jobs_page",
            Box::new(move |k| format!("/api/v1/jobs?page_size=100&page_token={}", pick(k))),
        ),
        (
            "api_job",
            Box::new(move |k| format!("/api/v1/jobs/{}", pick(k))),
        ),
        (
            "api_job_runs",
            Box::new(move |k| format!("/api/v1/runs?job_id={}&limit=20", pick(k))),
        ),
        (
            "api_runs_newest_100",
            Box::new(|_| "/api/v1/runs?limit=100".into()),
        ),
        (
            "api_job_next_10",
            Box::new(move |k| format!("/api/v1/jobs/{}/next?count=10", pick(k))),
        ),
        (
            "dashboard_jobs",
            Box::new(move |k| format!("/jobs?page_token={}", pick(k))),
        ),
        (
            "dashboard_job",
            Box::new(move |k| format!("/jobs/{}", pick(k))),
        ),
        ("dashboard_overview", Box::new(|_| "/".into())),
    ];
    let j0 = cpu_jiffies();
    let mut figures = serde_json::Map::new();
    for (name, path) in &routes {
        let mut ms = Vec::with_capacity(args.samples);
        let mut status = 0;
        for k in 0..args.samples {
            let t = Instant::now();
            let resp = http.get(format!("{base}{}", path(k))).send().await?;
            status = resp.status().as_u16();
            let _ = resp.bytes().await?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let s = Summary::of(ms);
        figures.insert(
            (*name).into(),
            json!({"status": status, "p50_ms": round3(s.p50), "p99_ms": round3(s.p99),
                   "max_ms": round3(s.max), "n": s.n}),
        );
    }
    let steal = steal_percent(j0, cpu_jiffies());
    let memory: serde_json::Map<String, Value> = cluster
        .procs
        .iter()
        .filter_map(|p| Some((p.id.to_string(), json!(rss(p.pid()?)?))))
        .collect();
    println!(
        "{}",
        json!({
            "bench": "api", "jobs": n, "runs": total, "runs_per_job": args.runs_per_job,
            "registration_secs": round3(reg.secs), "runs_secs": round3(run_secs),
            "samples": args.samples, "answered_by": follower.id,
            "routes": figures, "rss_bytes": memory, "steal_pct": steal.map(round3),
        })
    );
    Ok(())
}
