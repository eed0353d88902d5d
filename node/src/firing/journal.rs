//! The node-local durable record of started attempts (a sled database of
//! its own, `<data-dir>/journal`, keyed by fencing token). An attempt is
//! recorded, and the record flushed, *before* it starts; so a node that
//! restarts never starts the same attempt again. Its outcome is recorded
//! before it is reported, and the record is deleted once the report is
//! committed, so a result is re-sent to whichever node leads until it is
//! in the log.
//!
//! The runner records a start *ahead* of its due instant
//! ([`Journal::put_ahead`], about 100 ms before), so the flush (an fsync,
//! 1-5 ms on a virtual disk, and most of the start's p99) is done by the
//! time the attempt is due. The price: a record means "may have started",
//! not "started". A node that dies in those 100 ms reports the attempt
//! failed after its restart, although it never ran, rather than run it
//! late; an attempt that stops being due here (reassigned, deleted) has
//! its record removed.
//!
//! Why a database of its own: its flush is on the path of every start (it
//! must be durable before the run begins), and sharing the Raft log's
//! database made it wait for the log's writes too (p99 3.4 ms at 1,000
//! starts/s). Data dirs from before the split keep their records in the
//! main database's `attempts` tree; [`Journal::open`] moves them over.

use serde::{Deserialize, Serialize};
use store::model::{AttemptOutcome, OccKey};
use tokio::sync::{mpsc, oneshot};

/// Name of the tree (in the journal's own database, and in the main
/// database of data dirs written before the split).
const TREE: &str = "attempts";
/// The journal's directory under the data dir.
const DIR: &str = "journal";
/// sled's page cache for the journal: it holds only attempts in flight.
const CACHE_BYTES: u64 = 16 << 20;

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
    /// Opens the journal under `data_dir`, moving over any records left in
    /// `main` (the node's main database) by an older version. Must run
    /// inside a tokio runtime (it spawns the flusher task).
    pub fn open(data_dir: &std::path::Path, main: &sled::Db) -> Result<Self, JournalError> {
        let db = sled::Config::new()
            .path(data_dir.join(DIR))
            .cache_capacity(CACHE_BYTES)
            .open()?;
        let tree = db.open_tree(TREE)?;
        // Copy, make the copy durable, and only then forget the originals:
        // a crash in between leaves both, and the copy is idempotent.
        let legacy = main.open_tree(TREE)?;
        if !legacy.is_empty() {
            for kv in legacy.iter() {
                let (k, v) = kv?;
                tree.insert(k, v)?;
            }
            tree.flush()?;
            legacy.clear()?;
            legacy.flush()?;
        }
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
        self.put_ahead(entry)?.durable().await
    }

    /// Records `entry` now and queues the flush that makes it durable,
    /// without waiting for it: the runner records a start this way ahead
    /// of the due instant, so the flush is off the start's path, and waits
    /// on the returned [`Flushing`] only when the attempt is due.
    pub fn put_ahead(&self, entry: &Entry) -> Result<Flushing, JournalError> {
        self.tree
            .insert(entry.token.to_be_bytes(), postcard::to_allocvec(entry)?)?;
        self.flush_after()
    }

    /// Forgets an attempt whose report is committed. Not flushed by itself
    /// (the next flush carries it): if a crash loses the removal, the
    /// restarted node re-sends a report that the log already holds, which
    /// the state machine ignores; it never starts the attempt again.
    pub fn remove(&self, token: u64) -> Result<(), JournalError> {
        self.tree.remove(token.to_be_bytes())?;
        Ok(())
    }

    /// Queues for a flush that starts after this call (the waiter is
    /// queued here, not on the first poll, so the flush covers every write
    /// before this call however late the caller waits).
    fn flush_after(&self) -> Result<Flushing, JournalError> {
        let (done, wait) = oneshot::channel();
        self.flushes
            .send(done)
            .map_err(|_| JournalError::Flush("the flusher stopped".into()))?;
        Ok(Flushing { wait })
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

/// A queued flush: everything written before it was queued is durable
/// once [`Flushing::durable`] returns `Ok`.
#[derive(Debug)]
pub struct Flushing {
    wait: oneshot::Receiver<Result<(), String>>,
}

impl Flushing {
    /// Waits for the flush.
    pub async fn durable(self) -> Result<(), JournalError> {
        match self.wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(JournalError::Flush(e)),
            Err(_) => Err(JournalError::Flush("the flusher stopped".into())),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use store::model::AttemptState;

    fn entry(token: u64) -> Entry {
        Entry {
            key: OccKey {
                job_id: "j".into(),
                scheduled_at: 1_000,
            },
            token,
            outcome: Some(AttemptOutcome::Finished {
                at: 2_000,
                state: AttemptState::Succeeded,
                exit_code: Some(0),
                output_tail: String::new(),
            }),
        }
    }

    /// The tokens of the journal under `dir`, reopened once the handles of
    /// a closed one are gone: sled releases its file lock when the flusher
    /// task drops its tree, so poll for that rather than assume it.
    async fn reopened_tokens(dir: &std::path::Path, main: &sled::Db) -> Vec<u64> {
        let mut reopened = None;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while reopened.is_none() && std::time::Instant::now() < deadline {
            reopened = Journal::open(dir, main).ok();
            tokio::task::yield_now().await;
        }
        let j = reopened.expect("the journal reopens within 10 s");
        j.entries()
            .expect("entries")
            .iter()
            .map(|e| e.token)
            .collect()
    }

    /// Records left in the main database by an older version move to the
    /// journal's own database, and survive a reopen there.
    #[tokio::test]
    async fn records_move_from_the_main_database_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = sled::open(dir.path().join("main")).expect("main db");
        let legacy = main.open_tree(TREE).expect("legacy tree");
        let old = entry(7);
        legacy
            .insert(
                7u64.to_be_bytes(),
                postcard::to_allocvec(&old).expect("encode"),
            )
            .expect("insert");
        {
            let j = Journal::open(dir.path(), &main).expect("open");
            assert!(j.contains(7).expect("contains"));
            j.put(&entry(9)).await.expect("put");
        }
        assert!(legacy.is_empty(), "the legacy tree is emptied");
        assert_eq!(reopened_tokens(dir.path(), &main).await, vec![7, 9]);
    }

    /// A record made ahead is readable at once and durable once its flush
    /// is awaited, however late the wait; one made and forgotten is gone.
    #[tokio::test]
    async fn a_record_made_ahead_is_durable_when_awaited_and_can_be_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = sled::open(dir.path().join("main")).expect("main db");
        {
            let j = Journal::open(dir.path(), &main).expect("open");
            let kept = j.put_ahead(&entry(3)).expect("put ahead");
            let dropped = j.put_ahead(&entry(4)).expect("put ahead");
            assert!(j.contains(3).expect("contains") && j.contains(4).expect("contains"));
            j.remove(4).expect("remove");
            // Later writes, then the late wait: the queued flush covers
            // what was written before it was queued.
            tokio::task::yield_now().await;
            kept.durable().await.expect("flushed");
            drop(dropped);
            j.put(&entry(5)).await.expect("put");
        }
        assert_eq!(reopened_tokens(dir.path(), &main).await, vec![3, 5]);
    }
}
