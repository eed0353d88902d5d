//! The schedule's clock rules, in one place: the wall clock in the units
//! the log uses, the due-time hints from the leader ([`hints`]), and the
//! follower's lease, which also carries the leader's clock learnt from
//! appends ([`lease`]). Only the leader waits on its own wall clock
//! ([`wall_wait`]); a follower waits on hints and on the leader's clock.

pub mod hints;
pub mod lease;

use std::time::{Duration, Instant};

use store::model::UnixMs;

use lease::Lease;

/// Milliseconds since the Unix epoch on this node's wall clock. Only the
/// node reads clocks; the store gets `now` inside commands.
pub use proto::time::now_ms;

/// Microseconds since the Unix epoch on this node's wall clock: for due
/// times computed to the microsecond (a millisecond truncated would be a
/// millisecond late) and for the clock stamp on appends.
pub fn now_us() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i128)
}

/// How long until `due_at` on this node's wall clock, to the microsecond.
/// Only the leader waits on it: its clock is the schedule's.
pub fn wall_wait(due_at: UnixMs) -> Duration {
    let left = i128::from(due_at) * 1_000 - now_us();
    Duration::from_micros(left.max(0) as u64)
}

/// The monotonic instant at which an attempt due at `due_at` may start:
/// the earliest of the sources that are never early. Those are its due-time
/// `hint` (the dispatch's or the arming entry's), and the leader's clock:
/// this node's own wall clock when it leads, else the leader's clock as
/// learnt from appends (`lease`). Never a follower's own wall clock, which
/// may be skewed: `None` until a source exists.
pub fn due_instant(
    leading: bool,
    hint: Option<Instant>,
    lease: &Lease,
    due_at: UnixMs,
) -> Option<Instant> {
    let clock = if leading {
        Some(Instant::now() + wall_wait(due_at))
    } else {
        lease.leader_instant(due_at)
    };
    match (hint, clock) {
        (Some(h), Some(c)) => Some(h.min(c)),
        (h, c) => h.or(c),
    }
}

/// Whether a node may start a run now: the leader may; a follower needs a
/// valid lease and to have applied (`applied`) what the leader had
/// committed when the lease was renewed after a gap, so a restarted or
/// resumed node never starts an attempt that was reassigned meanwhile.
pub fn may_start(leading: bool, lease: &Lease, applied: u64) -> bool {
    leading || (lease.valid() && applied >= lease.barrier())
}

/// This node's best reading of the schedule's clock, in ms: its own wall
/// clock when it leads, else the leader's (a lower bound learnt from
/// appends), else its own.
pub fn schedule_now_ms(leading: bool, lease: &Lease) -> UnixMs {
    if leading {
        return now_ms();
    }
    lease.leader_now_ms().unwrap_or_else(now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_without_word_from_a_leader_has_no_due_instant_and_may_not_start() {
        let lease = Lease::new(Duration::from_secs(3));
        let due = now_ms() + 60_000;
        assert_eq!(
            due_instant(false, None, &lease, due),
            None,
            "never its own clock"
        );
        assert!(!may_start(false, &lease, 0));
        // The leader waits on its own clock and may always start.
        let at = due_instant(true, None, &lease, due).expect("the leader's clock");
        assert!(at > Instant::now() + Duration::from_secs(59));
        assert!(may_start(true, &lease, 0));
        // A hint earlier than the clock wins; a later one does not.
        let soon = Instant::now() + Duration::from_millis(5);
        assert_eq!(due_instant(true, Some(soon), &lease, due), Some(soon));
        let later = at + Duration::from_secs(10);
        assert!(due_instant(true, Some(later), &lease, due).expect("some") < later);
        assert_eq!(due_instant(false, Some(later), &lease, due), Some(later));
    }

    #[test]
    fn a_renewed_lease_needs_the_barrier_applied() {
        let lease = Lease::new(Duration::from_secs(3));
        lease.renew(10);
        assert!(!may_start(false, &lease, 9), "not caught up to the barrier");
        assert!(may_start(false, &lease, 10));
    }
}
