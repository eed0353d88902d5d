//! [`LogStore`]: openraft's `RaftLogStorage` and `RaftLogReader` on sled.
//!
//! Entries live in the `raft_log` tree keyed by big-endian index; the vote,
//! the committed log id and the last purged log id live in `raft_meta`.
//! Every write openraft relies on for safety is flushed before it is
//! acknowledged (see the module docs of [`crate::raft`]).

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::codec::{decode, encode, index_key, key_index};
use super::error::IntoStorage;
use super::{Entry, LogId, StorageError, StoreError, TypeConfig, Vote};

const LOG_TREE: &str = "raft_log";
const META_TREE: &str = "raft_meta";
const VOTE_KEY: &[u8] = b"vote";
const COMMITTED_KEY: &[u8] = b"committed";
const LAST_PURGED_KEY: &[u8] = b"last_purged";

/// At most this many entries are returned by one `limited_get_log_entries`
/// call, so one replication request stays bounded in memory and size.
pub const MAX_ENTRIES_PER_READ: usize = 4096;
/// At most about this many encoded bytes are returned by one
/// `limited_get_log_entries` call (at least one entry is always returned).
pub const MAX_BYTES_PER_READ: usize = 4 * 1024 * 1024;
/// A purge removes at most this many entries per sled transaction, so a
/// purge of a long log (e.g. behind an installed snapshot) is bounded in
/// memory; each step is atomic and consistent on its own.
pub const PURGE_CHUNK: usize = 8192;

/// Raft log storage on sled. Cloning is cheap (sled trees are shared
/// handles); a clone is the log reader given to replication tasks.
#[derive(Clone)]
pub struct LogStore {
    log: sled::Tree,
    meta: sled::Tree,
}

impl LogStore {
    /// Opens the log trees of `db`.
    pub fn new(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(LogStore {
            log: db.open_tree(LOG_TREE)?,
            meta: db.open_tree(META_TREE)?,
        })
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        match self.meta.get(key)? {
            Some(bytes) => Ok(Some(decode(what, &bytes)?)),
            None => Ok(None),
        }
    }

