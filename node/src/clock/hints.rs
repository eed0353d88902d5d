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

/// Farthest ahead a hint may point. The leader arms a second ahead; a
/// retry's backoff can be longer, and then the runner simply waits on the
/// leader's clock instead. A peer's "due in" is never trusted further.
pub const MAX_HINT_AHEAD: Duration = Duration::from_secs(3600);

/// A hint too far ahead to be one.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("due in {0:?} is beyond the longest hint of {MAX_HINT_AHEAD:?}")]
pub struct TooFarAhead(pub Duration);

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
    pub fn put(&self, token: u64, due_in: Duration) -> Result<(), TooFarAhead> {
        if due_in > MAX_HINT_AHEAD {
            return Err(TooFarAhead(due_in));
        }
        let at = Instant::now()
            .checked_add(due_in)
            .ok_or(TooFarAhead(due_in))?;
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_HINTS {
            map.clear();
        }
        let slot = map.entry(token).or_insert(at);
        *slot = (*slot).min(at);
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_too_far_ahead_is_refused_not_a_panic() {
        let hints = Hints::default();
        assert_eq!(hints.put(1, Duration::MAX), Err(TooFarAhead(Duration::MAX)));
        assert_eq!(
            hints.put(1, MAX_HINT_AHEAD + Duration::from_millis(1)),
            Err(TooFarAhead(MAX_HINT_AHEAD + Duration::from_millis(1)))
        );
        assert_eq!(hints.get(1), None, "nothing recorded");
        assert_eq!(hints.put(2, Duration::from_millis(500)), Ok(()));
        assert!(hints.get(2).is_some());
    }

    #[test]
    fn the_earliest_hint_wins() {
        let hints = Hints::default();
        hints.put(7, Duration::from_secs(5)).expect("in range");
        let late = hints.get(7).expect("hint");
        hints.put(7, Duration::from_secs(1)).expect("in range");
        assert!(hints.get(7).expect("hint") < late);
        hints.put(7, Duration::from_secs(9)).expect("in range");
        assert!(
            hints.get(7).expect("hint") < late,
            "a later hint changes nothing"
        );
    }
}
