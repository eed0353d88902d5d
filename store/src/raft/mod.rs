//! openraft 0.9 (storage v2) log storage and state machine on sled.
//!
//! # sled layout
//!
//! One sled [`sled::Db`] lives at `<data_dir>/raft`. It holds these trees:
//!
//! | tree | key | value (encoding) |
//! |---|---|---|
//! | `raft_log` | log index, `u64` big-endian (8 bytes, so byte order = index order) | `openraft::Entry<TypeConfig>` (postcard) |
//! | `raft_meta` | `b"vote"` | `Vote<u64>` (postcard) |
//! | `raft_meta` | `b"committed"` | `Option<LogId<u64>>` (postcard) |
//! | `raft_meta` | `b"last_purged"` | `LogId<u64>` (postcard) |
//! | `raft_snapshot` | `b"meta"` | `SnapshotMeta<u64, BasicNode>` (postcard) |
//! | `raft_snapshot` | `b"data"` | the snapshot bytes, exactly as sent to followers (see below) |
//! | `raft_snapshot` | `b"build_seq"` | `u64` big-endian, the last snapshot build number (for unique snapshot ids) |
//!
//! Other trees (for example the node's local `attempts` tree) may be opened by
//! the node on the same [`sled::Db`] through [`RaftStore::db`]; names starting
//! with `raft_` are reserved for this module.
//!
//! The snapshot bytes (what `get_current_snapshot` hands to openraft and a
//! follower receives) are `State::encode()` followed by the snapshot's own
//! postcard-encoded `SnapshotMeta`, the meta length (`u32` big-endian) and an
//! 8-byte magic `SCHSNAP1` that also names the format version (see
//! `snapshot.rs`). The meta travels inside the data so a snapshot is
//! self-describing: an install checks that the bytes carry the same meta
//! openraft hands over, and a truncated transfer is rejected before anything
//! changes.
//!
//! # Durability rule
//!
//! sled makes nothing durable until it is flushed. Every write that openraft
//! relies on for safety is flushed (`flush_async().await`) before it returns
//! or is acknowledged: `save_vote`, `append` (the callback fires only after
//! the flush), `truncate`, `purge`, and the persisting of a built or
//! installed snapshot. A flush flushes the whole Db, so it also covers every
//! earlier write. `save_committed` is the exception, by design: it is written
//! but not flushed (it is persisted by the next flush or sled's background
//! flush); losing it in a crash only means fewer entries are re-applied at
//! start-up, the rest follow when the leader reports the commit index again.
//!
//! The applied state itself is **not** persisted on each apply: it lives in
//! memory ([`StateMachineStore`]) and is persisted only as snapshots. On open
//! the state machine restores the persisted snapshot; openraft then re-applies
//! the log from the snapshot's last log id up to the saved committed log id
//! (`save_committed` / `read_committed`).
//!
//! The state machine's memory: the applied `State` is held once. Building a
//! snapshot encodes it into one buffer (meta appended in place); persisting
//! it makes sled copy that buffer once more, so a build peaks at about two
//! snapshot-sized buffers besides the state. `get_current_snapshot` reads the
//! persisted bytes from sled on demand; nothing else keeps a snapshot.
//!
//! # What the node uses
//!
//! - [`open`] / [`open_with`] → [`RaftStore`] { `db`, `log_store`,
//!   `state_machine` }; hand the two stores to `openraft::Raft::new`.
//! - Before that, [`StateMachineStore::handle`] → [`StateHandle`]:
//!   `read(|state| ..)` (synchronous, cheap), `last_applied()`,
//!   `last_membership()`, `subscribe_applied()` (a `watch` of the last
//!   applied index), `wait_applied(n)`, `subscribe_events()` (a `broadcast`
//!   of `state::Event`, capacity [`StoreOptions::event_channel_capacity`]).
//! - [`TypeConfig`] and the aliases below.
//!
//! # Invariants
//!
//! - The log has no holes: entries are contiguous from `last_purged + 1` to
//!   the last entry. `append` writes a batch atomically; `truncate` removes a
//!   suffix atomically; `purge` removes the prefix in steps of at most
//!   [`PURGE_CHUNK`] entries, each one sled transaction over `raft_log` and
//!   `raft_meta` that also moves `last_purged` to the last entry it removed,
//!   so `last_purged + 1` is always the first remaining entry.
//! - openraft purges only logs covered by a persisted snapshot, and a snapshot
//!   is persisted (flushed) before `build_snapshot` returns, so after a crash
//!   the snapshot plus the remaining log always cover every committed entry.
//! - The persisted snapshot never moves backwards: a snapshot whose last log
//!   id is older than the persisted one is not written (a slow build racing an
//!   install). Snapshot meta and data are written in one atomic sled batch,
//!   so a crash leaves either the old or the new snapshot, never a mix.
//! - Applying is deterministic; the state machine publishes the applied index
//!   on a `watch` channel and the events of each apply batch on a `broadcast`
//!   channel only after the in-memory state has changed.

