//! `clusterctl verify`: a live self-check of a running cluster. It
//! registers a few probe jobs (every second, labelled, deleted afterwards)
//! whose HTTP executor posts to a fencing sink inside `clusterctl` itself,
//! watches them for `--duration`, and reports whether every instant of the
//! window reached the sink exactly once, none early, with tokens rising per
//! job, and how late; plus the leader changes it saw. Exit 0 only when all
//! is well. Operators run it after an upgrade.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use proto::time::now_ms;
use proto::v1 as pb;
use tokio::net::TcpListener;

use crate::Output;
use crate::client::Cluster;

/// How `verify` runs.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// How long to watch the probes (seconds).
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// How many probe jobs (each fires every second).
    #[arg(long, default_value_t = 3)]
    pub jobs: u32,
    /// Where the sink listens.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub sink_listen: String,
    /// The sink's address as the nodes reach it (default: where it listens).
    #[arg(long)]
    pub sink_advertise: Option<String>,
}

/// One request that reached the sink.
#[derive(Clone, Debug)]
struct Hit {
    job_id: String,
    occurrence_id: String,
    scheduled_ms: i64,
    token: u64,
    received_ms: i64,
    accepted: bool,
}

#[derive(Default)]
struct Sink {
    hits: Vec<Hit>,
    seen: BTreeSet<String>,
    highest: BTreeMap<String, u64>,
}

impl Sink {
    /// The fencing rule of docs/guarantees.md ("Exactly once needs a
    /// fencing-aware sink"): first effect per occurrence, no token below the
    /// job's highest.
    fn take(&mut self, req: &Request<hyper::body::Incoming>) -> bool {
        let h = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let scheduled_ms = chrono::DateTime::parse_from_rfc3339(&h("x-scheduler-scheduled-at"))
            .map_or(0, |t| t.timestamp_millis());
        let mut hit = Hit {
            job_id: h("x-scheduler-job-id"),
            occurrence_id: h("x-scheduler-occurrence-id"),
            scheduled_ms,
            token: h("x-scheduler-fencing-token").parse().unwrap_or(0),
            received_ms: now_ms(),
            accepted: false,
        };
        let stale = hit.token < self.highest.get(&hit.job_id).copied().unwrap_or(0);
        hit.accepted =
            !stale && !hit.occurrence_id.is_empty() && !self.seen.contains(&hit.occurrence_id);
        if hit.accepted {
            self.seen.insert(hit.occurrence_id.clone());
            self.highest.insert(hit.job_id.clone(), hit.token);
        }
        let accepted = hit.accepted;
        self.hits.push(hit);
        accepted
    }
}

