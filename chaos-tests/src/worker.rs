//! The Rust test worker (`rust-worker`): a worker process that speaks
//! `WorkerService.Session` as docs/executors.md's "Workers" section says, for the
//! real-process tests, the chaos runs and the benchmarks.
//!
//! - One session at a time, to the node that worked last (else the next).
//! - Heartbeats every `heartbeat_every_ms` of the welcome.
//! - It fences itself: nothing heard from its node for `lease_ms` cancels
//!   every running function, connected or not.
//! - Results are kept until acknowledged and resent (with `held`) on the
//!   next session.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proto::v1 as pb;
use proto::v1::worker_service_client::WorkerServiceClient;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// What one worker process serves and where its effects go.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Node addresses.
    pub addrs: Vec<String>,
    /// Stable worker id.
    pub worker_id: String,
    /// Queues served.
    pub queues: Vec<String>,
    /// Functions served.
    pub functions: Vec<String>,
    /// Attempts at once.
    pub slots: u32,
    /// Fencing sink URL.
    pub sink: Option<String>,
    /// JSON-lines log of starts, effects, cancels and fences.
    pub log: Option<PathBuf>,
}

/// A function's arguments.
#[derive(Debug, Default, serde::Deserialize)]
struct FnArgs {
    #[serde(default)]
    sleep_ms: u64,
    #[serde(default)]
    fail: bool,
}

/// One attempt this worker holds: running, or ended with a result not yet
/// acknowledged.
struct Held {
    occurrence_id: String,
    cancel: watch::Sender<bool>,
    result: Option<pb::WorkerResult>,
}

struct Shared {
    cfg: WorkerConfig,
    held: Mutex<BTreeMap<u64, Held>>,
    last_heard: Mutex<Instant>,
    lease: Mutex<Duration>,
    log: Mutex<Option<std::fs::File>>,
    http: reqwest::Client,
    /// The current session's outbox: a function that ends sends its result
    /// on whatever session is open then (none: it waits for the next).
    outbox: Mutex<Option<mpsc::Sender<pb::WorkerMessage>>>,
}

