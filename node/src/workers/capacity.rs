//! What every node's workers serve, as the leader knows it.
//!
//! Each node reports the (queue, function) pairs its connected workers
//! serve, with their slots, to the leader: at once after a change, after
//! every leader change, and every second. The report is in memory only: a
//! new leader learns it within a second, and holds worker jobs until then
//! (they wait within their misfire grace, as for no worker at all).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proto::internal::Capacity;
use store::model::{NodeId, WorkerSpec};

use super::WorkerHub;
use crate::node::Node;

/// How often a node reports even without a change.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// A report older than this is ignored (its node stopped reporting).
const FRESH_FOR: Duration = Duration::from_secs(3);
/// Deadline of one report.
const REPORT_TIMEOUT: Duration = Duration::from_secs(1);

/// Each node's last report, with when it came.
type Reports = BTreeMap<NodeId, (Instant, Vec<Capacity>)>;

/// The leader's table of what each node's workers serve. Cheap to clone.
#[derive(Clone, Default)]
pub struct CapacityTable(Arc<Mutex<Reports>>);

impl CapacityTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, Reports> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces what `node` serves.
    pub fn put(&self, node: NodeId, capacity: Vec<Capacity>) {
        self.lock().insert(node, (Instant::now(), capacity));
    }

    /// A fresh copy: node -> ((queue, function) -> slots).
    pub fn snapshot(&self) -> BTreeMap<NodeId, BTreeMap<(String, String), u32>> {
        self.lock()
            .iter()
            .filter(|(_, (at, _))| at.elapsed() <= FRESH_FOR)
            .map(|(id, (_, caps))| {
                (
                    *id,
                    caps.iter()
                        .map(|c| ((c.queue.clone(), c.function.clone()), c.slots))
                        .collect(),
                )
            })
            .collect()
    }
}

/// The slots a node's workers have for `spec`, in a [`CapacityTable::snapshot`].
pub fn slots_for(
    snapshot: &BTreeMap<NodeId, BTreeMap<(String, String), u32>>,
    node: NodeId,
    spec: &WorkerSpec,
) -> u32 {
    snapshot
        .get(&node)
        .and_then(|m| m.get(&(spec.queue.clone(), spec.function.clone())))
        .copied()
        .unwrap_or(0)
}

/// Reports this node's workers to the leader until Raft stops.
pub async fn report(node: Node, hub: WorkerHub, table: CapacityTable) {
    let mut metrics = node.raft.metrics();
    loop {
        let leader = metrics.borrow().current_leader;
        if metrics.borrow().state == openraft::ServerState::Shutdown {
            return;
        }
        let capacity = hub.capacity();
        match leader {
            Some(l) if l == node.id => table.put(node.id, capacity),
            Some(_) => {
                if let Some((_, addr)) = node.leader() {
                    let sent = crate::peers::worker_capacity(
                        &node.channels,
                        &addr,
                        node.id,
                        capacity,
                        REPORT_TIMEOUT,
                    )
                    .await;
                    if let Err(e) = sent {
                        tracing::debug!(error = %e, "worker capacity not delivered; retrying");
                    }
                }
            }
            None => {}
        }
        tokio::select! {
            _ = hub.changed() => {}
            _ = metrics.wait_for(|m| m.current_leader != leader) => {}
            _ = tokio::time::sleep(REPORT_EVERY) => {}
        }
    }
}