async fn serve(listener: TcpListener, sink: Arc<Mutex<Sink>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let sink = sink.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let ok = sink.lock().unwrap_or_else(|p| p.into_inner()).take(&req);
                let status = if ok {
                    StatusCode::OK
                } else {
                    StatusCode::CONFLICT
                };
                async move {
                    let mut r = Response::new(Full::new(Bytes::new()));
                    *r.status_mut() = status;
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the self-check; an error when it could not be carried out, and
/// `Ok(false)` when it ran and found something wrong.
pub async fn run(cluster: &Cluster, args: VerifyArgs, out: Output) -> anyhow::Result<bool> {
    if args.jobs == 0 || args.jobs > 100 {
        bail!("--jobs: {} is out of range 1-100", args.jobs);
    }
    if args.duration < 5 {
        bail!("--duration: at least 5 seconds");
    }
    let listener = TcpListener::bind(&args.sink_listen)
        .await
        .with_context(|| format!("--sink-listen: cannot listen on {}", args.sink_listen))?;
    let local = listener.local_addr()?;
    let advertise = args
        .sink_advertise
        .clone()
        .unwrap_or_else(|| local.to_string());
    let sink = Arc::new(Mutex::new(Sink::default()));
    let server = tokio::spawn(serve(listener, sink.clone()));

    let run_id = format!("{:x}", now_ms());
    let ids: Vec<String> = (0..args.jobs)
        .map(|i| format!("verify-{run_id}-{i}"))
        .collect();
    let mut created = BTreeMap::new();
    for id in &ids {
        let spec = pb::JobSpec {
            id: id.clone(),
            labels: [("clusterctl-verify".to_string(), run_id.clone())].into(),
            schedule: Some(pb::Schedule {
                kind: Some(pb::schedule::Kind::Cron("* * * * * *".into())),
            }),
            executor: Some(pb::Executor {
                kind: Some(pb::executor::Kind::Http(pb::HttpExecutor {
                    url: format!("http://{advertise}/verify"),
                    ..Default::default()
                })),
            }),
            policies: Some(pb::Policies {
                // Every instant counts: a backlog is run, not collapsed.
                coalesce: pb::Coalesce::All as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        let req = pb::CreateJobRequest {
            job: Some(spec),
            on_conflict: pb::OnConflict::Fail as i32,
        };
        cluster
            .with_jobs(|mut c| {
                let r = req.clone();
                async move { c.create_job(r).await }
            })
            .await
            .with_context(|| format!("registering probe job {id}"))?;
        created.insert(id.clone(), now_ms());
    }
    // Leaders seen, sampled every 500 ms.
    let started = now_ms();
    let mut leaders: Vec<(i64, Option<u64>)> = Vec::new();
    while now_ms() - started < args.duration as i64 * 1000 {
        let leader = cluster
            .with_cluster(|mut c| async move { c.status(pb::StatusRequest {}).await })
            .await
            .ok()
            .and_then(|s| s.into_inner().leader);
        if leaders.last().map(|(_, l)| *l) != Some(leader) {
            leaders.push((now_ms(), leader));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let window_end = now_ms();
    // Stop the probes, give what is in flight time to land, then remove them.
    let pause = pb::PauseRequest {
        target: Some(pb::pause_request::Target::Labels(pb::LabelSelector {
            r#match: [("clusterctl-verify".to_string(), run_id.clone())].into(),
        })),
    };
    let paused = cluster
        .with_jobs(|mut c| {
            let r = pause.clone();
            async move { c.pause_jobs(r).await }
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in &ids {
        let req = pb::DeleteJobRequest {
            id: id.clone(),
            expected_version: 0,
        };
        let _ = cluster
            .with_jobs(|mut c| {
                let r = req.clone();
                async move { c.delete_job(r).await }
            })
            .await;
    }
    server.abort();

    // Judge: every whole second from 2 s after a probe's creation to 2 s
    // before the window ended must have exactly one accepted effect.
    let hits = sink.lock().unwrap_or_else(|p| p.into_inner()).hits.clone();
    let mut problems = Vec::new();
    if let Err(e) = paused {
        problems.push(format!("pausing the probes failed: {e:#}"));
    }
    let mut lateness = Vec::new();
    let mut expected = 0;
    for id in &ids {
        let from = (created[id] / 1000 + 2) * 1000;
        let to = (window_end / 1000 - 2) * 1000;
        let mine: Vec<&Hit> = hits.iter().filter(|h| &h.job_id == id).collect();
        let mut at = from;
        while at <= to {
            expected += 1;
            let accepted = mine
                .iter()
                .filter(|h| h.scheduled_ms == at && h.accepted)
                .count();
            if accepted != 1 {
                problems.push(format!(
                    "{id}: instant {at} has {accepted} accepted effects"
                ));
            }
            at += 1000;
        }
        let mut last = 0;
        for h in mine.iter().filter(|h| h.accepted) {
            if h.received_ms < h.scheduled_ms {
                problems.push(format!(
                    "{}: started {} ms early",
                    h.occurrence_id,
                    h.scheduled_ms - h.received_ms
                ));
            }
            if h.token <= last {
                problems.push(format!(
                    "{}: token {} not above {last}",
                    h.occurrence_id, h.token
                ));
            }
            last = h.token;
            lateness.push(h.received_ms - h.scheduled_ms);
        }
    }
    let refused = hits.iter().filter(|h| !h.accepted).count();
    lateness.sort_unstable();
    let ok = problems.is_empty() && expected > 0;
    let changes = leaders.len().saturating_sub(1);
    match out {
        Output::Json | Output::Jsonl => println!(
            "{}",
            serde_json::json!({
                "ok": ok,
                "jobs": args.jobs,
                "expected": expected,
                "delivered": hits.iter().filter(|h| h.accepted).count(),
                "refused_at_sink": refused,
                "lateness_ms": {"p50": percentile(&lateness, 0.5), "p99": percentile(&lateness, 0.99), "max": lateness.last().copied().unwrap_or(0)},
                "leaders": leaders.iter().map(|(t, l)| serde_json::json!({"at_ms": t, "leader": l})).collect::<Vec<_>>(),
                "leader_changes": changes,
                "problems": problems.iter().take(20).collect::<Vec<_>>(),
            })
        ),
        Output::Text => {
            println!(
                "verify: {} ({} probe jobs, {expected} instants expected, {} effects accepted, {refused} refused)",
                if ok { "OK, exactly once" } else { "FAILED" },
                args.jobs,
                hits.iter().filter(|h| h.accepted).count()
            );
            println!(
                "  lateness ms: p50 {} p99 {} max {}",
                percentile(&lateness, 0.5),
                percentile(&lateness, 0.99),
                lateness.last().copied().unwrap_or(0)
            );
            println!("  leader changes seen: {changes}");
            for p in problems.iter().take(20) {
                println!("  problem: {p}");
            }
            if expected == 0 {
                println!("  problem: the window was too short to expect any instant");
            }
        }
    }
    Ok(ok)
}
