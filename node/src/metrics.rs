//! Prometheus metrics over HTTP (`--metrics HOST:PORT`, path `/metrics`),
//! with the `prometheus-client` crate: the OpenMetrics text it encodes,
//! never hand-written exposition text.
//!
//! The same plain-HTTP endpoint answers `GET /readyz`: 200 when this node
//! is ready by the rule of the gRPC health service `""` ([`ready`]), else
//! 503 with the reason. It is there for probes that cannot speak TLS (the
//! kubelet's gRPC probes cannot): the secure Kubernetes overlay's readiness
//! probe. The endpoint starts once the node has joined or bootstrapped.
//!
//! - Counted as they happen (`Metrics::attempt_started`,
//!   `attempt_finished`, `count_events`): fire lateness and run duration
//!   by executor kind, runs by final state, attempts and retries,
//!   reassignments, occurrences not run by state and typed cause (`NotRunCause`),
//!   and reports refused as stale (`stale_reports`, counted by the reporter
//!   and the worker adapter, which see the fates of the reports they propose).
//! - Read at scrape time: Raft's term, leader, log/commit/applied indexes
//!   and replication lag per peer; jobs and open occurrences; this node's
//!   lease; the worker gauges per queue.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use openraft::ServerState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use store::state::{Event, EventKind};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

/// Most instants of one job that the waiting gauge counts per scrape (a
/// long-unserved every-second job would otherwise make a scrape walk its
/// whole backlog).
const MAX_WAITING_COUNTED: usize = 1_000;

use crate::clock::lease::Lease;
use crate::node::Node;
use crate::workers::WorkerHub;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExecutorLabel {
    executor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReportLabel {
    report: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    executor: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotRunLabels {
    state: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: String,
}

type HistogramFamily = Family<ExecutorLabel, Histogram, fn() -> Histogram>;

fn lateness_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

fn duration_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 4.0, 12,
    ))
}

