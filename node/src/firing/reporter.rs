//! Batches attempt reports into few log entries. Every report waits at most
//! one batch window, and one `Report` command carries up to [`MAX_BATCH`]
//! of them. A log entry per report would cap the cluster at the log's entry
//! rate (two reports per run: started and finished).
//!
//! Batching happens twice: a follower's reporter sends its batch to the
//! leader in one `ReportResults` call, and the leader's handler feeds those
//! reports into the leader's own reporter, so the reports of every node
//! within one window share one log entry (DESIGN.md: "Results are batched
//! by the leader into the log").

use std::time::Duration;

use openraft::ServerState;
use proto::internal as ipb;
use proto::internal::node_service_client::NodeServiceClient;
use store::command::{Command, Report};
use tokio::sync::{mpsc, oneshot};

use crate::node::{Node, now_ms};

/// Most reports in one entry (also bounds the tokens a retry may need).
pub const MAX_BATCH: usize = 4096;
/// How long the first report of a batch waits for company.
const WINDOW: Duration = Duration::from_millis(2);
/// Reports queued before senders wait.
const QUEUE: usize = 65_536;
/// How long a follower waits for the leader to commit its batch.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

type Item = (Report, oneshot::Sender<bool>);

/// Handle to the batcher.
#[derive(Clone)]
pub struct Reporter {
    tx: mpsc::Sender<Item>,
}

impl Reporter {
    /// Starts the batcher for `node`.
    pub fn start(node: Node) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(batch_loop(node, rx));
        Reporter { tx }
    }

    /// Sends `report`; true once it is committed (accepted, duplicate or
    /// stale: either way the reporter may forget it).
    pub async fn send(&self, report: Report) -> bool {
        let (done, wait) = oneshot::channel();
        if self.tx.send((report, done)).await.is_err() {
            return false;
        }
        wait.await.unwrap_or(false)
    }

    /// Sends every report; true once all of them are committed.
    pub async fn send_all(&self, reports: Vec<Report>) -> bool {
        let mut waits = Vec::with_capacity(reports.len());
        for report in reports {
            let (done, wait) = oneshot::channel();
            if self.tx.send((report, done)).await.is_err() {
                return false;
            }
            waits.push(wait);
        }
        let mut all = true;
        for wait in waits {
            all &= wait.await.unwrap_or(false);
        }
        all
    }
}

async fn batch_loop(node: Node, mut rx: mpsc::Receiver<Item>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + WINDOW;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        let (reports, waiters): (Vec<Report>, Vec<oneshot::Sender<bool>>) =
            batch.into_iter().unzip();
        let ok = commit(&node, reports).await;
        for w in waiters {
            let _ = w.send(ok);
        }
    }
}

/// Commits one batch: as a log entry when this node leads, else through the
/// leader's `ReportResults`. False when it is not known to be committed
/// (the caller re-sends; a duplicate report is harmless).
async fn commit(node: &Node, reports: Vec<Report>) -> bool {
    if node.raft.metrics().borrow().state == ServerState::Leader {
        return node
            .write_as_leader(Command::Report {
                now: now_ms(),
                reports,
            })
            .await
            .is_ok();
    }
    let Some((_, addr)) = node.leader() else {
        return false;
    };
    let Ok(channel) = node.channels.get(&addr) else {
        return false;
    };
    let mut encoded = Vec::with_capacity(reports.len());
    for r in &reports {
        let Ok(bytes) = postcard::to_allocvec(r) else {
            tracing::error!(token = r.token, "encoding an attempt report");
            return false;
        };
        encoded.push(ipb::AttemptReport {
            occurrence_id: r.key.id(),
            fencing_token: r.token,
            report: bytes,
        });
    }
    let mut req = tonic::Request::new(ipb::ReportResultsRequest {
        node_id: node.id,
        reports: encoded,
    });
    req.set_timeout(RPC_TIMEOUT);
    match NodeServiceClient::new(channel).report_results(req).await {
        Ok(reply) => reply.into_inner().committed.len() == reports.len(),
        Err(e) => {
            tracing::debug!(error = %e, reports = reports.len(), "report batch not committed; will re-send");
            false
        }
    }
}
