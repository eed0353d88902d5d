//! Snapshot bytes and their persistence in the `raft_snapshot` tree.
//!
//! # Snapshot bytes
//!
//! ```text
//! state (State::encode) | meta (postcard SnapshotMeta) | meta_len: u32 BE | MAGIC (8 bytes)
//! ```
//!
//! The state comes first so that building a snapshot appends the small meta
//! to the encoded state in place instead of copying the (large) state into a
//! second buffer: one snapshot-sized buffer in memory per build. The trailer
//! (length + magic) is read from the end. The magic carries the format
//! version; a different layout gets a different magic.
//!
//! # Persistence
//!
//! The current snapshot is the pair `meta` + `data` (plus `build_seq`),
//! written in ONE sled batch and then flushed: a crash leaves either the old
//! pair or the new pair. Only one snapshot is kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::codec::{decode, encode};
use super::{SnapshotMeta, StoreError};

const SNAPSHOT_TREE: &str = "raft_snapshot";
const META_KEY: &[u8] = b"meta";
const DATA_KEY: &[u8] = b"data";
const BUILD_SEQ_KEY: &[u8] = b"build_seq";

/// Trailer magic, also the format version.
const MAGIC: &[u8; 8] = b"SCHSNAP1";
const TRAILER_LEN: usize = 4 + MAGIC.len();
/// Upper bound on the encoded meta (a membership of many nodes is still far
/// below this); protects the decoder from a garbage length.
const MAX_META_BYTES: usize = 16 * 1024 * 1024;

/// Appends meta and trailer to an encoded state, giving the snapshot bytes.
pub(crate) fn seal(mut state_bytes: Vec<u8>, meta: &SnapshotMeta) -> Result<Vec<u8>, StoreError> {
    let meta_bytes = encode("snapshot meta", meta)?;
    let meta_len = u32::try_from(meta_bytes.len())
        .ok()
        .filter(|&n| (n as usize) <= MAX_META_BYTES)
        .ok_or_else(|| StoreError::Corrupt {
            what: "snapshot meta",
            detail: format!(
                "{} bytes exceeds the limit of {MAX_META_BYTES}",
                meta_bytes.len()
            ),
        })?;
    state_bytes.reserve_exact(meta_bytes.len() + TRAILER_LEN);
    state_bytes.extend_from_slice(&meta_bytes);
    state_bytes.extend_from_slice(&meta_len.to_be_bytes());
    state_bytes.extend_from_slice(MAGIC);
    Ok(state_bytes)
}

/// Splits snapshot bytes into the embedded meta and the encoded state.
/// Truncated or foreign bytes are an error.
pub(crate) fn unseal(data: &[u8]) -> Result<(SnapshotMeta, &[u8]), StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        what: "snapshot data",
        detail,
    };
    if data.len() < TRAILER_LEN {
        return Err(corrupt(format!(
            "{} bytes is shorter than the trailer",
            data.len()
        )));
    }
    let (rest, trailer) = data.split_at(data.len() - TRAILER_LEN);
    let (len_bytes, magic) = trailer.split_at(4);
    if magic != MAGIC {
        return Err(corrupt(
            "bad magic (truncated, or not a snapshot of this format)".into(),
        ));
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(len_bytes);
    let meta_len = u32::from_be_bytes(len) as usize;
    if meta_len > MAX_META_BYTES || meta_len > rest.len() {
        return Err(corrupt(format!("meta length {meta_len} out of range")));
    }
    let (state, meta_bytes) = rest.split_at(rest.len() - meta_len);
    Ok((decode("snapshot meta", meta_bytes)?, state))
}

/// Whether a persist may replace a newer persisted snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replace {
    /// An install: openraft decided this snapshot is the state; always write.
    Always,
    /// A build: write only if not older than the persisted snapshot, so a
    /// slow build that raced an install never moves the snapshot backwards.
    IfNotOlder,
}

