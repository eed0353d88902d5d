//! The schedule's clock rules, in one place: the wall clock in the units
//! the log uses, the due-time hints from the leader ([`hints`]), and the
//! follower's lease, which also carries the leader's clock learnt from
//! appends ([`lease`]). Only the leader waits on its own wall clock
//! ([`wall_wait`]); a follower waits on hints and on the leader's clock.

pub mod hints;
pub mod lease;

use std::time::Duration;

use store::model::UnixMs;

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
