//! The node-local durable record of started attempts, keyed by fencing
//! token: an append-only file of its own (`<data-dir>/attempts.wal`). An
//! attempt is recorded, and the record flushed, *before* it starts; so a
//! node that restarts never starts the same attempt again. Its outcome is
//! recorded before it is reported, and the record is deleted once the
//! report is committed, so a result is re-sent to whichever node leads
//! until it is in the log.
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
//! Why a file and not sled: the journal holds only the attempts in flight
//! (a few thousand records at most), is read whole at start-up and never
//! queried on disk, and is written three times per attempt (the start, the
//! outcome, the removal). As sled operations those writes were about a
//! tenth of a follower's CPU at 8,000 fires/s (`perf`, BENCHMARKS.md "CPU
//! per fire"); here a write is an insert into a map and a few bytes
//! appended to a buffer, and one writer task turns the buffer into one
//! `write` and one `fdatasync` per group of waiters.
//!
//! The file is a sequence of records, each `[len: u32 LE][xxh3-64 of the
//! payload: u64 LE][payload]`, the payload a postcard `Record`. Reading
//! stops at the first record that is short or whose checksum fails: a
//! write torn by a crash was never acknowledged as durable (its waiters
//! are answered only after the `fdatasync`), so dropping it, and the file
//! from there, loses nothing that was promised. When the file has grown
//! past [`COMPACT_AT`] (and four times the live records), the writer
//! rewrites it with the live records only: a new file, synced, renamed
//! over the old one, and the directory synced.
//!
//! Data dirs from before the file keep their records in a sled database
//! (`<data-dir>/journal`, tree `attempts`), or, older still, in the main
//! database's `attempts` tree: [`Journal::open`] moves them into the file,
//! makes it durable, and only then deletes them.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use store::model::{AttemptOutcome, OccKey};
use tokio::sync::{mpsc, oneshot};

/// Name of the sled tree of older versions (in their journal database,
/// and in the main database of older still).
const TREE: &str = "attempts";
/// The sled journal's directory under the data dir, in older versions.
const LEGACY_DIR: &str = "journal";
/// The journal file under the data dir.
const FILE: &str = "attempts.wal";
/// The file is rewritten with the live records only once it is this long
/// (and four times as long as they are): at 3,000 attempts/s on one node,
/// about once every 10 s.
pub const COMPACT_AT: u64 = 4 << 20;
/// A record's header: its payload's length and checksum.
const HEADER: usize = 12;
/// No record is this long (an outcome's output tail is bounded far below):
/// a length above it is a torn or corrupt header.
const MAX_RECORD: usize = 16 << 20;

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

/// One record of the file.
#[derive(Serialize, Deserialize)]
enum Record {
    /// The entry for its token, replacing any before it.
    Put(Entry),
    /// The token is forgotten.
    Remove(u64),
}

