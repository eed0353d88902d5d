//! The worker sessions of this node and the attempts they run.
//!
//! A session is keyed by its worker id, so a worker that reconnects (same
//! id) finds its attempts still waiting for it and re-attaches them. The
//! hub never hands a worker more attempts than its slots. Everything here
//! is in memory: a node that restarts has no sessions, its journal reports
//! its started attempts as failed, and reconnecting workers are told to
//! cancel what they held (stale).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proto::internal::Capacity;
use proto::v1 as pb;
use store::model::{UnixMs, WorkerSpec};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::attempt::RunContext;
use crate::node::now_ms;

/// What goes down one session's stream: a message, or the end of the
/// session with the reason (the gRPC adapter turns it into a status).
#[derive(Debug)]
pub enum Outgoing {
    /// A message to the worker.
    Message(pb::NodeMessage),
    /// The session ends, for this reason.
    End(crate::error::ApiError),
}

/// Where the hub sends one session's messages.
pub type Outbox = mpsc::Sender<Outgoing>;

/// How many acknowledged results are remembered, so a resend after a
/// reconnect is answered "accepted" without asking the cluster.
const REMEMBERED_ACKS: usize = 16_384;

/// Timing of every session on this node.
#[derive(Clone, Copy, Debug)]
pub struct WorkerTiming {
    /// A worker that hears nothing from its node for this long cancels its
    /// functions; the node declares it lost only after this plus `margin`
    /// of silence.
    pub lease: Duration,
    /// Extra wait past the lease before an attempt fails as "worker lost"
    /// (clock-rate differences, scheduling, the worker's cancel).
    pub margin: Duration,
    /// How often each side sends a heartbeat.
    pub heartbeat: Duration,
}

impl Default for WorkerTiming {
    fn default() -> Self {
        WorkerTiming {
            lease: Duration::from_secs(3),
            margin: Duration::from_secs(1),
            heartbeat: Duration::from_millis(500),
        }
    }
}

/// The result of an attempt, handed from the session to the executor.
pub type Delivered = pb::WorkerResult;

/// One attempt given to a worker and not yet ended.
struct Pending {
    occurrence_id: String,
    result: Option<oneshot::Sender<Delivered>>,
}

/// One worker process, connected or recently disconnected.
struct Session {
    /// Bumped on every (re)connect; a stream task only touches its own.
    generation: u64,
    queues: BTreeSet<String>,
    functions: BTreeSet<String>,
    slots: u32,
    description: String,
    /// `None` while disconnected (its attempts wait out the lease).
    outbox: Option<Outbox>,
    last_heard: Instant,
    connected_at: UnixMs,
    pending: BTreeMap<u64, Pending>,
}

impl Session {
    fn serves(&self, spec: &WorkerSpec) -> bool {
        self.queues.contains(&spec.queue) && self.functions.contains(&spec.function)
    }

    /// Connected and heard from within `lease`: a worker cut off (its
    /// stream blackholed) stops counting long before it counts as lost.
    fn live(&self, lease: Duration) -> bool {
        self.outbox.is_some() && self.last_heard.elapsed() < lease
    }

    fn free(&self) -> u32 {
        self.slots.saturating_sub(self.pending.len() as u32)
    }

    fn send(&self, msg: pb::node_message::Kind) {
        if let Some(out) = &self.outbox {
            // Full means the worker reads nothing: its silence will be
            // noticed by the lease, which is the one rule for a lost worker.
            let _ = out.try_send(Outgoing::Message(pb::NodeMessage { kind: Some(msg) }));
        }
    }
}

#[derive(Default)]
struct Inner {
    sessions: BTreeMap<String, Session>,
    /// Token -> worker id, for every pending attempt.
    owner: BTreeMap<u64, String>,
    /// Results handed to an executor, awaiting the node's durable record
    /// before the worker is told "accepted": token -> worker id.
    awaiting_ack: BTreeMap<u64, String>,
    /// Recently acknowledged tokens, oldest first.
    acked: VecDeque<u64>,
    acked_set: BTreeSet<u64>,
    next_generation: u64,
}

