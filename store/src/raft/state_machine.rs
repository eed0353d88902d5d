//! [`StateMachineStore`]: openraft's `RaftStateMachine` and
//! `RaftSnapshotBuilder`, with the applied [`State`] in memory.
//!
//! The state is persisted only as snapshots (see [`super::snapshot`]); on
//! open it is restored from the persisted snapshot and openraft re-applies the
//! committed log after it. The node reads the state through a
//! [`StateHandle`]: synchronous, cheap reads under a `std::sync::RwLock`
//! (never held across an `.await`), a `watch` of the applied index and a
//! `broadcast` of the events of each apply batch.

use std::io::Cursor;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use tokio::sync::{broadcast, watch};

use super::error::IntoStorage;
use super::snapshot::{Replace, SnapshotStore, seal, unseal};
use super::{Entry, LogId, SnapshotMeta, StorageError, StoreError, StoredMembership, TypeConfig};
use crate::command::Response;
use crate::state::{Event, State};

/// Default capacity of the event broadcast channel.
pub const DEFAULT_EVENT_CHANNEL_CAPACITY: usize = 4096;

/// What has been applied: the state and the log position it reflects.
/// Kept under one lock so a snapshot captures all three consistently.
struct Applied {
    state: State,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
}

struct Shared {
    applied: RwLock<Applied>,
    /// Index of the last applied entry (`None` before anything is applied).
    applied_tx: watch::Sender<Option<u64>>,
    /// Each event once, shared: every subscriber (the runner, the event
    /// log, the metrics) gets the same `Arc`, not a copy of its strings.
    events_tx: broadcast::Sender<Arc<Event>>,
}

impl Shared {
    fn write(&self) -> Result<RwLockWriteGuard<'_, Applied>, StoreError> {
        self.applied.write().map_err(|_| StoreError::Poisoned)
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Applied>, StoreError> {
        self.applied.read().map_err(|_| StoreError::Poisoned)
    }

    /// Publishes a new applied index and events, after the state changed.
    fn publish(&self, last_applied: Option<LogId>, events: Vec<Event>) {
        self.applied_tx.send_replace(last_applied.map(|l| l.index));
        for event in events {
            // An error only means nobody is subscribed right now.
            let _ = self.events_tx.send(Arc::new(event));
        }
    }
}

/// The applied watch channel was closed (cannot happen while a
/// [`StateHandle`] exists; kept so callers need not unwrap).
#[derive(Debug, thiserror::Error)]
#[error("applied-index watch closed")]
pub struct AppliedWatchClosed;

/// A cheap, cloneable read handle on the applied state, for the node.
#[derive(Clone)]
pub struct StateHandle {
    shared: Arc<Shared>,
}

impl StateHandle {
    /// Runs `f` on the current state under the read lock. Keep `f` short: it
    /// blocks apply while it runs. (A closure cannot `.await`, so the lock is
    /// never held across an await point.)
    ///
    /// If an earlier apply panicked while holding the lock, the Raft core has
    /// already stopped on that panic; reads still see the last state rather
    /// than panicking too.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let guard = self
            .shared
            .applied
            .read()
            .unwrap_or_else(|p| p.into_inner());
        f(&guard.state)
    }

    /// The log id of the last applied entry.
    pub fn last_applied(&self) -> Option<LogId> {
        self.shared
            .applied
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .last_applied
    }

    /// The last applied membership.
    pub fn last_membership(&self) -> StoredMembership {
        self.shared
            .applied
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .last_membership
            .clone()
    }

    /// A receiver of the last applied index; it changes after every apply
    /// batch and every snapshot install.
    pub fn subscribe_applied(&self) -> watch::Receiver<Option<u64>> {
        self.shared.applied_tx.subscribe()
    }

    /// A receiver of the events of every apply batch, from now on. A receiver
    /// that lags more than the channel capacity gets `RecvError::Lagged` and
    /// must resynchronise from the state. A snapshot install replaces the
    /// state without events: watch [`Self::subscribe_applied`] for jumps.
    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<Event>> {
        self.shared.events_tx.subscribe()
    }

    /// Waits until entry `index` (or a later one) has been applied here and
    /// returns the applied index then.
    pub async fn wait_applied(&self, index: u64) -> Result<u64, AppliedWatchClosed> {
        let mut rx = self.subscribe_applied();
        let applied = rx
            .wait_for(|a| a.is_some_and(|a| a >= index))
            .await
            .map_err(|_| AppliedWatchClosed)?;
        Ok(applied.unwrap_or(index))
    }
}

/// The openraft state machine: applied state in memory, snapshots in sled.
pub struct StateMachineStore {
    handle: StateHandle,
    snapshots: SnapshotStore,
}

