//! Batches attempt reports into few log entries. Every report waits at most
//! one batch window, and one `Report` command carries up to [`MAX_BATCH`]
//! of them. A log entry per report would cap the cluster at the log's entry
//! rate (two reports per run: started and finished).
//!
//! Batching happens twice: a follower's reporter sends its batch to the
//! leader in one `ReportResults` call, and the leader's handler feeds those
//! reports into the leader's own reporter, so the reports of every node
//! within one window share one log entry (results are batched by the
//! leader into the log; ARCHITECTURE.md, "The life of an occurrence").

use std::time::Duration;

use openraft::ServerState;
use proto::internal as ipb;
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

/// How long a committed batch may take to be applied here.
const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A report and who waits for it: the log index that committed it, or
/// `None` when it is not known to be committed.
type Item = (Report, oneshot::Sender<Option<u64>>);

/// Handle to the batcher.
#[derive(Clone)]
pub struct Reporter {
    tx: mpsc::Sender<Item>,
    state: store::raft::StateHandle,
}

impl Reporter {
    /// Starts the batcher for `node`.
    pub fn start(node: Node, metrics: crate::metrics::Metrics) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let state = node.state.clone();
        tokio::spawn(batch_loop(node, rx, metrics));
        Reporter { tx, state }
    }

    /// Sends `report`; true once it is committed (accepted, duplicate or
    /// stale: either way the reporter may forget it) *and applied here*, so
    /// this node's runner never sees the attempt as still armed after its
    /// journal forgot it.
    pub async fn send(&self, report: Report) -> bool {
        let Some(index) = self.send_all(vec![report]).await else {
            return false;
        };
        // Waited here, not in the batch loop, so batches keep flowing. On a
        // timeout the report is re-sent; a duplicate report is harmless.
        let applied = tokio::time::timeout(APPLY_TIMEOUT, self.state.wait_applied(index)).await;
        matches!(applied, Ok(Ok(_)))
    }

    /// Sends every report; the index of the last entry that committed them,
    /// once all are committed (not waiting for this node to apply it: the
    /// leader's handler uses this, and the reporting node waits for itself).
    pub async fn send_all(&self, reports: Vec<Report>) -> Option<u64> {
        let mut waits = Vec::with_capacity(reports.len());
        for report in reports {
            let (done, wait) = oneshot::channel();
            if self.tx.send((report, done)).await.is_err() {
                return None;
            }
            waits.push(wait);
        }
        let mut last = 0;
        for wait in waits {
            last = last.max(wait.await.ok().flatten()?);
        }
        Some(last)
    }
}

async fn batch_loop(node: Node, mut rx: mpsc::Receiver<Item>, metrics: crate::metrics::Metrics) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + WINDOW;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        let (reports, waiters): (Vec<Report>, Vec<oneshot::Sender<Option<u64>>>) =
            batch.into_iter().unzip();
        let index = commit(&node, reports, &metrics).await;
        for w in waiters {
            let _ = w.send(index);
        }
    }
}

/// Commits one batch: as a log entry when this node leads, else through the
/// leader's `ReportResults`. The entry's index, or `None` when it is not
/// known to be committed (the caller re-sends; a duplicate is harmless).
async fn commit(
    node: &Node,
    reports: Vec<Report>,
    metrics: &crate::metrics::Metrics,
) -> Option<u64> {
    if node.raft.metrics().borrow().state == ServerState::Leader {
        let w = node
            .write_as_leader(Command::Report {
                now: now_ms(),
                reports,
            })
            .await
            .ok()?;
        if let store::command::Response::Reported(fates) = &w.response {
            metrics.stale_reports(
                fates
                    .iter()
                    .filter(|f| **f == store::command::ReportFate::Stale)
                    .count(),
            );
        }
        return Some(w.index);
    }
    let (_, addr) = node.leader()?;
    let channel = node.channels.get(&addr).ok()?;
    let mut encoded = Vec::with_capacity(reports.len());
    for r in &reports {
        let Ok(bytes) = postcard::to_allocvec(r) else {
            tracing::error!(token = r.token, "encoding an attempt report");
            return None;
        };
        encoded.push(ipb::AttemptReport {
            occurrence_id: r.key.id(),
            fencing_token: r.token,
            report: bytes,
        });
    }
    let req = ipb::ReportResultsRequest {
        node_id: node.id,
        reports: encoded,
    };
    match crate::peers::report_results(channel, req, RPC_TIMEOUT).await {
        Ok(reply) => (reply.committed.len() == reports.len()).then_some(reply.log_index),
        Err(e) => {
            tracing::debug!(error = %e, reports = reports.len(), "report batch not committed; will re-send");
            None
        }
    }
}