impl Shared {
    fn log(&self, event: &str, token: u64, occurrence_id: &str) {
        let line = serde_json::json!({
            "at_ms": crate::observe::now_ms(),
            "event": event,
            "token": token,
            "occurrence_id": occurrence_id,
            "worker_id": self.cfg.worker_id,
        });
        // One write per line: `writeln!` of a JSON value on an unbuffered
        // file is a write call per fragment of it.
        let mut text = line.to_string();
        text.push('\n');
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = log.as_mut() {
            let _ = f.write_all(text.as_bytes());
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends on the current session, if any (else the message is lost;
    /// results are kept in `held` and resent on the next session).
    fn send(&self, m: pb::WorkerMessage) {
        if let Some(tx) = self
            .outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = tx.try_send(m);
        }
    }

    fn heard(&self) {
        *self.last_heard.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn silent_for(&self) -> Duration {
        self.last_heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// Cancels every running function: the worker's lease ran out.
    fn fence(&self) {
        for (token, h) in self.held().iter() {
            if h.result.is_none() && !*h.cancel.borrow() {
                let _ = h.cancel.send(true);
                self.log("fenced", *token, &h.occurrence_id);
            }
        }
    }
}

/// Runs the worker until the process is killed.
pub async fn run(cfg: WorkerConfig) -> anyhow::Result<()> {
    let log = match &cfg.log {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    };
    let shared = Arc::new(Shared {
        cfg,
        held: Mutex::default(),
        last_heard: Mutex::new(Instant::now()),
        lease: Mutex::new(Duration::from_secs(3)),
        log: Mutex::new(log),
        http: reqwest::Client::new(),
        outbox: Mutex::new(None),
    });
    // The fence: whatever the session does, silence for a lease cancels.
    let fence = shared.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let lease = *fence.lease.lock().unwrap_or_else(|p| p.into_inner());
            if fence.silent_for() > lease {
                fence.fence();
            }
        }
    });
    let mut next = 0usize;
    let mut backoff = Duration::from_millis(50);
    loop {
        let addr = shared.cfg.addrs[next % shared.cfg.addrs.len()].clone();
        match session(&shared, &addr).await {
            Ok(()) => backoff = Duration::from_millis(50),
            Err(e) => {
                tracing::info!(addr, error = %e, "session ended; reconnecting");
                next += 1;
            }
        }
        // Jittered, so a fleet of workers does not reconnect in step.
        let jitter = Duration::from_millis(u64::from(crate::observe::now_ms() as u32 % 50));
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

fn msg(kind: pb::worker_message::Kind) -> pb::WorkerMessage {
    pb::WorkerMessage { kind: Some(kind) }
}

/// One session, until its stream ends.
async fn session(shared: &Arc<Shared>, addr: &str) -> anyhow::Result<()> {
    let mut client = WorkerServiceClient::new(crate::secure::connect(addr).await?);
    let (tx, rx) = mpsc::channel::<pb::WorkerMessage>(1024);
    let held: Vec<pb::HeldAttempt> = shared
        .held()
        .iter()
        .map(|(t, h)| pb::HeldAttempt {
            occurrence_id: h.occurrence_id.clone(),
            fencing_token: *t,
        })
        .collect();
    tx.send(msg(pb::worker_message::Kind::Hello(pb::WorkerHello {
        worker_id: shared.cfg.worker_id.clone(),
        queues: shared.cfg.queues.clone(),
        functions: shared.cfg.functions.clone(),
        slots: shared.cfg.slots,
        held,
        description: format!("rust-worker pid {}", std::process::id()),
    })))
    .await?;
    let mut inbound = client.session(ReceiverStream::new(rx)).await?.into_inner();
    // Results not yet acknowledged are resent on every new session.
    *shared.outbox.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx.clone());
    let unacked: Vec<pb::WorkerResult> = shared
        .held()
        .values()
        .filter_map(|h| h.result.clone())
        .collect();
    for r in unacked {
        tx.send(msg(pb::worker_message::Kind::Result(r))).await?;
    }
    let mut beat = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            m = inbound.next() => {
                let Some(m) = m else { anyhow::bail!("stream closed by the node") };
                let m = m?;
                shared.heard();
                match m.kind {
                    Some(pb::node_message::Kind::Welcome(w)) => {
                        *shared.lease.lock().unwrap_or_else(|p| p.into_inner()) =
                            Duration::from_millis(u64::from(w.lease_ms));
                        beat = tokio::time::interval(Duration::from_millis(u64::from(w.heartbeat_every_ms.max(10))));
                        tracing::info!(node = w.node_id, reattached = w.reattached.len(), "session open");
                    }
                    Some(pb::node_message::Kind::Assignment(a)) => start(shared, a),
                    Some(pb::node_message::Kind::Cancel(c)) => {
                        if let Some(h) = shared.held().get(&c.fencing_token) {
                            let _ = h.cancel.send(true);
                        }
                        shared.log(&format!("cancel:{}", c.reason), c.fencing_token, "");
                    }
                    Some(pb::node_message::Kind::ResultAck(a)) => {
                        let fate = pb::ResultFate::try_from(a.fate).unwrap_or(pb::ResultFate::Unspecified);
                        shared.log(&format!("ack:{}", fate.as_str_name()), a.fencing_token, &a.reason);
                        shared.held().remove(&a.fencing_token);
                    }
                    Some(pb::node_message::Kind::Heartbeat(_)) | None => {}
                }
            }
            _ = beat.tick() => {
                tx.send(msg(pb::worker_message::Kind::Heartbeat(pb::WorkerHeartbeat {}))).await?;
            }
        }
    }
}

