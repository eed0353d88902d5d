//! The index of open (armed or running) occurrences, with the node of each
//! one's current attempt, and how many each node has.
//!
//! The leader reads a node's load every tick (`node/src/firing/leader.rs`,
//! `Picker`). Counting it from the index meant a pass over every open
//! occurrence per tick: at 1,000 fires/s and a one-second lookahead, a
//! thousand entries a hundred times a second. The counts are kept here in
//! step with every change instead.

use std::collections::{BTreeMap, HashMap};

use crate::model::{NodeId, OccKey};

/// Open occurrences by key, and open attempts per node.
#[derive(Debug, Default, Clone)]
pub(super) struct OpenIndex {
    by_key: BTreeMap<OccKey, Option<NodeId>>,
    per_node: HashMap<NodeId, usize>,
}

impl OpenIndex {
    fn count(&mut self, node: Option<NodeId>, add: bool) {
        let Some(node) = node else { return };
        if add {
            *self.per_node.entry(node).or_default() += 1;
        } else if let Some(n) = self.per_node.get_mut(&node) {
            *n -= 1;
            if *n == 0 {
                self.per_node.remove(&node);
            }
        }
    }

    /// Adds `key` as open on `node`, or moves it there.
    pub(super) fn insert(&mut self, key: OccKey, node: Option<NodeId>) {
        let old = self.by_key.insert(key, node);
        self.count(old.flatten(), false);
        self.count(node, true);
    }

    /// Forgets `key` (no longer open, or gone).
    pub(super) fn remove(&mut self, key: &OccKey) {
        if let Some(old) = self.by_key.remove(key) {
            self.count(old, false);
        }
    }

    /// Moves an open `key` to `node`; nothing if it is not open.
    pub(super) fn set_node(&mut self, key: &OccKey, node: NodeId) {
        let Some(slot) = self.by_key.get_mut(key) else {
            return;
        };
        let old = slot.replace(node);
        self.count(old, false);
        self.count(Some(node), true);
    }

    pub(super) fn clear(&mut self) {
        self.by_key.clear();
        self.per_node.clear();
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &OccKey> {
        self.by_key.keys()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&OccKey, Option<NodeId>)> {
        self.by_key.iter().map(|(k, n)| (k, *n))
    }

    /// Open keys from `start` on, in order.
    pub(super) fn keys_from(&self, start: OccKey) -> impl Iterator<Item = &OccKey> {
        self.by_key.range(start..).map(|(k, _)| k)
    }

    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Open attempts on `node`.
    pub(super) fn on(&self, node: NodeId) -> usize {
        self.per_node.get(&node).copied().unwrap_or(0)
    }

    /// Panics unless the index is exactly `expected` and the counts agree
    /// with it (the state's invariant check).
    pub(super) fn assert_is(&self, expected: &BTreeMap<OccKey, Option<NodeId>>) {
        assert_eq!(
            expected, &self.by_key,
            "open index out of step with occurrences"
        );
        let mut counts: HashMap<NodeId, usize> = HashMap::new();
        for node in expected.values().flatten() {
            *counts.entry(*node).or_default() += 1;
        }
        assert_eq!(
            counts, self.per_node,
            "open attempts per node out of step with the open index"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(at: i64) -> OccKey {
        OccKey {
            job_id: "j".into(),
            scheduled_at: at,
        }
    }

    #[test]
    fn counts_follow_every_change() {
        let mut ix = OpenIndex::default();
        ix.insert(key(1), None);
        ix.insert(key(2), Some(1));
        ix.insert(key(3), Some(1));
        assert_eq!((ix.on(1), ix.on(2), ix.len()), (2, 0, 3));
        ix.set_node(&key(1), 2);
        ix.set_node(&key(2), 2);
        assert_eq!((ix.on(1), ix.on(2)), (1, 2));
        ix.insert(key(3), Some(2));
        assert_eq!((ix.on(1), ix.on(2)), (0, 3));
        ix.remove(&key(3));
        ix.remove(&key(3));
        ix.set_node(&key(9), 1);
        assert_eq!((ix.on(1), ix.on(2), ix.len()), (0, 2, 2));
        let expected: BTreeMap<OccKey, Option<NodeId>> =
            [(key(1), Some(2)), (key(2), Some(2))].into_iter().collect();
        ix.assert_is(&expected);
        ix.clear();
        assert_eq!((ix.on(2), ix.len()), (0, 0));
    }
}