/// The persisted current snapshot. Cloning shares the handle.
#[derive(Clone)]
pub(crate) struct SnapshotStore {
    tree: sled::Tree,
    /// Serialises "compare with the persisted snapshot, then write".
    write_lock: Arc<tokio::sync::Mutex<()>>,
    /// Last snapshot build number, for unique snapshot ids across restarts.
    build_seq: Arc<AtomicU64>,
}

impl SnapshotStore {
    pub(crate) fn new(db: &sled::Db) -> Result<Self, StoreError> {
        let tree = db.open_tree(SNAPSHOT_TREE)?;
        let seq = match tree.get(BUILD_SEQ_KEY)? {
            Some(v) => {
                let bytes: [u8; 8] = v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    what: "snapshot build_seq",
                    detail: format!("expected 8 bytes, found {}", v.len()),
                })?;
                u64::from_be_bytes(bytes)
            }
            None => 0,
        };
        Ok(SnapshotStore {
            tree,
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
            build_seq: Arc::new(AtomicU64::new(seq)),
        })
    }

    /// A fresh build number.
    pub(crate) fn next_build_seq(&self) -> u64 {
        self.build_seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn read_meta(&self) -> Result<Option<SnapshotMeta>, StoreError> {
        match self.tree.get(META_KEY)? {
            Some(b) => Ok(Some(decode("snapshot meta", &b)?)),
            None => Ok(None),
        }
    }

    /// The persisted snapshot: its meta and bytes. The bytes are checked to
    /// carry the same meta.
    pub(crate) fn load(&self) -> Result<Option<(SnapshotMeta, sled::IVec)>, StoreError> {
        let (Some(meta), Some(data)) = (self.read_meta()?, self.tree.get(DATA_KEY)?) else {
            return Ok(None);
        };
        let (embedded, _) = unseal(&data)?;
        if embedded != meta {
            return Err(StoreError::Corrupt {
                what: "persisted snapshot",
                detail: format!(
                    "meta (id {}, last log {:?}) does not match the meta in its data (id {}, last log {:?})",
                    meta.snapshot_id, meta.last_log_id, embedded.snapshot_id, embedded.last_log_id
                ),
            });
        }
        Ok(Some((meta, data)))
    }

    /// Persists `data` (sealed snapshot bytes with meta `meta`) as the
    /// current snapshot, atomically and durably. Returns whether it was
    /// written (see [`Replace`]).
    pub(crate) async fn persist(
        &self,
        meta: &SnapshotMeta,
        data: &[u8],
        replace: Replace,
    ) -> Result<bool, StoreError> {
        let _guard = self.write_lock.lock().await;
        let persisted = match replace {
            Replace::IfNotOlder => self.read_meta()?,
            Replace::Always => None,
        };
        if let Some(current) = persisted.filter(|c| c.last_log_id > meta.last_log_id) {
            tracing::info!(new = ?meta.last_log_id, persisted = ?current.last_log_id, "not persisting a snapshot older than the persisted one");
            return Ok(false);
        }
        let mut batch = sled::Batch::default();
        batch.insert(META_KEY, encode("snapshot meta", meta)?);
        batch.insert(DATA_KEY, data);
        batch.insert(
            BUILD_SEQ_KEY,
            &self.build_seq.load(Ordering::Relaxed).to_be_bytes(),
        );
        self.tree.apply_batch(batch)?;
        self.tree.flush_async().await?;
        tracing::info!(snapshot_id = %meta.snapshot_id, last_log_id = ?meta.last_log_id, bytes = data.len(), "persisted snapshot");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_unseal_roundtrip_and_truncation_is_detected() {
        let meta = SnapshotMeta {
            snapshot_id: "x".into(),
            ..Default::default()
        };
        let data = seal(b"state-bytes".to_vec(), &meta).expect("seal");
        let (m, s) = unseal(&data).expect("unseal");
        assert_eq!(m, meta);
        assert_eq!(s, b"state-bytes");
        for cut in 0..data.len() {
            assert!(unseal(&data[..cut]).is_err(), "truncated at {cut} accepted");
        }
    }
}
