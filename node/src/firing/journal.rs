//! The node-local durable record of started attempts (sled tree
//! `attempts`, keyed by fencing token). An attempt is recorded, and the
//! record flushed, *before* it starts; so a node that restarts never starts
//! the same attempt again. Its outcome is recorded before it is reported,
//! and the record is deleted once the report is committed, so a result is
//! re-sent to whichever node leads until it is in the log.

use serde::{Deserialize, Serialize};
use store::model::{AttemptOutcome, OccKey};
use tokio::sync::{mpsc, oneshot};

/// Name of the tree in the node's sled database.
const TREE: &str = "attempts";

/// One recorded attempt.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// The occurrence.
    pub key: OccKey,
    /// The attempt's fencing token.
    pub token: u64,
    /// The finished outcome, once known.
    pub outcome: Option<AttemptOutcome>,
}

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// sled failed.
    #[error("attempt journal: {0}")]
    Sled(#[from] sled::Error),
    /// An entry did not decode.
    #[error("attempt journal entry: {0}")]
    Codec(#[from] postcard::Error),
    /// A flush failed (the error is shared by every waiter of that flush).
    #[error("attempt journal flush: {0}")]
    Flush(String),
}

/// A waiter for the next flush: it gets the flush's error, if any.
type FlushWaiter = oneshot::Sender<Result<(), String>>;

/// The journal.
#[derive(Clone)]
pub struct Journal {
    tree: sled::Tree,
    /// Group commit: writers queue here after their insert, and one task
    /// flushes for everyone queued. One flush at a time also matters for
    /// correctness: sled 0.34 deadlocks when many `flush_async` calls run at
    /// once (each waits in its IO pool for a stability interval that needs a
    /// free pool thread; seen with ~300 attempts/s, every sled-io thread
    /// parked in `StabilityIntervals::wait`). A flush covers every write
    /// before it, so a waiter queued after its insert is covered by the next
    /// flush that starts.
    flushes: mpsc::UnboundedSender<FlushWaiter>,
}

impl Journal {
    /// Opens the journal in `db`. Must run inside a tokio runtime (it
    /// spawns the flusher task).
    pub fn open(db: &sled::Db) -> Result<Self, JournalError> {
        let tree = db.open_tree(TREE)?;
        let (flushes, rx) = mpsc::unbounded_channel();
        tokio::spawn(flush_loop(tree.clone(), rx));
        Ok(Journal { tree, flushes })
    }

    /// Whether an attempt with this token was ever started here (and not
    /// yet forgotten after its report was committed).
    pub fn contains(&self, token: u64) -> Result<bool, JournalError> {
        Ok(self.tree.contains_key(token.to_be_bytes())?)
    }

    /// Records `entry` durably (flushed before returning).
    pub async fn put(&self, entry: &Entry) -> Result<(), JournalError> {
        self.tree
            .insert(entry.token.to_be_bytes(), postcard::to_allocvec(entry)?)?;
        self.flush().await
    }

    /// Forgets an attempt whose report is committed. Not flushed by itself
    /// (the next flush carries it): if a crash loses the removal, the
    /// restarted node re-sends a report that the log already holds, which
    /// the state machine ignores; it never starts the attempt again.
    pub fn remove(&self, token: u64) -> Result<(), JournalError> {
        self.tree.remove(token.to_be_bytes())?;
        Ok(())
    }

    /// Waits for a flush that started after this call.
    async fn flush(&self) -> Result<(), JournalError> {
        let (done, wait) = oneshot::channel();
        self.flushes
            .send(done)
            .map_err(|_| JournalError::Flush("the flusher stopped".into()))?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(JournalError::Flush(e)),
            Err(_) => Err(JournalError::Flush("the flusher stopped".into())),
        }
    }

    /// Every recorded attempt, oldest token first.
    pub fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        self.tree
            .iter()
            .values()
            .map(|v| Ok(postcard::from_bytes(&v?)?))
            .collect()
    }
}

/// Flushes for every waiter queued when the flush starts, one flush at a
/// time, until every [`Journal`] handle is gone.
async fn flush_loop(tree: sled::Tree, mut rx: mpsc::UnboundedReceiver<FlushWaiter>) {
    while let Some(first) = rx.recv().await {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let result = tree
            .flush_async()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        for w in waiters {
            // A waiter that gave up is no concern of the flusher's.
            let _ = w.send(result.clone());
        }
    }
}