/// [`Record`] encoded without copying the entry (the same encoding).
#[derive(Serialize)]
enum RecordRef<'a> {
    Put(&'a Entry),
    Remove(u64),
}

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// sled failed (reading the records of an older version).
    #[error("attempt journal: {0}")]
    Sled(#[from] sled::Error),
    /// An entry did not encode or decode.
    #[error("attempt journal entry: {0}")]
    Codec(#[from] postcard::Error),
    /// Reading, writing or syncing the file failed.
    #[error("attempt journal file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A flush failed (the error is shared by every waiter of that flush).
    /// After one, every later write fails too: what reached the disk is
    /// unknown, so the node starts nothing more until it restarts and
    /// reads the file again.
    #[error("attempt journal flush: {0}")]
    Flush(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A waiter for a flush: it gets the flush's error, if any, and needs
/// the flush done by `by` (now, for a writer that waits on it at once).
struct FlushWaiter {
    done: oneshot::Sender<Result<(), String>>,
    by: tokio::time::Instant,
}

/// What the writers share with the flusher.
#[derive(Default)]
struct Inner {
    /// Every recorded attempt, by token: what the file says once the
    /// pending bytes are written.
    live: BTreeMap<u64, Entry>,
    /// Records not yet written.
    pending: Vec<u8>,
    /// Set by the first failed write or sync; every write fails after.
    failed: Option<String>,
}

/// The journal.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Mutex<Inner>>,
    /// Group commit: writers queue here after their record is in
    /// `pending`, and one task writes and syncs for everyone queued. A
    /// flush takes `pending` after it has taken its waiters, so it covers
    /// every record written before a waiter it answers.
    flushes: mpsc::UnboundedSender<FlushWaiter>,
}

/// Appends `record`, framed, to `out`.
fn frame(out: &mut Vec<u8>, record: &RecordRef<'_>) -> Result<(), JournalError> {
    let payload = postcard::to_allocvec(record)?;
    let len = u32::try_from(payload.len()).map_err(|_| {
        JournalError::Flush(format!("a record of {} bytes is too long", payload.len()))
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Replays `bytes` into `live`; returns the length of the whole records
/// read (the rest is a torn tail).
fn replay(bytes: &[u8], live: &mut BTreeMap<u64, Entry>) -> usize {
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let mut len = [0u8; 4];
        len.copy_from_slice(&header[..4]);
        let len = u32::from_le_bytes(len) as usize;
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&header[4..]);
        if len > MAX_RECORD {
            break;
        }
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if xxhash_rust::xxh3::xxh3_64(payload) != u64::from_le_bytes(sum) {
            break;
        }
        match postcard::from_bytes::<Record>(payload) {
            Ok(Record::Put(e)) => {
                live.insert(e.token, e);
            }
            Ok(Record::Remove(token)) => {
                live.remove(&token);
            }
            Err(_) => break,
        }
        at += HEADER + len;
    }
    at
}

/// Every live entry as `Put` records: the content of a compacted file.
fn snapshot(live: &BTreeMap<u64, Entry>) -> Result<Vec<u8>, JournalError> {
    let mut out = Vec::new();
    for e in live.values() {
        frame(&mut out, &RecordRef::Put(e))?;
    }
    Ok(out)
}

/// The file, owned by the flusher.
struct WalFile {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    len: u64,
    /// Compact when the file is this long.
    compact_at: u64,
    /// The floor of `compact_at`.
    min_compact_at: u64,
}

impl WalFile {
    fn open_append(path: &Path) -> Result<File, JournalError> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))
    }

    fn sync_dir(&self) -> Result<(), JournalError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), JournalError> {
        self.file.write_all(bytes).map_err(io_err(&self.path))?;
        self.file.sync_data().map_err(io_err(&self.path))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Replaces the file by `content`: written and synced apart, renamed
    /// over, the directory synced. A crash leaves the old file or the new.
    fn rewrite(&mut self, content: &[u8]) -> Result<(), JournalError> {
        let tmp = self.path.with_extension("wal.tmp");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(content).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(io_err(&self.path))?;
        self.sync_dir()?;
        self.file = Self::open_append(&self.path)?;
        self.len = content.len() as u64;
        self.compact_at = self.min_compact_at.max(self.len.saturating_mul(4));
        Ok(())
    }
}

