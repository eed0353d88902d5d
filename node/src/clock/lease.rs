//! The follower's lease: the last time (monotonic) this node heard from a
//! leader *and knows the leader heard from it*, updated by every accepted
//! append (heartbeats included). A node starts an armed attempt only within
//! its lease, so an assignee cut off from the leader stops starting runs
//! before the leader may reassign them.
//!
//! Each append's reply carries this node's monotonic time and process
//! epoch; the leader echoes the latest pair it received in its next append,
//! and the lease is renewed as of that echoed time, not as of the append's
//! arrival. The leader counts a node's silence from when it last received a
//! reply, which is later than the echoed time, so even under a one-way cut
//! (appends arrive, replies are lost) the lease here runs out before the
//! leader moves this node's attempts.
//!
//! A lease that is renewed after a gap (first contact after a start, a
//! pause or a partition) also sets a catch-up barrier: the leader's commit
//! index carried by that append. Until this node has applied that far, its
//! applied state may still show attempts that the leader reassigned while
//! it was away, so it starts nothing (see `Runner::lease_ok`).
//!
//! Each append also carries the leader's wall clock, read just before it
//! was sent. Since the append arrived no earlier than that, "the stamp plus
//! the monotonic time since arrival" never runs ahead of the leader's clock.
//! That is the clock a follower waits on for a due instant when no
//! dispatch hint came (after a restart, say), so a follower whose own wall
//! clock is ahead never starts early: the leader's clock is the schedule's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store::model::UnixMs;

/// A sample older than this is replaced by any newer one, even a lower
/// estimate: the two clocks drift apart (NTP slews), so an old maximum
/// must not pin the estimate forever.
const SAMPLE_KEEP: Duration = Duration::from_secs(5);

/// Which leader a clock sample came from: a new term may mean another
/// node's clock, which must replace the old estimate rather than race it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderTerm {
    /// The leader's term.
    pub term: u64,
    /// The leader's node id.
    pub node: u64,
}

/// "The leader's wall clock read at least `wall_us` when this node's
/// monotonic clock read `at`."
#[derive(Clone, Copy, Debug)]
struct ClockSample {
    leader: LeaderTerm,
    wall_us: i128,
    at: Instant,
}

impl ClockSample {
    /// The lower bound this sample gives for the leader's clock at `now`.
    fn estimate_at(&self, now: Instant) -> i128 {
        self.wall_us + now.saturating_duration_since(self.at).as_micros() as i128
    }
}

/// Shared record of the last leader contact.
#[derive(Clone)]
pub struct Lease {
    origin: Instant,
    /// This process's lease epoch: an echoed time of another process (a
    /// restart) is never taken as a confirmation.
    epoch: u64,
    last_ms: Arc<AtomicU64>,
    length: Duration,
    barrier: Arc<AtomicU64>,
    clock: Arc<Mutex<Option<ClockSample>>>,
    /// When an append of a leader last succeeded here (ms since `origin`,
    /// 0: never): how long the leader has been silent.
    heard_ms: Arc<AtomicU64>,
}