/// Starts the function of assignment `a`.
fn start(shared: &Arc<Shared>, a: pb::WorkerAssignment) {
    let token = a.fencing_token;
    let (cancel_tx, mut cancel_rx) = watch::channel(false);
    {
        let mut held = shared.held();
        if held.contains_key(&token) {
            return; // already running (a resent assignment)
        }
        held.insert(
            token,
            Held {
                occurrence_id: a.occurrence_id.clone(),
                cancel: cancel_tx,
                result: None,
            },
        );
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        shared.send(msg(pb::worker_message::Kind::Started(pb::WorkerStarted {
            fencing_token: token,
        })));
        shared.log("start", token, &a.occurrence_id);
        let args: FnArgs = serde_json::from_str(&a.args).unwrap_or_default();
        // No work asked: no trip through the timer wheel (up to 1 ms).
        let slept = args.sleep_ms == 0
            || tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(args.sleep_ms)) => true,
                _ = cancel_rx.wait_for(|c| *c) => false,
            };
        let (outcome, output) = if !slept {
            shared.log("cancelled", token, &a.occurrence_id);
            (pb::WorkerOutcome::Cancelled, "cancelled".to_string())
        } else {
            let effect = match &shared.cfg.sink {
                Some(url) => post_effect(&shared.http, url, &a).await,
                None => Ok(200),
            };
            shared.log(
                &format!("effect:{}", effect.as_ref().map_or(0, |s| *s)),
                token,
                &a.occurrence_id,
            );
            match (effect, args.fail) {
                (_, true) => (pb::WorkerOutcome::Failed, "failed as asked".to_string()),
                (Ok(_), false) => (pb::WorkerOutcome::Succeeded, "ok".to_string()),
                (Err(e), false) => (pb::WorkerOutcome::Failed, format!("sink: {e}")),
            }
        };
        let result = pb::WorkerResult {
            occurrence_id: a.occurrence_id.clone(),
            fencing_token: token,
            outcome: outcome as i32,
            output,
        };
        if let Some(h) = shared.held().get_mut(&token) {
            h.result = Some(result.clone());
        }
        shared.send(msg(pb::worker_message::Kind::Result(result)));
    });
}

/// Posts the attempt's effect with the contract's headers; the sink's
/// status (200 accepted, 409 refused).
async fn post_effect(
    http: &reqwest::Client,
    url: &str,
    a: &pb::WorkerAssignment,
) -> Result<u16, reqwest::Error> {
    let scheduled_at = a
        .scheduled_at
        .as_ref()
        .map(|t| store::model::time::rfc3339_ms(t.seconds * 1000 + i64::from(t.nanos / 1_000_000)))
        .unwrap_or_default();
    let r = http
        .post(url)
        .header("X-Scheduler-Job-Id", &a.job_id)
        .header("X-Scheduler-Occurrence-Id", &a.occurrence_id)
        .header("X-Scheduler-Scheduled-At", scheduled_at)
        .header("X-Scheduler-Fencing-Token", a.fencing_token.to_string())
        .header("X-Scheduler-Attempt", a.attempt.to_string())
        .header("X-Scheduler-Node-Id", a.node_id.to_string())
        .send()
        .await?;
    Ok(r.status().as_u16())
}

/// Starts a `rust-worker` process (`bin`) named `id` that serves
/// `queue`/`function` with `slots`, tries `addrs` in order and posts its
/// effects to `sink`. It logs to `<dir>.log` and its function log is
/// `<dir>.jsonl`; the process is killed when the [`Proc`] is dropped.
pub fn spawn(
    bin: &std::path::Path,
    dir: &std::path::Path,
    id: &str,
    addrs: &[String],
    (queue, function): (&str, &str),
    slots: u32,
    sink: &str,
) -> std::io::Result<crate::harness::Proc> {
    let mut args = vec![
        "--cluster".to_string(),
        addrs.join(","),
        "--id".into(),
        id.into(),
        "--queues".into(),
        queue.into(),
        "--functions".into(),
        function.into(),
        "--slots".into(),
        slots.to_string(),
        "--sink".into(),
        sink.into(),
        "--log".into(),
        dir.with_extension("jsonl").display().to_string(),
    ];
    if let Some(client) = crate::secure::client_dir() {
        args.extend(["--tls-client-dir".into(), client.display().to_string()]);
    }
    let launch = crate::harness::Launch {
        program: bin.to_path_buf(),
        args,
        env: vec![("RUST_LOG".into(), "info".into())],
    };
    crate::harness::Proc::start_with(0, "", dir, launch)
}
