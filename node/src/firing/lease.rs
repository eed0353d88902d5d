//! The follower's lease: the last time (monotonic) this node heard from a
//! leader, updated by every accepted append (heartbeats included). A node
//! starts an armed attempt only within its lease, so an assignee cut off
//! from the leader stops starting runs before the leader may reassign them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Shared record of the last leader contact.
#[derive(Clone)]
pub struct Lease {
    origin: Instant,
    last_ms: Arc<AtomicU64>,
    length: Duration,
}

impl Lease {
    /// A lease of `length` that has never been renewed.
    pub fn new(length: Duration) -> Self {
        Lease {
            origin: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            length,
        }
    }

    /// Records contact with a leader now.
    pub fn renew(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms.max(1), Ordering::Relaxed);
    }

    /// Whether contact happened within the lease.
    pub fn valid(&self) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        last != 0
            && self.origin.elapsed().as_millis() as u64 <= last + self.length.as_millis() as u64
    }

    /// The lease length.
    pub fn length(&self) -> Duration {
        self.length
    }
}
