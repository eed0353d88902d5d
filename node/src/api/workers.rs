//! `scheduler.v1.WorkerService`: one bidirectional session per worker
//! process, and the cluster-wide list of connected workers.
//!
//! The stream task only moves messages: assignments and cancels come from
//! the executor through the [`WorkerHub`]; results go back to the waiting
//! executor, or, when no executor here waits for them (a worker that
//! reconnected to another node, a resend after the node restarted), are
//! judged against the applied state and reported to the cluster directly.

use std::pin::Pin;
use std::time::Duration;

use proto::v1 as pb;
use proto::v1::worker_service_server::WorkerService;
use store::command::{Command, Report, ReportFate, Response as CmdResponse};
use store::model::{
    AttemptOutcome, AttemptState, MAX_FUNCTION_LEN, MAX_QUEUE_LEN, MAX_WORKER_FUNCTIONS,
    MAX_WORKER_QUEUES, MAX_WORKER_SLOTS, OccKey, validate_name,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::app::App;
use crate::node::{Node, now_ms};
use crate::workers::WorkerHub;
use crate::workers::hub::{NotPending, Outgoing};

/// How long a new stream may take to say hello.
const HELLO_WAIT: Duration = Duration::from_secs(10);
/// Messages queued towards one worker before it counts as not reading.
const OUTBOX: usize = 4096;
/// Longest hello description, in bytes.
const MAX_DESCRIPTION: usize = store::model::MAX_WORKER_DESCRIPTION;

type NodeStream = Pin<Box<dyn Stream<Item = Result<pb::NodeMessage, Status>> + Send>>;

/// Serves the worker API of one node.
#[derive(Clone)]
pub struct Workers {
    app: App,
    node: Node,
    hub: WorkerHub,
}

impl Workers {
    /// Serves the sessions of `app`'s worker hub.
    pub fn new(app: App) -> Self {
        Workers {
            node: app.node.clone(),
            hub: app.workers.clone(),
            app,
        }
    }
}

/// A hello's field that is wrong, as INVALID_ARGUMENT.
pub fn check_hello(h: &pb::WorkerHello) -> Result<(), Status> {
    let bad = |e: store::model::ValidationError| Status::invalid_argument(e.to_string());
    validate_name("hello.worker_id", &h.worker_id, MAX_QUEUE_LEN).map_err(bad)?;
    if h.queues.is_empty() || h.queues.len() > MAX_WORKER_QUEUES {
        return Err(Status::invalid_argument(format!(
            "hello.queues: give 1-{MAX_WORKER_QUEUES} queues, got {}",
            h.queues.len()
        )));
    }
    for (i, q) in h.queues.iter().enumerate() {
        validate_name(&format!("hello.queues[{i}]"), q, MAX_QUEUE_LEN).map_err(bad)?;
    }
    if h.functions.is_empty() || h.functions.len() > MAX_WORKER_FUNCTIONS {
        return Err(Status::invalid_argument(format!(
            "hello.functions: give 1-{MAX_WORKER_FUNCTIONS} functions, got {}",
            h.functions.len()
        )));
    }
    for (i, f) in h.functions.iter().enumerate() {
        validate_name(&format!("hello.functions[{i}]"), f, MAX_FUNCTION_LEN).map_err(bad)?;
    }
    if h.slots == 0 || h.slots > MAX_WORKER_SLOTS {
        return Err(Status::invalid_argument(format!(
            "hello.slots: {} is out of range 1-{MAX_WORKER_SLOTS}",
            h.slots
        )));
    }
    if h.description.len() > MAX_DESCRIPTION {
        return Err(Status::invalid_argument(format!(
            "hello.description: longer than {MAX_DESCRIPTION} bytes"
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl WorkerService for Workers {
    type SessionStream = NodeStream;

    async fn session(
        &self,
        req: Request<Streaming<pb::WorkerMessage>>,
    ) -> Result<Response<NodeStream>, Status> {
        let who = super::caller(&req);
        let mut inbound = req.into_inner();
        let first = tokio::time::timeout(HELLO_WAIT, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded(format!("no hello within {HELLO_WAIT:?}")))??;
        let hello = match first.and_then(|m| m.kind) {
            Some(pb::worker_message::Kind::Hello(h)) => h,
            _ => {
                return Err(Status::failed_precondition(
                    "the first message of a session must be a hello",
                ));
            }
        };
        check_hello(&hello)?;
        // A worker token may name the queues it serves.
        if let Some(q) = hello.queues.iter().find(|q| !who.may_serve(q)) {
            return Err(Status::permission_denied(format!(
                "hello.queues: token {} may not serve queue {q:?} (it may serve: {})",
                who.name,
                who.queues.join(", ")
            )));
        }
        let (tx, rx) = mpsc::channel(OUTBOX);
        let attached = self.hub.attach(&hello, tx.clone());
        let timing = self.hub.timing;
        let welcome = pb::WorkerWelcome {
            node_id: self.node.id,
            lease_ms: timing.lease.as_millis() as u32,
            heartbeat_every_ms: timing.heartbeat.as_millis() as u32,
            reattached: attached.reattached.clone(),
        };
        let _ = tx
            .send(Outgoing::Message(msg(pb::node_message::Kind::Welcome(
                welcome,
            ))))
            .await;
        tracing::info!(
            worker = %hello.worker_id,
            queues = ?hello.queues,
            slots = hello.slots,
            reattached = attached.reattached.len(),
            "worker session opened"
        );
        // Held attempts that nobody here waits for: recorded already (the
        // worker resends the result and is told it is accepted), or the
        // worker must stop them (another node's, or this node restarted).
        for held in attached.unknown {
            let this = self.clone();
            let worker = hello.worker_id.clone();
            tokio::spawn(async move { this.settle_held(&worker, held).await });
        }
        let worker_id = hello.worker_id.clone();
        let generation = attached.generation;
        // Heartbeats towards the worker.
        let beat = tx.clone();
        tokio::spawn(async move {
            let heartbeat = msg(pb::node_message::Kind::Heartbeat(pb::WorkerHeartbeat {}));
            loop {
                tokio::time::sleep(timing.heartbeat).await;
                if beat
                    .send(Outgoing::Message(heartbeat.clone()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        // Messages from the worker.
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match inbound.next().await {
                    Some(Ok(m)) => {
                        this.hub.heard(&worker_id, generation);
                        match m.kind {
                            Some(pb::worker_message::Kind::Result(r)) => {
                                let this = this.clone();
                                let worker = worker_id.clone();
                                tokio::spawn(async move { this.on_result(&worker, r).await });
                            }
                            Some(pb::worker_message::Kind::Started(s)) => {
                                tracing::debug!(worker = %worker_id, token = s.fencing_token, "worker started a function");
                            }
                            Some(pb::worker_message::Kind::Heartbeat(_)) => {}
                            Some(pb::worker_message::Kind::Hello(_)) => {
                                let _ = tx
                                    .send(Outgoing::End(crate::error::ApiError::Conflict(
                                        "a session says hello once; open a new session instead"
                                            .into(),
                                    )))
                                    .await;
                                break;
                            }
                            None => {}
                        }
                    }
                    Some(Err(e)) => {
                        tracing::info!(worker = %worker_id, error = %e, "worker session broke");
                        break;
                    }
                    None => {
                        tracing::info!(worker = %worker_id, "worker session closed");
                        break;
                    }
                }
            }
            this.hub.detach(&worker_id, generation);
        });
        let stream = ReceiverStream::new(rx).map(|out| match out {
            Outgoing::Message(m) => Ok(m),
            Outgoing::End(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn list_workers(
        &self,
        req: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let list = self.app.list_workers(&super::caller(&req)).await;
        Ok(Response::new(pb::ListWorkersResponse {
            workers: list.workers,
            unreachable: list.unreachable,
        }))
    }
}

fn msg(kind: pb::node_message::Kind) -> pb::NodeMessage {
    pb::NodeMessage { kind: Some(kind) }
}

fn ack(token: u64, fate: pb::ResultFate, reason: String) -> pb::node_message::Kind {
    pb::node_message::Kind::ResultAck(pb::WorkerResultAck {
        fencing_token: token,
        fate: fate as i32,
        reason,
    })
}

/// What the applied state says of an attempt that no executor here waits for.
enum Standing {
    /// The occurrence's current, open attempt, assigned to `node`.
    Current { key: OccKey, node: u64 },
    /// Already ended with a recorded outcome: its state and output tail.
    Ended(AttemptState, String),
    /// Not the current attempt (reassigned, retried, cancelled) or unknown.
    Stale(String),
}

impl Workers {
    fn standing(&self, occurrence_id: &str, token: u64) -> Standing {
        self.node.state.read(|s| {
            let Some(occ) = OccKey::parse(occurrence_id).and_then(|k| s.occurrence(&k)) else {
                return Standing::Stale(format!(
                    "unknown attempt: no occurrence {occurrence_id} with token {token}"
                ));
            };
            let Some(a) = occ.attempts.iter().find(|a| a.token == token) else {
                return Standing::Stale(format!(
                    "unknown attempt: occurrence {} has no attempt with token {token}",
                    occ.key.id()
                ));
            };
            let current = occ.current().is_some_and(|c| c.token == token);
            match a.state {
                AttemptState::Succeeded | AttemptState::Failed | AttemptState::TimedOut => {
                    Standing::Ended(a.state, a.output_tail.clone())
                }
                _ if current && occ.state.is_open() => Standing::Current {
                    key: occ.key.clone(),
                    node: a.node_id,
                },
                _ => Standing::Stale(format!(
                    "token {token} is no longer the current attempt of {}",
                    occ.key.id()
                )),
            }
        })
    }

    /// A held attempt that nobody here waits for, after a reconnect.
    async fn settle_held(&self, worker: &str, held: pb::HeldAttempt) {
        let token = held.fencing_token;
        // Another node's attempt (its executor waits out the lease, then
        // fails it as lost), one this node forgot in a restart, or one
        // already recorded (as this worker's result, or as failed when the
        // node restarted): the worker stops it if it still runs, so a retry
        // never overlaps it; a result it still holds is judged when resent.
        self.hub.send_to(
            worker,
            pb::node_message::Kind::Cancel(pb::WorkerCancel {
                fencing_token: token,
                reason: format!(
                    "stale: node {} does not hold this attempt; it is retried under a new token",
                    self.node.id
                ),
            }),
        );
    }

    /// A result from `worker`.
    async fn on_result(&self, worker: &str, r: pb::WorkerResult) {
        let token = r.fencing_token;
        let occurrence_id = r.occurrence_id.clone();
        let outcome = r.outcome;
        let output = r.output.clone();
        match self.hub.deliver(worker, r) {
            Ok(()) => return, // acknowledged once recorded (`WorkerHub::recorded`)
            Err(NotPending::AlreadyAcked) => {
                self.hub
                    .send_to(worker, ack(token, pb::ResultFate::Accepted, String::new()));
                return;
            }
            Err(NotPending::Unknown) => {}
        }
        let reply = match self.standing(&occurrence_id, token) {
            // A resend of what was recorded is accepted again; a result
            // that contradicts the record (the node failed the attempt as
            // lost or restarted meanwhile) is stale.
            Standing::Ended(state, tail) => {
                let same = match pb::WorkerOutcome::try_from(outcome) {
                    Ok(pb::WorkerOutcome::Succeeded) => state == AttemptState::Succeeded,
                    _ => {
                        state != AttemptState::Succeeded
                            && tail
                                == crate::attempt::tail::trim_front(
                                    output.clone(),
                                    store::model::MAX_OUTPUT_TAIL,
                                )
                    }
                };
                if same {
                    ack(token, pb::ResultFate::Accepted, String::new())
                } else {
                    ack(
                        token,
                        pb::ResultFate::Stale,
                        format!("the attempt was already recorded as {state:?}: {tail}"),
                    )
                }
            }
            Standing::Stale(why) => ack(token, pb::ResultFate::Stale, why),
            Standing::Current { key, node } => {
                let state = match pb::WorkerOutcome::try_from(outcome) {
                    Ok(pb::WorkerOutcome::Succeeded) => AttemptState::Succeeded,
                    _ => AttemptState::Failed,
                };
                let report = Report {
                    key,
                    token,
                    node_id: node,
                    outcome: AttemptOutcome::Finished {
                        at: now_ms(),
                        state,
                        exit_code: None,
                        output_tail: crate::attempt::tail::trim_front(
                            output,
                            store::model::MAX_OUTPUT_TAIL,
                        ),
                    },
                };
                match self
                    .node
                    .write(Command::Report {
                        now: now_ms(),
                        reports: vec![report],
                    })
                    .await
                {
                    Ok(w) => match w.response {
                        CmdResponse::Reported(f)
                            if matches!(
                                f.first(),
                                Some(ReportFate::Accepted | ReportFate::Duplicate)
                            ) =>
                        {
                            self.hub.remember(token);
                            ack(token, pb::ResultFate::Accepted, String::new())
                        }
                        _ => {
                            self.app.metrics.stale_reports(1);
                            ack(
                                token,
                                pb::ResultFate::Stale,
                                format!("token {token} is no longer the current attempt"),
                            )
                        }
                    },
                    // Not known to be recorded: no ack; the worker keeps it
                    // and resends it on its next session.
                    Err(e) => {
                        tracing::debug!(token, error = %e, "a worker's result could not be reported yet");
                        return;
                    }
                }
            }
        };
        self.hub.send_to(worker, reply);
    }
}