/// What one flush writes: records appended, or the whole file anew.
enum Work {
    Append(Vec<u8>),
    Rewrite(Vec<u8>),
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A panic while holding the lock leaves a consistent map and buffer
    // (each is changed by one call): go on with them.
    inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Journal {
    /// Opens the journal under `data_dir`, moving over any records left by
    /// an older version (`main` is the node's main database). Must run
    /// inside a tokio runtime (it spawns the flusher task).
    pub fn open(data_dir: &Path, main: &sled::Db) -> Result<Self, JournalError> {
        Self::open_with(data_dir, main, COMPACT_AT)
    }

    /// [`Journal::open`] with the file compacted from `compact_at` bytes.
    pub fn open_with(
        data_dir: &Path,
        main: &sled::Db,
        compact_at: u64,
    ) -> Result<Self, JournalError> {
        let path = data_dir.join(FILE);
        let mut live = BTreeMap::new();
        let (bytes, existed) = match std::fs::read(&path) {
            Ok(b) => (b, true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), false),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let whole = replay(&bytes, &mut live);
        if whole < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = bytes.len() - whole,
                "attempt journal: dropping a torn tail (a write that was never acknowledged)"
            );
        }
        // Records of older versions: kept where the file has none newer.
        let legacy_dir = data_dir.join(LEGACY_DIR);
        let legacy_db = if legacy_dir.is_dir() {
            Some(sled::Config::new().path(&legacy_dir).open()?)
        } else {
            None
        };
        let legacy_main = main.open_tree(TREE)?;
        let mut migrated = false;
        let trees = legacy_db
            .as_ref()
            .map(|db| db.open_tree(TREE))
            .transpose()?
            .into_iter()
            .chain(std::iter::once(legacy_main.clone()));
        for tree in trees {
            for kv in tree.iter() {
                let (_, v) = kv?;
                let e: Entry = postcard::from_bytes(&v)?;
                migrated = true;
                live.entry(e.token).or_insert(e);
            }
        }
        let mut wal = WalFile {
            dir: data_dir.to_path_buf(),
            file: WalFile::open_append(&path)?,
            path,
            len: whole as u64,
            compact_at,
            min_compact_at: compact_at,
        };
        // A new file's name must be durable too, or a crash could lose the
        // file with every record its first flushes promised.
        if !existed {
            wal.sync_dir()?;
        }
        // A torn tail or moved records: rewrite the file whole (durable)
        // before anything is appended, and only then forget the originals.
        if whole < bytes.len() || migrated {
            wal.rewrite(&snapshot(&live)?)?;
        }
        if migrated {
            legacy_main.clear()?;
            legacy_main.flush()?;
        }
        // The old journal's directory goes once its records (if any) are in
        // the file, so later starts neither open nor read it again.
        if let Some(db) = legacy_db {
            drop(db);
            std::fs::remove_dir_all(&legacy_dir).map_err(io_err(&legacy_dir))?;
        }
        let inner = Arc::new(Mutex::new(Inner {
            live,
            ..Inner::default()
        }));
        let (flushes, rx) = mpsc::unbounded_channel();
        tokio::spawn(flush_loop(inner.clone(), wal, rx));
        Ok(Journal { inner, flushes })
    }

    /// Whether an attempt with this token was ever started here (and not
    /// yet forgotten after its report was committed).
    pub fn contains(&self, token: u64) -> Result<bool, JournalError> {
        Ok(lock(&self.inner).live.contains_key(&token))
    }

    /// Records `entry` durably (flushed before returning).
    pub async fn put(&self, entry: &Entry) -> Result<(), JournalError> {
        self.put_ahead(entry, std::time::Instant::now())?
            .durable()
            .await
    }

    /// Records `entry` now and queues the flush that makes it durable by
    /// `by`, without waiting for it: the runner records a start this way
    /// ahead of the due instant, so the flush is off the start's path, and
    /// waits on the returned [`Flushing`] only when the attempt is due.
    /// The flusher holds a flush until the earliest `by` it was asked for,
    /// so records with time to spare share one `fdatasync`.
    pub fn put_ahead(
        &self,
        entry: &Entry,
        by: std::time::Instant,
    ) -> Result<Flushing, JournalError> {
        {
            let mut g = lock(&self.inner);
            if let Some(e) = &g.failed {
                return Err(JournalError::Flush(e.clone()));
            }
            frame(&mut g.pending, &RecordRef::Put(entry))?;
            g.live.insert(entry.token, entry.clone());
        }
        self.flush_after(by)
    }

    /// Forgets an attempt whose report is committed. Not flushed by itself
    /// (the next flush carries it): if a crash loses the removal, the
    /// restarted node re-sends a report that the log already holds, which
    /// the state machine ignores; it never starts the attempt again.
    pub fn remove(&self, token: u64) -> Result<(), JournalError> {
        let mut g = lock(&self.inner);
        if g.live.remove(&token).is_some() {
            frame(&mut g.pending, &RecordRef::Remove(token))?;
        }
        Ok(())
    }

    /// Queues for a flush that starts after this call (the waiter is
    /// queued here, not on the first poll, so the flush covers every write
    /// before this call however late the caller waits).
    fn flush_after(&self, by: std::time::Instant) -> Result<Flushing, JournalError> {
        let (done, wait) = oneshot::channel();
        let by = tokio::time::Instant::from_std(by);
        self.flushes
            .send(FlushWaiter { done, by })
            .map_err(|_| JournalError::Flush("the flusher stopped".into()))?;
        Ok(Flushing { wait })
    }

    /// Every recorded attempt, oldest token first.
    pub fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        Ok(lock(&self.inner).live.values().cloned().collect())
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