/// The metrics of one node. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    lateness: HistogramFamily,
    duration: HistogramFamily,
    runs: Family<RunLabels, Counter>,
    attempts: Family<ExecutorLabel, Counter>,
    retries: Family<ExecutorLabel, Counter>,
    not_run: Family<NotRunLabels, Counter>,
    reassignments: Counter,
    stale_reports: Counter,
    reports: Family<ReportLabel, Counter>,
    term: Gauge,
    leader_id: Gauge,
    is_leader: Gauge,
    last_log: Gauge,
    applied: Gauge,
    commit: Gauge,
    jobs: Gauge,
    open: Gauge,
    lease_valid: Gauge,
    lag: Family<PeerLabel, Gauge>,
    workers_connected: Family<QueueLabel, Gauge>,
    worker_waiting: Family<QueueLabel, Gauge>,
    oldest_waiting: Family<QueueLabel, Gauge<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered.
    pub fn new() -> Self {
        let mut r = Registry::default();
        let lateness: HistogramFamily = Family::new_with_constructor(lateness_histogram);
        let duration: HistogramFamily = Family::new_with_constructor(duration_histogram);
        r.register(
            "scheduler_fire_lateness_seconds",
            "How late attempts started on this node: start minus due instant (jitter included), by executor kind",
            lateness.clone(),
        );
        r.register(
            "scheduler_run_duration_seconds",
            "How long attempts on this node ran, by executor kind",
            duration.clone(),
        );
        let runs = Family::<RunLabels, Counter>::default();
        r.register(
            "scheduler_runs",
            "Attempts that ended on this node, by executor kind and state",
            runs.clone(),
        );
        let attempts = Family::<ExecutorLabel, Counter>::default();
        r.register(
            "scheduler_attempts",
            "Attempts started on this node",
            attempts.clone(),
        );
        let retries = Family::<ExecutorLabel, Counter>::default();
        r.register(
            "scheduler_retries",
            "Attempts started on this node that were retries (attempt > 1)",
            retries.clone(),
        );
        let not_run = Family::<NotRunLabels, Counter>::default();
        r.register(
            "scheduler_not_run",
            "Occurrences recorded as missed or skipped (as this node applied them), by reason class",
            not_run.clone(),
        );
        let reassignments = Counter::default();
        r.register(
            "scheduler_reassignments",
            "Attempts moved to another node (as this node applied them)",
            reassignments.clone(),
        );
        let stale_reports = Counter::default();
        r.register(
            "scheduler_stale_reports",
            "Attempt reports (starts and results) refused because their fencing token was no \
             longer the occurrence's current one, as the node that proposed them saw it",
            stale_reports.clone(),
        );
        let reports = Family::<ReportLabel, Counter>::default();
        r.register(
            "scheduler_attempt_reports",
            "Attempt reports this node's reporter sent for commit, by kind: started, finished, \
             or ran (a start merged with its finish in one batch); the leader's count includes the reports other nodes forwarded to it",
            reports.clone(),
        );
        let gauge = |r: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            r.register(name, help, g.clone());
            g
        };
        let term = gauge(&mut r, "scheduler_raft_term", "Current Raft term");
        let leader_id = gauge(
            &mut r,
            "scheduler_raft_leader_id",
            "Id of the known leader; 0 when none",
        );
        let is_leader = gauge(&mut r, "scheduler_raft_is_leader", "1 when this node leads");
        let last_log = gauge(
            &mut r,
            "scheduler_raft_last_log_index",
            "Index of the last entry in this node's log",
        );
        let applied = gauge(
            &mut r,
            "scheduler_raft_applied_index",
            "Index of the last entry applied here",
        );
        let commit = gauge(
            &mut r,
            "scheduler_raft_commit_index",
            "Committed index (leader: majority-held; others: applied)",
        );
        let jobs = gauge(&mut r, "scheduler_jobs", "Jobs in the applied state");
        let open = gauge(
            &mut r,
            "scheduler_open_occurrences",
            "Armed or running occurrences",
        );
        let lease_valid = gauge(
            &mut r,
            "scheduler_lease_valid",
            "1 while this node may start runs (the leader, or a follower with a valid lease)",
        );
        let lag = Family::<PeerLabel, Gauge>::default();
        r.register(
            "scheduler_raft_replication_lag",
            "Entries a peer is behind the leader's log",
            lag.clone(),
        );
        let workers_connected = Family::<QueueLabel, Gauge>::default();
        r.register(
            "scheduler_workers_connected",
            "Worker processes connected to this node, per queue they serve",
            workers_connected.clone(),
        );
        let worker_waiting = Family::<QueueLabel, Gauge>::default();
        r.register(
            "scheduler_worker_attempts_waiting",
            "Instants of worker jobs due and waiting for a worker slot (not for a run of their own in flight), at most 1,000 counted per job, per queue",
            worker_waiting.clone(),
        );
        let oldest_waiting = Family::<QueueLabel, Gauge<f64, AtomicU64>>::default();
        r.register(
            "scheduler_worker_oldest_waiting_seconds",
            "Age of the oldest due instant waiting for a worker slot, per queue",
            oldest_waiting.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry: r,
                lateness,
                duration,
                runs,
                attempts,
                retries,
                not_run,
                reassignments,
                stale_reports,
                reports,
                term,
                leader_id,
                is_leader,
                last_log,
                applied,
                commit,
                jobs,
                open,
                lease_valid,
                lag,
                workers_connected,
                worker_waiting,
                oldest_waiting,
            }),
        }
    }

    /// Reports refused as stale (the fencing token's refusals), counted
    /// where the refusal is seen: the proposer of the `Report` entry.
    pub fn stale_reports(&self, n: usize) {
        if n > 0 {
            self.inner.stale_reports.inc_by(n as u64);
        }
    }

    /// A batch of attempt reports sent for commit by this node's reporter.
    pub fn reports_sent(&self, reports: &[store::command::Report]) {
        let (mut started, mut finished, mut ran) = (0u64, 0u64, 0u64);
        for r in reports {
            match r.outcome {
                store::model::AttemptOutcome::Started { .. } => started += 1,
                store::model::AttemptOutcome::Finished { .. } => finished += 1,
                store::model::AttemptOutcome::Ran { .. } => ran += 1,
            }
        }
        for (report, n) in [("started", started), ("finished", finished), ("ran", ran)] {
            if n > 0 {
                self.inner
                    .reports
                    .get_or_create(&ReportLabel { report })
                    .inc_by(n);
            }
        }
    }

    /// An attempt of kind `executor` started, `late_ms` after it was due.
    pub fn attempt_started(&self, executor: &str, attempt: u32, late_ms: i64) {
        let label = ExecutorLabel {
            executor: executor.to_string(),
        };
        let i = &self.inner;
        i.lateness
            .get_or_create(&label)
            .observe(late_ms.max(0) as f64 / 1000.0);
        i.attempts.get_or_create(&label).inc();
        if attempt > 1 {
            i.retries.get_or_create(&label).inc();
        }
    }

    /// An attempt of kind `executor` ended in `state` after `ran_ms`.
    pub fn attempt_finished(&self, executor: &str, state: &str, ran_ms: i64) {
        let i = &self.inner;
        i.duration
            .get_or_create(&ExecutorLabel {
                executor: executor.to_string(),
            })
            .observe(ran_ms.max(0) as f64 / 1000.0);
        i.runs
            .get_or_create(&RunLabels {
                executor: executor.to_string(),
                state: state.to_string(),
            })
            .inc();
    }

    fn count_event(&self, e: &Event) {
        let i = &self.inner;
        match e.kind {
            EventKind::OccurrenceMissed | EventKind::OccurrenceSkipped => {
                let state = if e.kind == EventKind::OccurrenceMissed {
                    "missed"
                } else {
                    "skipped"
                };
                i.not_run
                    .get_or_create(&NotRunLabels {
                        state: state.into(),
                        reason: e.cause.map_or("other", |c| c.as_str()).into(),
                    })
                    .inc();
            }
            EventKind::OccurrenceArmed if e.detail.starts_with("reassigned") => {
                i.reassignments.inc();
            }
            _ => {}
        }
    }
}

