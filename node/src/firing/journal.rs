//! The node-local durable record of started attempts (sled tree
//! `attempts`, keyed by fencing token). An attempt is recorded, and the
//! record flushed, *before* it starts; so a node that restarts never starts
//! the same attempt again. Its outcome is recorded before it is reported,
//! and the record is deleted once the report is committed, so a result is
//! re-sent to whichever node leads until it is in the log.

use serde::{Deserialize, Serialize};
use store::model::{AttemptOutcome, OccKey};

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
}

/// The journal.
#[derive(Clone)]
pub struct Journal {
    tree: sled::Tree,
    /// One flush at a time. sled 0.34 deadlocks when many `flush_async`
    /// calls run at once: each waits in its IO pool for a stability
    /// interval that needs a free pool thread (seen with ~300 attempts/s,
    /// every sled-io thread parked in `StabilityIntervals::wait`). A flush
    /// covers every write before it, so serialising loses nothing.
    flush_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Journal {
    /// Opens the journal in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, JournalError> {
        Ok(Journal {
            tree: db.open_tree(TREE)?,
            flush_lock: Default::default(),
        })
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

    /// Forgets an attempt whose report is committed.
    pub async fn remove(&self, token: u64) -> Result<(), JournalError> {
        self.tree.remove(token.to_be_bytes())?;
        self.flush().await
    }

    async fn flush(&self) -> Result<(), JournalError> {
        let _one_at_a_time = self.flush_lock.lock().await;
        self.tree.flush_async().await?;
        Ok(())
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