/// What a (re)connecting worker gets back.
pub struct Attached {
    /// This connection's generation.
    pub generation: u64,
    /// Held attempts that are still waiting here: re-attached.
    pub reattached: Vec<u64>,
    /// Held attempts this node does not wait for: the worker must cancel
    /// them, unless their result was already recorded (then resend it).
    pub unknown: Vec<pb::HeldAttempt>,
}

/// Why a result was not handed to a waiting executor.
pub enum NotPending {
    /// This node acknowledged it before: accepted.
    AlreadyAcked,
    /// Nobody here waits for it: ask the cluster's state.
    Unknown,
}

/// The worker sessions of one node. Cheap to clone.
#[derive(Clone)]
pub struct WorkerHub {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
    /// This node's id (in assignments and messages).
    pub node_id: u64,
    /// Lease, margin and heartbeat of every session.
    pub timing: WorkerTiming,
}

impl WorkerHub {
    /// An empty hub for node `node_id`.
    pub fn new(node_id: u64, timing: WorkerTiming) -> Self {
        WorkerHub {
            inner: Arc::default(),
            changed: Arc::default(),
            node_id,
            timing,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves after the next change to what the workers serve (a
    /// session opened or closed), never for an attempt given or ended:
    /// slots in use are not part of the capacity report.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// A worker said hello. A worker id already connected is taken over
    /// (the old stream is a broken connection the node has not noticed
    /// yet). Pending attempts the worker no longer holds died with its
    /// process: they are failed at once.
    pub fn attach(&self, hello: &pb::WorkerHello, outbox: Outbox) -> Attached {
        let mut inner = self.lock();
        inner.next_generation += 1;
        let generation = inner.next_generation;
        let held: BTreeSet<u64> = hello.held.iter().map(|h| h.fencing_token).collect();
        let mut reattached = Vec::new();
        let mut dropped = Vec::new();
        let session = inner
            .sessions
            .entry(hello.worker_id.clone())
            .or_insert_with(|| Session {
                generation,
                queues: BTreeSet::new(),
                functions: BTreeSet::new(),
                slots: 0,
                description: String::new(),
                outbox: None,
                last_heard: Instant::now(),
                connected_at: now_ms(),
                pending: BTreeMap::new(),
            });
        session.generation = generation;
        session.queues = hello.queues.iter().cloned().collect();
        session.functions = hello.functions.iter().cloned().collect();
        session.slots = hello.slots;
        session.description = hello.description.clone();
        session.outbox = Some(outbox);
        session.last_heard = Instant::now();
        session.connected_at = now_ms();
        for (token, p) in session.pending.iter_mut() {
            if held.contains(token) {
                reattached.push(*token);
            } else if let Some(tx) = p.result.take() {
                // The worker restarted: whatever ran died with it.
                let _ = tx.send(pb::WorkerResult {
                    occurrence_id: p.occurrence_id.clone(),
                    fencing_token: *token,
                    outcome: pb::WorkerOutcome::Failed as i32,
                    output: format!(
                        "worker lost: worker {} reconnected without this attempt (restarted)",
                        hello.worker_id
                    ),
                });
                dropped.push(*token);
            }
        }
        for t in &dropped {
            session.pending.remove(t);
        }
        for t in &dropped {
            inner.owner.remove(t);
        }
        let unknown = hello
            .held
            .iter()
            .filter(|h| !reattached.contains(&h.fencing_token))
            .cloned()
            .collect();
        drop(inner);
        self.changed.notify_one();
        Attached {
            generation,
            reattached,
            unknown,
        }
    }

    /// The stream of connection `generation` ended. Its attempts stay,
    /// waiting out the lease for a reconnect.
    pub fn detach(&self, worker_id: &str, generation: u64) {
        let mut inner = self.lock();
        let Some(s) = inner.sessions.get_mut(worker_id) else {
            return;
        };
        if s.generation != generation {
            return;
        }
        s.outbox = None;
        if s.pending.is_empty() {
            inner.sessions.remove(worker_id);
        }
        drop(inner);
        self.changed.notify_one();
    }

    /// A message came from connection `generation` of `worker_id`.
    pub fn heard(&self, worker_id: &str, generation: u64) {
        if let Some(s) = self.lock().sessions.get_mut(worker_id)
            && s.generation == generation
        {
            s.last_heard = Instant::now();
        }
    }

    /// Whether a connected worker here serves `spec` and has a free slot.
    pub fn can_take(&self, spec: &WorkerSpec) -> bool {
        let lease = self.timing.lease;
        self.lock()
            .sessions
            .values()
            .any(|s| s.live(lease) && s.serves(spec) && s.free() > 0)
    }

    /// Gives the attempt of `ctx` to the least loaded connected worker that
    /// serves `spec` and has a free slot, and returns where its result
    /// will arrive; `Err` says why no worker took it.
    pub fn assign(&self, spec: &WorkerSpec, ctx: &RunContext) -> Result<Claim, String> {
        let mut inner = self.lock();
        let lease = self.timing.lease;
        let Some((worker_id, _)) = inner
            .sessions
            .iter()
            .filter(|(_, s)| s.live(lease) && s.serves(spec) && s.free() > 0)
            .map(|(id, s)| {
                (
                    id.clone(),
                    (s.pending.len() as u64 * 1024) / u64::from(s.slots),
                )
            })
            .min_by_key(|(id, load)| (*load, id.clone()))
        else {
            return Err(format!(
                "{} connected to node {}",
                spec.no_worker_reason(),
                self.node_id
            ));
        };
        let (tx, rx) = oneshot::channel();
        let deadline = ctx
            .timeout
            .map(|t| proto::time::timestamp(now_ms() + t.as_millis() as UnixMs));
        let assignment = pb::WorkerAssignment {
            job_id: ctx.job_id.clone(),
            occurrence_id: ctx.occurrence_id.clone(),
            scheduled_at: Some(proto::time::timestamp(ctx.scheduled_at_ms)),
            fencing_token: ctx.fencing_token,
            attempt: ctx.attempt,
            node_id: ctx.node_id,
            queue: spec.queue.clone(),
            function: spec.function.clone(),
            args: spec.args.clone().unwrap_or_else(|| "null".into()),
            deadline,
            worker_id: worker_id.clone(),
        };
        inner.owner.insert(ctx.fencing_token, worker_id.clone());
        let Some(session) = inner.sessions.get_mut(&worker_id) else {
            return Err("worker session vanished".into());
        };
        session.pending.insert(
            ctx.fencing_token,
            Pending {
                occurrence_id: ctx.occurrence_id.clone(),
                result: Some(tx),
            },
        );
        session.send(pb::node_message::Kind::Assignment(assignment));
        Ok(Claim {
            hub: self.clone(),
            token: ctx.fencing_token,
            worker_id,
            result: rx,
        })
    }

    /// Asks the worker running `token` to cancel it.
    pub fn cancel(&self, token: u64, reason: &str) {
        let inner = self.lock();
        if let Some(s) = inner.owner.get(&token).and_then(|w| inner.sessions.get(w)) {
            s.send(pb::node_message::Kind::Cancel(pb::WorkerCancel {
                fencing_token: token,
                reason: reason.to_string(),
            }));
        }
    }

    /// Sends `msg` to connection `generation` of `worker_id` (if current).
    pub fn send_to(&self, worker_id: &str, msg: pb::node_message::Kind) {
        if let Some(s) = self.lock().sessions.get(worker_id) {
            s.send(msg);
        }
    }

    /// Why the worker running `token` counts as lost: silent for longer
    /// than its lease plus the margin (its stream broke or is cut off), so
    /// it has cancelled the function itself by now. `None` while it may
    /// still be running it.
    pub fn lost(&self, token: u64) -> Option<String> {
        let inner = self.lock();
        let worker = inner.owner.get(&token)?;
        let Some(s) = inner.sessions.get(worker) else {
            return Some(format!("worker lost: worker {worker} is gone"));
        };
        let silent = s.last_heard.elapsed();
        (silent > self.timing.lease + self.timing.margin).then(|| {
            format!(
                "worker lost: worker {worker} on node {} last heard {} ms ago (lease {} ms)",
                self.node_id,
                silent.as_millis(),
                self.timing.lease.as_millis()
            )
        })
    }

    /// A worker sent the result of `token`: hand it to the waiting executor
    /// (the worker is acknowledged once the node has recorded it).
    pub fn deliver(&self, worker_id: &str, result: pb::WorkerResult) -> Result<(), NotPending> {
        let token = result.fencing_token;
        let mut inner = self.lock();
        if inner.acked_set.contains(&token) {
            return Err(NotPending::AlreadyAcked);
        }
        let owner = inner.owner.get(&token).cloned();
        let Some(owner) = owner else {
            return Err(NotPending::Unknown);
        };
        let tx = inner
            .sessions
            .get_mut(&owner)
            .and_then(|s| s.pending.get_mut(&token))
            .and_then(|p| p.result.take());
        let Some(tx) = tx else {
            return Err(NotPending::Unknown);
        };
        inner.awaiting_ack.insert(token, worker_id.to_string());
        drop(inner);
        if tx.send(result).is_err() {
            return Err(NotPending::Unknown);
        }
        Ok(())
    }

    /// The node has recorded the outcome of `token` durably: tell the
    /// worker whose result it was that it is accepted.
    pub fn recorded(&self, token: u64) {
        let mut inner = self.lock();
        let Some(worker) = inner.awaiting_ack.remove(&token) else {
            return;
        };
        Self::remember_ack(&mut inner, token);
        if let Some(s) = inner.sessions.get(&worker) {
            s.send(pb::node_message::Kind::ResultAck(pb::WorkerResultAck {
                fencing_token: token,
                fate: pb::ResultFate::Accepted as i32,
                reason: String::new(),
            }));
        }
    }

    /// Remembers that `token`'s result was acknowledged.
    pub fn remember(&self, token: u64) {
        Self::remember_ack(&mut self.lock(), token);
    }

    fn remember_ack(inner: &mut Inner, token: u64) {
        if inner.acked_set.insert(token) {
            inner.acked.push_back(token);
            while inner.acked.len() > REMEMBERED_ACKS {
                if let Some(old) = inner.acked.pop_front() {
                    inner.acked_set.remove(&old);
                }
            }
        }
    }

    fn release(&self, worker_id: &str, token: u64) {
        let mut inner = self.lock();
        inner.owner.remove(&token);
        let remove_session = match inner.sessions.get_mut(worker_id) {
            Some(s) => {
                s.pending.remove(&token);
                s.outbox.is_none() && s.pending.is_empty()
            }
            None => false,
        };
        if remove_session {
            inner.sessions.remove(worker_id);
        }
    }

    /// What the connected workers serve, per (queue, function), for the
    /// leader's assignment.
    pub fn capacity(&self) -> Vec<Capacity> {
        let inner = self.lock();
        let mut by: BTreeMap<(String, String), (u32, u32)> = BTreeMap::new();
        for s in inner
            .sessions
            .values()
            .filter(|s| s.live(self.timing.lease))
        {
            for q in &s.queues {
                for f in &s.functions {
                    let e = by.entry((q.clone(), f.clone())).or_default();
                    e.0 += 1;
                    e.1 += s.slots;
                }
            }
        }
        by.into_iter()
            .map(|((queue, function), (workers, slots))| Capacity {
                queue,
                function,
                workers,
                slots,
            })
            .collect()
    }

    /// The connected workers, for `ListWorkers`.
    pub fn list(&self) -> Vec<pb::WorkerInfo> {
        self.lock()
            .sessions
            .iter()
            .filter(|(_, s)| s.outbox.is_some())
            .map(|(id, s)| pb::WorkerInfo {
                worker_id: id.clone(),
                node_id: self.node_id,
                queues: s.queues.iter().cloned().collect(),
                functions: s.functions.iter().cloned().collect(),
                slots: s.slots,
                in_flight: s.pending.len() as u32,
                connected_at: Some(proto::time::timestamp(s.connected_at)),
                description: s.description.clone(),
            })
            .collect()
    }

    /// Connected workers per queue, for metrics.
    pub fn per_queue(&self) -> BTreeMap<String, u64> {
        let inner = self.lock();
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for s in inner.sessions.values().filter(|s| s.outbox.is_some()) {
            for q in &s.queues {
                *out.entry(q.clone()).or_default() += 1;
            }
        }
        out
    }
}

/// An attempt given to a worker. Dropping it frees the worker's slot.
pub struct Claim {
    hub: WorkerHub,
    /// The attempt's token.
    pub token: u64,
    /// The worker running it.
    pub worker_id: String,
    /// Where its result arrives.
    pub result: oneshot::Receiver<Delivered>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.hub.release(&self.worker_id, self.token);
    }
}