/// Counts the events this node applies, until its state stops.
pub async fn count_events(node: Node, metrics: Metrics) {
    let mut rx = node.state.subscribe_events();
    loop {
        match rx.recv().await {
            Ok(e) => metrics.count_event(&e),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(n, "metrics fell behind the event stream");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Renders the metrics of `node` in the OpenMetrics text format.
pub fn render(node: &Node, hub: &WorkerHub, lease: &Lease, metrics: &Metrics) -> String {
    let i = &metrics.inner;
    let m = node.raft.metrics().borrow().clone();
    let leading = m.state == ServerState::Leader;
    i.term.set(m.current_term as i64);
    i.leader_id.set(m.current_leader.unwrap_or(0) as i64);
    i.is_leader.set(i64::from(leading));
    let last_log = m.last_log_index.unwrap_or(0);
    i.last_log.set(last_log as i64);
    let applied = m.last_applied.map_or(0, |l| l.index);
    i.applied.set(applied as i64);
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
    let commit = if leading && !voters.is_empty() {
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
    i.commit.set(commit as i64);
    i.jobs.set(node.state.read(|s| s.job_count()) as i64);
    i.open.set(node.state.read(|s| s.open_count()) as i64);
    i.lease_valid.set(i64::from(
        leading || crate::clock::may_start(false, lease, applied),
    ));
    i.lag.clear();
    for (peer, idx) in &matched {
        if *peer != node.id {
            i.lag
                .get_or_create(&PeerLabel {
                    peer: peer.to_string(),
                })
                .set(last_log.saturating_sub(*idx) as i64);
        }
    }
    i.workers_connected.clear();
    for (queue, n) in hub.per_queue() {
        i.workers_connected
            .get_or_create(&QueueLabel { queue })
            .set(n as i64);
    }
    let now = crate::node::now_ms();
    let mut waiting: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    node.state.read(|s| {
        for (at, id) in s.due_through(now) {
            // Held by its own overlap policy (a run in flight), an instant
            // waits for that run, not for a worker.
            if s.overlap_now(id).refused() {
                continue;
            }
            if let Some(w) = s.job(id).and_then(|j| j.spec.executor.worker()) {
                let e = waiting.entry(w.queue.clone()).or_default();
                e.0 += s.due_count(id, now, MAX_WAITING_COUNTED) as i64;
                e.1 = e.1.max(now - at);
            }
        }
    });
    i.worker_waiting.clear();
    i.oldest_waiting.clear();
    for (queue, (n, age)) in waiting {
        i.worker_waiting
            .get_or_create(&QueueLabel {
                queue: queue.clone(),
            })
            .set(n);
        i.oldest_waiting
            .get_or_create(&QueueLabel { queue })
            .set(age as f64 / 1000.0);
    }
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &i.registry) {
        tracing::warn!(error = %e, "encoding metrics");
    }
    out
}

/// Whether this node is ready: a member that knows a leader, not shutting
/// down. The same rule as the gRPC health service `""`
/// (`server::health::track_health`), which the base StatefulSet's readiness
/// probe asks; `GET /readyz` answers it where gRPC health cannot be asked
/// (without TLS). `Err` says why not.
pub fn ready(node: &Node) -> Result<(), &'static str> {
    let m = node.raft.metrics();
    let m = m.borrow();
    readiness(
        m.membership_config
            .membership()
            .get_node(&node.id)
            .is_some(),
        m.current_leader.is_some(),
        m.state,
    )
}

fn readiness(member: bool, leader_known: bool, state: ServerState) -> Result<(), &'static str> {
    if state == ServerState::Shutdown {
        Err("shutting down")
    } else if !member {
        Err("not a member of the cluster")
    } else if !leader_known {
        Err("no leader known")
    } else {
        Ok(())
    }
}

/// The answer to `GET /readyz`: 200 `ready`, or 503 with the reason.
fn readyz(ready: Result<(), &'static str>) -> (StatusCode, String) {
    match ready {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// Serves `/metrics` (and `/readyz`) at `addr` until the process ends.
pub async fn serve(
    addr: String,
    node: Node,
    hub: WorkerHub,
    lease: Lease,
    metrics: Metrics,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "metrics at /metrics, readiness at /readyz");
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
        let lease = lease.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let node = node.clone();
                let hub = hub.clone();
                let lease = lease.clone();
                let metrics = metrics.clone();
                async move {
                    let resp = if req.uri().path() == "/metrics" {
                        Response::builder()
                            .header(
                                "content-type",
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )
                            .body(Full::new(Bytes::from(render(
                                &node, &hub, &lease, &metrics,
                            ))))
                    } else if req.uri().path() == "/readyz" {
                        let (status, body) = readyz(ready(&node));
                        Response::builder()
                            .status(status)
                            .header("content-type", "text/plain; charset=utf-8")
                            .body(Full::new(Bytes::from(body)))
                    } else {
                        Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::new(Bytes::from("try /metrics or /readyz\n")))
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

#[cfg(test)]
mod readyz_tests {
    use super::*;

    #[test]
    fn reports_are_counted_by_kind() {
        use store::model::{AttemptOutcome, AttemptState, OccKey};
        let report = |outcome| store::command::Report {
            key: OccKey {
                job_id: "j".into(),
                scheduled_at: 0,
            },
            token: 1,
            node_id: 1,
            outcome,
        };
        let m = Metrics::new();
        m.reports_sent(&[
            report(AttemptOutcome::Started { at: 1 }),
            report(AttemptOutcome::Ran {
                started_at: 1,
                at: 2,
                state: AttemptState::Succeeded,
                exit_code: None,
                output_tail: String::new(),
            }),
            report(AttemptOutcome::Started { at: 1 }),
        ]);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.inner.registry).expect("encode");
        for line in [
            "scheduler_attempt_reports_total{report=\"started\"} 2",
            "scheduler_attempt_reports_total{report=\"ran\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in {out}");
        }
        assert!(!out.contains("report=\"finished\""), "{out}");
    }

    #[test]
    fn stale_reports_are_counted_in_the_exposition() {
        let m = Metrics::new();
        m.stale_reports(0);
        m.stale_reports(3);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.inner.registry).expect("encode");
        assert!(
            out.lines().any(|l| l == "scheduler_stale_reports_total 3"),
            "{out}"
        );
    }

    #[test]
    fn ready_only_as_a_member_that_knows_a_leader() {
        let ok = |m, l, s| readiness(m, l, s).is_ok();
        assert!(ok(true, true, ServerState::Follower));
        assert!(ok(true, true, ServerState::Leader));
        assert!(ok(true, true, ServerState::Learner));
        assert!(!ok(true, false, ServerState::Candidate));
        assert!(!ok(true, false, ServerState::Follower));
        assert!(!ok(false, true, ServerState::Learner));
        assert!(!ok(true, true, ServerState::Shutdown));
    }

    #[test]
    fn readyz_is_200_or_503_with_the_reason() {
        assert_eq!(readyz(Ok(())), (StatusCode::OK, "ready\n".to_string()));
        let (status, body) = readyz(readiness(true, false, ServerState::Candidate));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: no leader known\n");
    }
}
