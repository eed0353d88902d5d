//! Due-time hints: for each token, the monotonic instant at which the
//! attempt is due, from the leader's "due in" on the dispatch's arrival, or
//! from the arming entry itself when this node applies it (the entry's
//! `now` is the leader's clock when it proposed: due in = due - now). A
//! runner waits on this rather than comparing the attempt's wall-clock due
//! time with its own wall clock, so a skewed clock on the assignee does not
//! move the start. Without a hint (dispatch lost, or the attempt found by a
//! scan after a restart), the runner waits on the leader's clock as learnt
//! from appends (`lease`), never on its own wall clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most hints kept; beyond that the map is cleared (hints are an
/// optimisation of timing, never needed for safety).
const MAX_HINTS: usize = 100_000;

/// Shared hints by fencing token.
#[derive(Clone, Default)]
pub struct Hints {
    inner: Arc<Mutex<HashMap<u64, Instant>>>,
}

impl Hints {
    /// Records that `token` is due `due_in` from now, unless an earlier
    /// instant is known. Every source (the leader's dispatch, this node's
    /// apply of the arming entry) is late only by its own transit, never
    /// early, so the earliest is the most punctual.
    pub fn put(&self, token: u64, due_in: Duration) {
        let at = Instant::now() + due_in;
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_HINTS {
            map.clear();
        }
        let slot = map.entry(token).or_insert(at);
        *slot = (*slot).min(at);
    }

    /// The monotonic due instant of `token`, if the leader sent one.
    pub fn get(&self, token: u64) -> Option<Instant> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&token)
            .copied()
    }

    /// Forgets `token`.
    pub fn remove(&self, token: u64) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&token);
    }
}
