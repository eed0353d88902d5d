//! The follower's lease: the last time (monotonic) this node heard from a
//! leader, updated by every accepted append (heartbeats included). A node
//! starts an armed attempt only within its lease, so an assignee cut off
//! from the leader stops starting runs before the leader may reassign them.
//!
//! A lease that is renewed after a gap (first contact after a start, a
//! pause or a partition) also sets a catch-up barrier: the leader's commit
//! index carried by that append. Until this node has applied that far, its
//! applied state may still show attempts that the leader reassigned while
//! it was away, so it starts nothing (see `Runner::lease_ok`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Shared record of the last leader contact.
#[derive(Clone)]
pub struct Lease {
    origin: Instant,
    last_ms: Arc<AtomicU64>,
    length: Duration,
    barrier: Arc<AtomicU64>,
}

impl Lease {
    /// A lease of `length` that has never been renewed.
    pub fn new(length: Duration) -> Self {
        Lease {
            origin: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            length,
            barrier: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records contact with a leader now, whose commit index was
    /// `leader_commit`.
    pub fn renew(&self, leader_commit: u64) {
        if !self.valid() {
            // After a gap: catch up to what the leader had committed before
            // starting anything. (Raised before the lease becomes valid, so
            // no reader sees a valid lease without its barrier.)
            self.barrier.fetch_max(leader_commit, Ordering::SeqCst);
        }
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms.max(1), Ordering::SeqCst);
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