impl Lease {
    /// A lease of `length` that has never been renewed.
    pub fn new(length: Duration) -> Self {
        let epoch = getrandom::u64().unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        Lease {
            origin: Instant::now(),
            epoch: epoch.max(1),
            last_ms: Arc::new(AtomicU64::new(0)),
            length,
            barrier: Arc::new(AtomicU64::new(0)),
            clock: Arc::new(Mutex::new(None)),
            heard_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records contact with a leader now, whose commit index was
    /// `leader_commit`.
    pub fn renew(&self, leader_commit: u64) {
        self.renew_as_of(self.origin.elapsed().as_millis() as u64, leader_commit);
    }

    /// This process's epoch and its monotonic time (µs since the lease
    /// origin) at `at`: what an append's reply carries for the leader to
    /// echo.
    pub fn stamp(&self, at: Instant) -> (u64, u64) {
        (
            self.epoch,
            at.saturating_duration_since(self.origin).as_micros().max(1) as u64,
        )
    }

    /// Renews the lease as of a time this node stamped on an earlier reply
    /// that the leader echoes: the leader heard from this node after then,
    /// so it counts this node's silence from no earlier. A one-way cut (the
    /// leader's appends arrive, the replies do not) thus lets the lease run
    /// out here before the leader may reassign. An echo of another epoch (a
    /// previous process) or none confirms nothing.
    pub fn renew_confirmed(&self, epoch: u64, mono_us: u64, leader_commit: u64) {
        if epoch != self.epoch || mono_us == 0 {
            return;
        }
        let now_us = self.origin.elapsed().as_micros() as u64;
        if mono_us > now_us {
            return; // not a time this process stamped
        }
        self.renew_as_of(mono_us / 1_000, leader_commit);
    }

    fn renew_as_of(&self, ms: u64, leader_commit: u64) {
        if !self.valid() {
            // After a gap: catch up to what the leader had committed before
            // starting anything. (Raised before the lease becomes valid, so
            // no reader sees a valid lease without its barrier.)
            self.barrier.fetch_max(leader_commit, Ordering::SeqCst);
        }
        self.last_ms.fetch_max(ms.max(1), Ordering::SeqCst);
    }

    /// Records that `leader`'s wall clock read `wall_us` (µs since the
    /// epoch) no later than `arrived` (when its append reached this node).
    pub fn observe_clock(&self, leader: LeaderTerm, wall_us: u64, arrived: Instant) {
        if wall_us == 0 {
            return; // not stamped
        }
        let new = ClockSample {
            leader,
            wall_us: i128::from(wall_us),
            at: arrived,
        };
        let mut slot = self.clock.lock().unwrap_or_else(|p| p.into_inner());
        let keep_old = slot.is_some_and(|old| {
            // The same leader, recently: keep whichever bound is tighter
            // (higher), since both are lower bounds and transit varies.
            old.leader == leader
                && arrived.saturating_duration_since(old.at) < SAMPLE_KEEP
                && old.estimate_at(arrived) >= new.wall_us
        });
        if !keep_old {
            *slot = Some(new);
        }
    }

    /// The monotonic instant at which the leader's clock reaches `due_at`
    /// by the latest sample (never before it does, late by the transit of
    /// the append), or `None` before any stamped append arrived.
    pub fn leader_instant(&self, due_at: UnixMs) -> Option<Instant> {
        let sample = (*self.clock.lock().unwrap_or_else(|p| p.into_inner()))?;
        let left_us = i128::from(due_at) * 1_000 - sample.wall_us;
        if left_us <= 0 {
            // Already due by the sample alone.
            return Some(sample.at);
        }
        // An instant too far ahead to represent is as good as none: the
        // runner re-reads it long before then.
        sample.at.checked_add(Duration::from_micros(
            left_us.min(i128::from(u64::MAX)) as u64
        ))
    }

    /// The leader's clock now (a lower bound), in ms since the epoch, if
    /// any stamped append arrived.
    pub fn leader_now_ms(&self) -> Option<UnixMs> {
        let sample = (*self.clock.lock().unwrap_or_else(|p| p.into_inner()))?;
        Some((sample.estimate_at(Instant::now()) / 1_000) as UnixMs)
    }

    /// Records that a leader's append succeeded here, arriving at `at`.
    pub fn heard(&self, at: Instant) {
        let ms = at.saturating_duration_since(self.origin).as_millis() as u64;
        self.heard_ms.fetch_max(ms.max(1), Ordering::SeqCst);
    }

    /// How long since a leader's append last succeeded here; `None` if
    /// none ever did (a node that never had a leader leaves elections to
    /// Raft's timers).
    pub fn silent_for(&self) -> Option<Duration> {
        let heard = self.heard_ms.load(Ordering::SeqCst);
        (heard != 0).then(|| {
            Duration::from_millis((self.origin.elapsed().as_millis() as u64).saturating_sub(heard))
        })
    }

    /// The log index this node must have applied before it starts runs.
    pub fn barrier(&self) -> u64 {
        self.barrier.load(Ordering::SeqCst)
    }

    /// Whether contact happened within the lease.
    pub fn valid(&self) -> bool {
        let last = self.last_ms.load(Ordering::SeqCst);
        last != 0
            && self.origin.elapsed().as_millis() as u64 <= last + self.length.as_millis() as u64
    }

    /// The lease length.
    pub fn length(&self) -> Duration {
        self.length
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L1: LeaderTerm = LeaderTerm { term: 1, node: 1 };
    const L2: LeaderTerm = LeaderTerm { term: 2, node: 2 };

    #[test]
    fn no_sample_no_instant() {
        let lease = Lease::new(Duration::from_secs(1));
        assert!(lease.leader_instant(1_000).is_none());
        lease.observe_clock(L1, 0, Instant::now()); // unstamped
        assert!(lease.leader_instant(1_000).is_none());
    }

    #[test]
    fn due_instant_is_counted_from_the_arrival() {
        let lease = Lease::new(Duration::from_secs(1));
        let t0 = Instant::now();
        // The leader read 10.000 s; due at 12.5 s: 2.5 s after arrival.
        lease.observe_clock(L1, 10_000_000, t0);
        assert_eq!(
            lease.leader_instant(12_500),
            Some(t0 + Duration::from_millis(2_500))
        );
        // Already due by the sample: the arrival instant.
        assert_eq!(lease.leader_instant(9_000), Some(t0));
    }

    #[test]
    fn same_leader_keeps_the_tighter_bound() {
        let lease = Lease::new(Duration::from_secs(1));
        let t0 = Instant::now();
        lease.observe_clock(L1, 10_000_000, t0);
        // 100 ms later, a stamp that had a slow transit: 10.050 s < 10.100 s.
        lease.observe_clock(L1, 10_050_000, t0 + Duration::from_millis(100));
        assert_eq!(
            lease.leader_instant(11_000),
            Some(t0 + Duration::from_millis(1_000))
        );
        // A faster one: 10.190 s at +100 ms is tighter.
        lease.observe_clock(L1, 10_190_000, t0 + Duration::from_millis(100));
        assert_eq!(
            lease.leader_instant(11_000),
            Some(t0 + Duration::from_millis(910))
        );
    }

    #[test]
    fn a_new_leader_replaces_the_estimate_even_when_lower() {
        let lease = Lease::new(Duration::from_secs(1));
        let t0 = Instant::now();
        lease.observe_clock(L1, 10_000_000, t0);
        // The new leader's clock is 3 s behind the old one's.
        lease.observe_clock(L2, 7_000_000, t0);
        assert_eq!(
            lease.leader_instant(8_000),
            Some(t0 + Duration::from_millis(1_000))
        );
    }

    #[test]
    fn an_old_maximum_does_not_pin_the_estimate() {
        let lease = Lease::new(Duration::from_secs(1));
        let t0 = Instant::now();
        lease.observe_clock(L1, 10_000_000, t0);
        // 6 s later the leader's clock was slewed back by 20 ms.
        let t1 = t0 + Duration::from_secs(6);
        lease.observe_clock(L1, 15_980_000, t1);
        assert_eq!(
            lease.leader_instant(16_000),
            Some(t1 + Duration::from_millis(20))
        );
    }
}
