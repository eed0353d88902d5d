//! Prometheus metrics over HTTP (`--metrics HOST:PORT`, path `/metrics`):
//! term, leader, log/commit/applied indexes and replication lag per peer,
//! read from openraft's metrics at scrape time (nothing to keep in step).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use openraft::ServerState;
use tokio::net::TcpListener;

use crate::node::Node;
use crate::workers::WorkerHub;

/// Renders the metrics of `node` in the Prometheus text format.
pub fn render(node: &Node, hub: &WorkerHub) -> String {
    let m = node.raft.metrics().borrow().clone();
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    };
    gauge("scheduler_raft_term", "Current Raft term.", m.current_term);
    gauge(
        "scheduler_raft_leader_id",
        "Id of the known leader; 0 when none.",
        m.current_leader.unwrap_or(0),
    );
    gauge(
        "scheduler_raft_is_leader",
        "1 when this node leads.",
        u64::from(m.state == ServerState::Leader),
    );
    let last_log = m.last_log_index.unwrap_or(0);
    gauge(
        "scheduler_raft_last_log_index",
        "Index of the last entry in this node's log.",
        last_log,
    );
    let applied = m.last_applied.map_or(0, |l| l.index);
    gauge(
        "scheduler_raft_applied_index",
        "Index of the last entry applied here.",
        applied,
    );
    // openraft 0.9 does not expose the commit index; the leader derives it
    // as the index a majority of voters hold; elsewhere, applied is its
    // lower bound.
    let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
    let matched: BTreeMap<u64, u64> = m
        .replication
        .as_ref()
        .map(|r| {
            r.iter()
                .map(|(id, l)| (*id, l.map_or(0, |l| l.index)))
                .collect()
        })
        .unwrap_or_default();
    let commit = if m.state == ServerState::Leader && !voters.is_empty() {
        let mut held: Vec<u64> = voters
            .iter()
            .map(|v| {
                if *v == node.id {
                    last_log
                } else {
                    matched.get(v).copied().unwrap_or(0)
                }
            })
            .collect();
        held.sort_unstable_by(|a, b| b.cmp(a));
        held[voters.len() / 2]
    } else {
        applied
    };
    gauge(
        "scheduler_raft_commit_index",
        "Committed index (leader: majority-held; others: applied).",
        commit,
    );
    gauge(
        "scheduler_jobs",
        "Jobs in the applied state.",
        node.state.read(|s| s.job_count()) as u64,
    );
    gauge(
        "scheduler_open_occurrences",
        "Armed or running occurrences.",
        node.state.read(|s| s.open_count()) as u64,
    );
    render_workers(&mut out, node, hub);
    if !matched.is_empty() {
        let _ = writeln!(
            out,
            "# HELP scheduler_raft_replication_lag Entries a peer is behind the leader's log."
        );
        let _ = writeln!(out, "# TYPE scheduler_raft_replication_lag gauge");
        for (peer, idx) in &matched {
            let _ = writeln!(
                out,
                "scheduler_raft_replication_lag{{peer=\"{peer}\"}} {}",
                last_log.saturating_sub(*idx)
            );
        }
    }
    out
}

/// Serves `/metrics` on `addr` until the process ends.
/// Worker gauges per queue: workers connected to this node, and, from the
/// applied state, worker jobs whose instant is due but not yet given to
/// anyone (waiting for a worker slot) with the age of the oldest.
fn render_workers(out: &mut String, node: &Node, hub: &WorkerHub) {
    let connected = hub.per_queue();
    let now = crate::node::now_ms();
    let mut waiting: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    node.state.read(|s| {
        for (at, id) in s.due_through(now) {
            if let Some(w) = s.job(id).and_then(|j| j.spec.executor.worker()) {
                let e = waiting.entry(w.queue.clone()).or_default();
                e.0 += 1;
                e.1 = e.1.max(now - at);
            }
        }
    });
    let mut family = |name: &str, help: &str, rows: Vec<(&String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (queue, value) in rows {
            let _ = writeln!(out, "{name}{{queue=\"{queue}\"}} {value}");
        }
    };
    family(
        "scheduler_workers_connected",
        "Worker processes connected to this node, per queue they serve.",
        connected
            .iter()
            .map(|(q, (n, _))| (q, n.to_string()))
            .collect(),
    );
    family(
        "scheduler_worker_attempts_waiting",
        "Worker jobs due and waiting for a worker slot, per queue.",
        waiting
            .iter()
            .map(|(q, (n, _))| (q, n.to_string()))
            .collect(),
    );
    family(
        "scheduler_worker_oldest_waiting_seconds",
        "Age of the oldest due instant waiting for a worker slot, per queue.",
        waiting
            .iter()
            .map(|(q, (_, age))| (q, format!("{:.3}", *age as f64 / 1000.0)))
            .collect(),
    );
}

pub async fn serve(addr: String, node: Node, hub: WorkerHub) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "metrics at /metrics");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept");
                continue;
            }
        };
        let node = node.clone();
        let hub = hub.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let node = node.clone();
                let hub = hub.clone();
                async move {
                    let resp = if req.uri().path() == "/metrics" {
                        Response::builder()
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(Full::new(Bytes::from(render(&node, &hub))))
                    } else {
                        Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::new(Bytes::from("try /metrics\n")))
                    };
                    Ok::<_, Infallible>(
                        resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))),
                    )
                }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "metrics connection");
            }
        });
    }
}