    fn last_purged(&self) -> Result<Option<LogId>, StoreError> {
        self.read_meta(LAST_PURGED_KEY, "last purged log id")
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StoreError> {
        match self.log.last()? {
            Some((key, bytes)) => Ok(Some(decode_entry(&key, &bytes)?.log_id)),
            None => Ok(None),
        }
    }

    /// Flushes the whole Db (sled flushes are Db-wide), so everything written
    /// before is durable when this returns.
    async fn flush(&self) -> Result<(), StoreError> {
        self.log.flush_async().await?;
        Ok(())
    }

    /// Removes up to [`PURGE_CHUNK`] entries at or below `log_id.index` and
    /// moves `last_purged` with them, in one transaction over both trees, so
    /// `last_purged` is always exactly one below the first remaining entry
    /// (no hole, whatever step a crash interrupts). Returns `true` once
    /// nothing at or below `log_id` is left and `last_purged` is `log_id`.
    ///
    /// Removing from the very start (not from the previous purge point) also
    /// sweeps up anything an earlier purge might have left.
    fn purge_step(&self, log_id: LogId) -> Result<bool, StoreError> {
        let keys = self
            .log
            .range(..=index_key(log_id.index))
            .keys()
            .take(PURGE_CHUNK)
            .collect::<Result<Vec<_>, _>>()?;
        let done = keys.len() < PURGE_CHUNK;
        let mark = match keys.last() {
            Some(last) if !done => match self.log.get(last)? {
                Some(bytes) => decode_entry(last, &bytes)?.log_id,
                None => {
                    return Err(StoreError::Corrupt {
                        what: "log",
                        detail: "entry vanished during purge (concurrent writer?)".into(),
                    });
                }
            },
            _ => log_id,
        };
        let mark = encode("last purged log id", &mark)?;
        let res: Result<(), TransactionError> =
            (&self.log, &self.meta).transaction(|(log, meta)| {
                meta.insert(LAST_PURGED_KEY, mark.as_slice())?;
                for key in &keys {
                    log.remove(key)?;
                }
                Ok::<(), ConflictableTransactionError>(())
            });
        res?;
        Ok(done)
    }

    /// Reads entries in `[lo, hi)` (hi `None` = to the end), stopping after
    /// `max_entries` entries or once `max_bytes` encoded bytes were read.
    fn read_range(
        &self,
        lo: u64,
        hi: Option<u64>,
        max_entries: usize,
        max_bytes: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let iter = match hi {
            Some(hi) if hi <= lo => return Ok(Vec::new()),
            Some(hi) => self.log.range(index_key(lo)..index_key(hi)),
            None => self.log.range(index_key(lo)..),
        };
        let mut out = Vec::new();
        let mut bytes_read = 0usize;
        for kv in iter {
            let (key, bytes) = kv?;
            bytes_read = bytes_read.saturating_add(bytes.len());
            out.push(decode_entry(&key, &bytes)?);
            if out.len() >= max_entries || bytes_read >= max_bytes {
                break;
            }
        }
        Ok(out)
    }
}

/// Decodes a log entry and checks that it sits under its own index.
fn decode_entry(key: &[u8], bytes: &[u8]) -> Result<Entry, StoreError> {
    let index = key_index(key)?;
    let entry: Entry = decode("log entry", bytes)?;
    if entry.log_id.index != index {
        return Err(StoreError::Corrupt {
            what: "log entry",
            detail: format!("entry {} stored under index {index}", entry.log_id),
        });
    }
    Ok(entry)
}

/// Converts a range over indexes into `[lo, hi)`; `None` if it is empty.
fn bounds<RB: RangeBounds<u64>>(range: &RB) -> Option<(u64, Option<u64>)> {
    let lo = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let hi = match range.end_bound() {
        Bound::Included(&i) => i.checked_add(1),
        Bound::Excluded(&i) => Some(i),
        Bound::Unbounded => None,
    };
    Some((lo, hi))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let Some((lo, hi)) = bounds(&range) else {
            return Ok(Vec::new());
        };
        self.read_range(lo, hi, usize::MAX, usize::MAX)
            .sto(ErrorSubject::Logs, ErrorVerb::Read)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        self.read_range(start, Some(end), MAX_ENTRIES_PER_READ, MAX_BYTES_PER_READ)
            .sto(ErrorSubject::Logs, ErrorVerb::Read)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id = self
            .last_purged()
            .sto(ErrorSubject::Logs, ErrorVerb::Read)?;
        let last_entry = self
            .last_entry_id()
            .sto(ErrorSubject::Logs, ErrorVerb::Read)?;
        // With no entry left (or, defensively, only entries at or below the
        // purge point) the last log id is the last purged one.
        let last_log_id = match (last_entry, last_purged_log_id) {
            (Some(e), Some(p)) if e.index <= p.index => Some(p),
            (Some(e), _) => Some(e),
            (None, p) => p,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let bytes = encode("vote", vote).sto(ErrorSubject::Vote, ErrorVerb::Write)?;
        self.meta
            .insert(VOTE_KEY, bytes)
            .sto(ErrorSubject::Vote, ErrorVerb::Write)?;
        self.flush()
            .await
            .sto(ErrorSubject::Vote, ErrorVerb::Write)?;
        tracing::debug!(%vote, "saved vote");
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_meta(VOTE_KEY, "vote")
            .sto(ErrorSubject::Vote, ErrorVerb::Read)
    }

    /// Not flushed here: losing the latest committed id in a crash only means
    /// fewer entries are re-applied at start-up (the rest are applied once the
    /// leader reports the commit index again). sled's background flush and
    /// every later flushed write persist it.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let bytes =
            encode("committed log id", &committed).sto(ErrorSubject::Store, ErrorVerb::Write)?;
        self.meta
            .insert(COMMITTED_KEY, bytes)
            .sto(ErrorSubject::Store, ErrorVerb::Write)?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed: Option<Option<LogId>> = self
            .read_meta(COMMITTED_KEY, "committed log id")
            .sto(ErrorSubject::Store, ErrorVerb::Read)?;
        Ok(committed.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // One sled batch: a crash keeps all of it or none of it, so no hole.
        let mut batch = sled::Batch::default();
        let mut last = None;
        for entry in entries {
            let bytes = encode("log entry", &entry)
                .sto(ErrorSubject::Log(entry.log_id), ErrorVerb::Write)?;
            batch.insert(&index_key(entry.log_id.index), bytes);
            last = Some(entry.log_id);
        }
        self.log
            .apply_batch(batch)
            .sto(ErrorSubject::Logs, ErrorVerb::Write)?;

        // The entries are readable now; acknowledge only once durable.
        match self.flush().await {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                tracing::trace!(last = ?last, "appended and flushed");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "flushing appended log entries failed");
                callback.log_io_completed(Err(io::Error::other(e.to_string())));
                Err(e.into_storage(ErrorSubject::Logs, ErrorVerb::Write))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "truncating log since (inclusive)");
        let mut batch = sled::Batch::default();
        for key in self.log.range(index_key(log_id.index)..).keys() {
            batch.remove(key.sto(ErrorSubject::Logs, ErrorVerb::Read)?);
        }
        // A single batch removes the whole suffix or nothing: no hole.
        self.log
            .apply_batch(batch)
            .sto(ErrorSubject::Logs, ErrorVerb::Delete)?;
        self.flush()
            .await
            .sto(ErrorSubject::Logs, ErrorVerb::Delete)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "purging log up to (inclusive)");
        while !self
            .purge_step(log_id)
            .sto(ErrorSubject::Logs, ErrorVerb::Delete)?
        {}
        self.flush()
            .await
            .sto(ErrorSubject::Logs, ErrorVerb::Delete)
    }
}