impl StateMachineStore {
    /// Opens the snapshot tree of `db` and restores the persisted snapshot.
    pub fn new(db: &sled::Db, event_channel_capacity: usize) -> Result<Self, StoreError> {
        let snapshots = SnapshotStore::new(db)?;
        let applied = match snapshots.load()? {
            Some((meta, data)) => {
                let (_, state_bytes) = unseal(&data)?;
                let state = State::decode(state_bytes)?;
                tracing::info!(snapshot_id = %meta.snapshot_id, last_log_id = ?meta.last_log_id, "restored state machine from snapshot");
                Applied {
                    state,
                    last_applied: meta.last_log_id,
                    last_membership: meta.last_membership,
                }
            }
            None => Applied {
                state: State::default(),
                last_applied: None,
                last_membership: StoredMembership::default(),
            },
        };
        let (applied_tx, _) = watch::channel(applied.last_applied.map(|l| l.index));
        let (events_tx, _) = broadcast::channel(event_channel_capacity.max(1));
        Ok(StateMachineStore {
            handle: StateHandle {
                shared: Arc::new(Shared {
                    applied: RwLock::new(applied),
                    applied_tx,
                    events_tx,
                }),
            },
            snapshots,
        })
    }

    /// A read handle on the applied state; take it before handing the store
    /// to openraft.
    pub fn handle(&self) -> StateHandle {
        self.handle.clone()
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let g = self
            .handle
            .shared
            .read()
            .sto(ErrorSubject::StateMachine, ErrorVerb::Read)?;
        Ok((g.last_applied, g.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let shared = &self.handle.shared;
        // The whole batch under one write-lock acquisition; no await inside.
        let (responses, last_applied, events) = {
            let mut g = shared
                .write()
                .sto(ErrorSubject::StateMachine, ErrorVerb::Write)?;
            let mut responses = Vec::new();
            for entry in entries {
                g.last_applied = Some(entry.log_id);
                let response = match entry.payload {
                    EntryPayload::Blank => Response::default(),
                    EntryPayload::Normal(cmd) => g.state.apply(entry.log_id.index, &cmd),
                    EntryPayload::Membership(m) => {
                        g.last_membership = StoredMembership::new(Some(entry.log_id), m);
                        Response::default()
                    }
                };
                responses.push(response);
            }
            let events = g.state.drain_events();
            (responses, g.last_applied, events)
        };
        shared.publish(last_applied, events);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            handle: self.handle.clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));
        let data = snapshot.into_inner();
        // Check and decode everything before touching disk or memory: a
        // truncated or mismatching snapshot changes nothing.
        let (embedded, state_bytes) = unseal(&data).sto(subject.clone(), ErrorVerb::Read)?;
        if &embedded != meta {
            let e = StoreError::Corrupt {
                what: "received snapshot",
                detail: format!(
                    "meta (id {}, last log {:?}) does not match the meta in its data (id {}, last log {:?})",
                    meta.snapshot_id, meta.last_log_id, embedded.snapshot_id, embedded.last_log_id
                ),
            };
            return Err(e.into_storage(subject, ErrorVerb::Read));
        }
        let state = State::decode(state_bytes).sto(subject.clone(), ErrorVerb::Read)?;

        // Durable first: a crash from here on leaves either the old or the
        // new snapshot on disk, whole. Then swap memory.
        self.snapshots
            .persist(meta, &data, Replace::Always)
            .await
            .sto(subject.clone(), ErrorVerb::Write)?;
        drop(data);

        let shared = &self.handle.shared;
        {
            let mut g = shared.write().sto(subject, ErrorVerb::Write)?;
            g.state = state;
            g.last_applied = meta.last_log_id;
            g.last_membership = meta.last_membership.clone();
            // A decoded state has no pending events; drain defensively.
            let _ = g.state.drain_events();
        }
        shared.publish(meta.last_log_id, Vec::new());
        tracing::info!(snapshot_id = %meta.snapshot_id, last_log_id = ?meta.last_log_id, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let loaded = self
            .snapshots
            .load()
            .sto(ErrorSubject::Snapshot(None), ErrorVerb::Read)?;
        Ok(loaded.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data.to_vec())),
        }))
    }
}

/// Builds a snapshot of the applied state and persists it.
pub struct SnapshotBuilder {
    handle: StateHandle,
    snapshots: SnapshotStore,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        // Encode under the read lock so state, last applied and membership
        // agree; apply waits only for the encoding, not for the disk write.
        let (state_bytes, last_log_id, last_membership) = {
            let g = self
                .handle
                .shared
                .read()
                .sto(ErrorSubject::StateMachine, ErrorVerb::Read)?;
            let bytes = g
                .state
                .encode()
                .sto(ErrorSubject::StateMachine, ErrorVerb::Read)?;
            (bytes, g.last_applied, g.last_membership.clone())
        };
        let seq = self.snapshots.next_build_seq();
        let snapshot_id = match last_log_id {
            Some(l) => format!(
                "{}-{}-{}-{seq}",
                l.leader_id.term, l.leader_id.node_id, l.index
            ),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        };
        let data = seal(state_bytes, &meta).sto(
            ErrorSubject::Snapshot(Some(meta.signature())),
            ErrorVerb::Write,
        )?;
        self.snapshots
            .persist(&meta, &data, Replace::IfNotOlder)
            .await
            .sto(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Write,
            )?;
        tracing::info!(snapshot_id = %meta.snapshot_id, last_log_id = ?meta.last_log_id, bytes = data.len(), "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}
