//! Batches attempt reports into few log entries: every report waits at most
//! one batch window, and one `Report` command carries up to
//! [`MAX_BATCH`] of them. A log entry per report would cap the cluster at
//! the log's entry rate (two reports per run: started and finished).

use std::time::Duration;

use store::command::{Command, Report};
use tokio::sync::{mpsc, oneshot};

use crate::node::{Node, now_ms};

/// Most reports in one entry (also bounds the tokens a retry may need).
pub const MAX_BATCH: usize = 4096;
/// How long the first report of a batch waits for company.
const WINDOW: Duration = Duration::from_millis(2);
/// Reports queued before senders wait.
const QUEUE: usize = 65_536;

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
        let ok = node
            .write(Command::Report {
                now: now_ms(),
                reports,
            })
            .await
            .is_ok();
        for w in waiters {
            let _ = w.send(ok);
        }
    }
}