/// Writes and syncs for every waiter queued when the flush starts, one
/// flush at a time, until every [`Journal`] handle is gone.
async fn flush_loop(
    inner: Arc<Mutex<Inner>>,
    wal: WalFile,
    mut rx: mpsc::UnboundedReceiver<FlushWaiter>,
) {
    let mut wal = Some(wal);
    while let Some(first) = rx.recv().await {
        let mut by = first.by;
        let mut waiters = vec![first];
        // Gather until the earliest deadline asked for (at once for an
        // urgent waiter): records written with time to spare share a flush.
        loop {
            while let Ok(w) = rx.try_recv() {
                by = by.min(w.by);
                waiters.push(w);
            }
            if by <= tokio::time::Instant::now() {
                break;
            }
            match tokio::time::timeout_at(by, rx.recv()).await {
                Ok(Some(w)) => {
                    by = by.min(w.by);
                    waiters.push(w);
                }
                // Every handle gone, or the deadline: flush now.
                Ok(None) | Err(_) => break,
            }
        }
        // Take the records after the waiters: each waiter's are among them
        // (or were written by an earlier flush).
        let work = {
            let mut g = lock(&inner);
            match (&g.failed, wal.as_ref()) {
                (Some(e), _) => Err(e.clone()),
                (None, None) => Err("the journal file was lost by a failed write".to_string()),
                (None, Some(w)) => {
                    let pending = std::mem::take(&mut g.pending);
                    if pending.is_empty() {
                        Ok(None)
                    } else if w.len + pending.len() as u64 >= w.compact_at {
                        // The live map already holds every pending record.
                        snapshot(&g.live)
                            .map(|s| Some(Work::Rewrite(s)))
                            .map_err(|e| e.to_string())
                    } else {
                        Ok(Some(Work::Append(pending)))
                    }
                }
            }
        };
        let result = match work {
            Err(e) => Err(e),
            Ok(None) => Ok(()),
            Ok(Some(w)) => {
                let Some(mut file) = wal.take() else {
                    continue;
                };
                let done = tokio::task::spawn_blocking(move || {
                    let r = match &w {
                        Work::Append(b) => file.append(b),
                        Work::Rewrite(b) => file.rewrite(b),
                    };
                    (file, r)
                })
                .await;
                match done {
                    Ok((file, r)) => {
                        wal = Some(file);
                        r.map_err(|e| e.to_string())
                    }
                    Err(e) => Err(format!("the journal writer panicked: {e}")),
                }
            }
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "attempt journal: a flush failed; no attempt starts here until a restart");
            lock(&inner).failed.get_or_insert_with(|| e.clone());
        }
        for w in waiters {
            // A waiter that gave up is no concern of the flusher's.
            let _ = w.done.send(result.clone());
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

    /// The tokens of the journal under `dir`, reopened (retried until a
    /// deadline, as a legacy sled database there is locked until its
    /// handles are gone).
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
    /// journal's file, and survive a reopen there.
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

    /// A flush asked for later waits for company, but an urgent one
    /// carries it: every waiter queued is answered by the flush that
    /// follows (one `fdatasync` for both).
    #[tokio::test]
    async fn an_urgent_flush_carries_the_records_that_had_time_to_spare() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = sled::open(dir.path().join("main")).expect("main db");
        let j = Journal::open(dir.path(), &main).expect("open");
        let later = std::time::Instant::now() + std::time::Duration::from_secs(600);
        let relaxed = j.put_ahead(&entry(1), later).expect("put ahead");
        j.put(&entry(2)).await.expect("put");
        // Asked for in ten minutes; done within seconds only if carried.
        tokio::time::timeout(std::time::Duration::from_secs(30), relaxed.durable())
            .await
            .expect("the relaxed record's flush was carried by the urgent one")
            .expect("flushed");
        drop(j);
        assert_eq!(reopened_tokens(dir.path(), &main).await, vec![1, 2]);
    }

    /// A record made ahead is readable at once and durable once its flush
    /// is awaited, however late the wait; one made and forgotten is gone.
    #[tokio::test]
    async fn a_record_made_ahead_is_durable_when_awaited_and_can_be_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = sled::open(dir.path().join("main")).expect("main db");
        {
            let j = Journal::open(dir.path(), &main).expect("open");
            let now = std::time::Instant::now();
            let kept = j.put_ahead(&entry(3), now).expect("put ahead");
            let dropped = j.put_ahead(&entry(4), now).expect("put ahead");
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

    /// Records of the sled journal of the version before the file move
    /// into it; the sled directory is deleted once the file is durable.
    #[tokio::test]
    async fn records_move_from_the_sled_journal_and_its_directory_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = sled::open(dir.path().join("main")).expect("main db");
        {
            let old = sled::open(dir.path().join(LEGACY_DIR)).expect("legacy journal");
            let tree = old.open_tree(TREE).expect("tree");
            for t in [4u64, 2] {
                tree.insert(
                    t.to_be_bytes(),
                    postcard::to_allocvec(&entry(t)).expect("encode"),
                )
                .expect("insert");
            }
            old.flush().expect("flush");
        }
        let tokens = reopened_tokens(dir.path(), &main).await;
        assert_eq!(tokens, vec![2, 4]);
        assert!(
            !dir.path().join(LEGACY_DIR).exists(),
            "the sled journal is deleted"
        );
        assert_eq!(reopened_tokens(dir.path(), &main).await, vec![2, 4]);
        // An old journal with no records goes too.
        drop(sled::open(dir.path().join(LEGACY_DIR)).expect("empty legacy journal"));
        assert_eq!(reopened_tokens(dir.path(), &main).await, vec![2, 4]);
        assert!(
            !dir.path().join(LEGACY_DIR).exists(),
            "the empty sled journal is deleted"
        );
    }

    /// A torn last write (a crash mid-append) is dropped at the next open,
    /// with nothing before it, and records appended after are read back.
    #[tokio::test]
    async fn a_torn_tail_is_dropped_and_what_came_before_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = sled::open(dir.path().join("main")).expect("main db");
        {
            let j = Journal::open(dir.path(), &main).expect("open");
            j.put(&entry(1)).await.expect("put");
            j.put(&entry(2)).await.expect("put");
        }
        let path = dir.path().join(FILE);
        let whole = std::fs::read(&path).expect("read");
        // The second record cut short, then garbage that looks like a header.
        let mut torn = whole[..whole.len() - 3].to_vec();
        torn.extend_from_slice(&[7, 0, 0, 0, 1, 2, 3]);
        std::fs::write(&path, &torn).expect("write");
        {
            let j = Journal::open(dir.path(), &main).expect("open");
            assert_eq!(j.entries().expect("entries").len(), 1);
            j.put(&entry(3)).await.expect("put");
        }
        assert_eq!(reopened_tokens(dir.path(), &main).await, vec![1, 3]);
        // A checksum that fails ends the reading as well.
        let mut bytes = std::fs::read(&path).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(reopened_tokens(dir.path(), &main).await, vec![1]);
    }

    /// Past its size bound the file is rewritten with the live records
    /// only, and reads back the same.
    #[tokio::test]
    async fn the_file_is_compacted_to_the_live_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = sled::open(dir.path().join("main")).expect("main db");
        let path = dir.path().join(FILE);
        {
            let j = Journal::open_with(dir.path(), &main, 4096).expect("open");
            for t in 0..500u64 {
                j.put(&entry(t)).await.expect("put");
                if t % 10 != 0 {
                    j.remove(t).expect("remove");
                }
            }
            j.put(&entry(1_000)).await.expect("put");
            let len = std::fs::metadata(&path).expect("metadata").len();
            assert!(len < 3 * 4096, "compacted: {len} bytes");
        }
        let want: Vec<u64> = (0..500).step_by(10).chain([1_000]).collect();
        assert_eq!(reopened_tokens(dir.path(), &main).await, want);
    }
}