mod codec;
mod error;
mod log_store;
mod snapshot;
mod state_machine;

use std::io::Cursor;
use std::path::Path;

pub use error::StoreError;
pub use log_store::{LogStore, MAX_BYTES_PER_READ, MAX_ENTRIES_PER_READ, PURGE_CHUNK};
pub use state_machine::{AppliedWatchClosed, StateHandle, StateMachineStore};

openraft::declare_raft_types!(
    /// openraft types of the scheduler cluster.
    pub TypeConfig:
        D = crate::command::Command,
        R = crate::command::Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Node id of a cluster member.
pub type NodeId = u64;
/// A Raft log entry of this cluster.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id (leader term and node, index).
pub type LogId = openraft::LogId<NodeId>;
/// A persisted vote.
pub type Vote = openraft::Vote<NodeId>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
/// A membership as stored with its log id.
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
/// openraft's storage error for this cluster.
pub type StorageError = openraft::StorageError<NodeId>;

/// Name of the sled directory under the node's data directory.
pub const DB_DIR: &str = "raft";

/// Default sled page-cache size. sled's own default (1 GiB) is far more than
/// a scheduler node needs; the cache is a ceiling, not an allocation.
pub const DEFAULT_CACHE_CAPACITY_BYTES: u64 = 128 * 1024 * 1024;

/// Options for [`open_with`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// sled page-cache capacity in bytes.
    pub cache_capacity_bytes: u64,
    /// Capacity of the event broadcast channel; a receiver that falls further
    /// behind than this gets `RecvError::Lagged`.
    pub event_channel_capacity: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_capacity_bytes: DEFAULT_CACHE_CAPACITY_BYTES,
            event_channel_capacity: state_machine::DEFAULT_EVENT_CHANNEL_CAPACITY,
        }
    }
}

/// The opened Raft storage of one node.
pub struct RaftStore {
    /// The sled database; the node may open its own trees on it.
    pub db: sled::Db,
    /// openraft log storage (hand to `Raft::new`).
    pub log_store: LogStore,
    /// openraft state machine (hand to `Raft::new`); clone
    /// [`StateMachineStore::handle`] first to read the state.
    pub state_machine: StateMachineStore,
}

/// Opens (or creates) the Raft storage under `data_dir/raft` with default options.
pub fn open(data_dir: &Path) -> Result<RaftStore, StoreError> {
    open_with(data_dir, &StoreOptions::default())
}

/// Opens (or creates) the Raft storage under `data_dir/raft`.
///
/// The state machine restores the persisted snapshot, if any.
pub fn open_with(data_dir: &Path, opts: &StoreOptions) -> Result<RaftStore, StoreError> {
    let path = data_dir.join(DB_DIR);
    let db = sled::Config::new()
        .path(&path)
        .cache_capacity(opts.cache_capacity_bytes)
        .open()?;
    tracing::info!(path = %path.display(), "opened raft storage");
    let log_store = LogStore::new(&db)?;
    let state_machine = StateMachineStore::new(&db, opts.event_channel_capacity)?;
    Ok(RaftStore {
        db,
        log_store,
        state_machine,
    })
}
