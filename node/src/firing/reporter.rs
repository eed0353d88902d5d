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
use store::model::AttemptOutcome;
use tokio::sync::{mpsc, oneshot};

use crate::node::{Node, now_ms};

/// Most reports in one entry (also bounds the tokens a retry may need).
pub const MAX_BATCH: usize = 4096;
/// How long the first report of a batch waits for company. Each batch is
/// a log entry (an fsync on every node): at 1,000 fires/s, 5 ms rather
/// than 2 cut the cluster's CPU per fire by about a seventh; a result is
/// committed up to 3 ms later, which nothing waits on so closely.
const WINDOW: Duration = Duration::from_millis(5);
/// Reports queued before senders wait.
const QUEUE: usize = 65_536;
/// How long a follower waits for the leader to commit its batch.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a committed batch may take to be applied here.
const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A report and who waits for it, if anyone: the log index that committed
/// it, or `None` when it is not known to be committed.
type Item = (Report, Option<oneshot::Sender<Option<u64>>>);

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

    /// Queues `report` for the next batch, with nobody waiting for it: a
    /// start. Nothing depends on a start being committed (the finish is
    /// re-sent until it is, and is a finish from any state the start would
    /// have left), so the run neither waits nor spawns a task for it; and
    /// when its finish joins the same batch, the two go as one `Ran`
    /// report ([`merge_starts`]).
    pub fn notify(&self, report: Report) {
        match self.tx.try_send((report, None)) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(item)) => {
                // Full only under overload: queued in the background, so
                // the run is not held up by its own start report.
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(item).await;
                });
            }
        }
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
            if self.tx.send((report, Some(done))).await.is_err() {
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
        let (batch, mut waiters) = merge_starts(batch);
        let mut reports = Vec::with_capacity(batch.len());
        for (report, waiter) in batch {
            reports.push(report);
            waiters.extend(waiter);
        }
        metrics.reports_sent(&reports);
        let index = commit(&node, reports, &metrics).await;
        for w in waiters {
            let _ = w.send(index);
        }
    }
}

/// Merges each start in `batch` with its run's finish when that is in the
/// batch too, into one `Ran` report where the finish was (a start always
/// comes first: one runner task sends both, in order). Per short run the
/// log then carries, and every node applies, one report rather than two;
/// the state machine applies a `Ran` as the two. Returns the batch and
/// the waiters of the starts merged away (answered as the batch is).
fn merge_starts(mut batch: Vec<Item>) -> (Vec<Item>, Vec<oneshot::Sender<Option<u64>>>) {
    let mut starts: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    let mut merged = vec![false; batch.len()];
    let mut any = false;
    for i in 0..batch.len() {
        let token = batch[i].0.token;
        match batch[i].0.outcome {
            AttemptOutcome::Started { .. } => {
                starts.insert(token, i);
            }
            AttemptOutcome::Finished { .. } => {
                let Some(j) = starts.remove(&token) else {
                    continue;
                };
                let AttemptOutcome::Started { at: started_at } = batch[j].0.outcome else {
                    continue;
                };
                if batch[j].0.key != batch[i].0.key || batch[j].0.node_id != batch[i].0.node_id {
                    continue;
                }
                let placeholder = AttemptOutcome::Started { at: started_at };
                if let AttemptOutcome::Finished {
                    at,
                    state,
                    exit_code,
                    output_tail,
                } = std::mem::replace(&mut batch[i].0.outcome, placeholder)
                {
                    batch[i].0.outcome = AttemptOutcome::Ran {
                        started_at,
                        at,
                        state,
                        exit_code,
                        output_tail,
                    };
                    merged[j] = true;
                    any = true;
                }
            }
            AttemptOutcome::Ran { .. } => {}
        }
    }
    if !any {
        return (batch, Vec::new());
    }
    let mut orphans = Vec::new();
    let kept = batch
        .into_iter()
        .zip(merged)
        .filter_map(|(item, gone)| {
            if gone {
                orphans.extend(item.1);
                None
            } else {
                Some(item)
            }
        })
        .collect();
    (kept, orphans)
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

#[cfg(test)]
mod tests {
    use super::*;
    use store::model::{AttemptState, OccKey};

    fn report(token: u64, outcome: AttemptOutcome) -> Report {
        Report {
            key: OccKey {
                job_id: format!("j{token}"),
                scheduled_at: 1_000,
            },
            token,
            node_id: 2,
            outcome,
        }
    }

    fn finished(at: i64) -> AttemptOutcome {
        AttemptOutcome::Finished {
            at,
            state: AttemptState::Succeeded,
            exit_code: Some(200),
            output_tail: "ok".into(),
        }
    }

    #[test]
    fn a_start_and_its_finish_in_one_batch_go_as_one_ran_report() {
        let (done, _wait) = oneshot::channel();
        let batch: Vec<Item> = vec![
            (report(1, AttemptOutcome::Started { at: 5 }), None),
            (report(2, AttemptOutcome::Started { at: 6 }), Some(done)),
            (report(1, finished(9)), None),
            (report(3, finished(10)), None),
            (report(2, finished(11)), None),
        ];
        let (kept, orphans) = merge_starts(batch);
        let outcomes: Vec<(u64, AttemptOutcome)> = kept
            .iter()
            .map(|(r, _)| (r.token, r.outcome.clone()))
            .collect();
        let ran = |started_at, at| AttemptOutcome::Ran {
            started_at,
            at,
            state: AttemptState::Succeeded,
            exit_code: Some(200),
            output_tail: "ok".into(),
        };
        assert_eq!(
            outcomes,
            vec![(1, ran(5, 9)), (3, finished(10)), (2, ran(6, 11))]
        );
        assert_eq!(
            orphans.len(),
            1,
            "the merged start's waiter is answered with the batch"
        );
    }

    #[test]
    fn reports_of_different_attempts_are_not_merged() {
        let mut other_node = report(1, finished(9));
        other_node.node_id = 3;
        let mut other_key = report(1, finished(9));
        other_key.key.scheduled_at = 2_000;
        for finish in [other_node, other_key] {
            let batch: Vec<Item> = vec![
                (report(1, AttemptOutcome::Started { at: 5 }), None),
                (finish.clone(), None),
            ];
            let (kept, orphans) = merge_starts(batch);
            let reports: Vec<Report> = kept.into_iter().map(|(r, _)| r).collect();
            assert_eq!(
                reports,
                vec![report(1, AttemptOutcome::Started { at: 5 }), finish]
            );
            assert!(orphans.is_empty());
        }
        // A finish without its start (sent in an earlier batch) stays one.
        let (kept, _) = merge_starts(vec![(report(4, finished(9)), None)]);
        assert_eq!(kept[0].0.outcome, finished(9));
    }
}
