//! Measuring a window of scheduled instants: follow the sink while the
//! window runs, then let its last occurrences drain, and count.

use std::time::Duration;

use chaos_tests::steal::{cpu_jiffies, steal_percent};

use crate::deliveries::Tracker;
use crate::ledger::{Ledger, Outcome};
use crate::poll;
use crate::time::{now_ms, sleep_until_ms};

/// How often the sink is read while a window runs.
const PULL_EVERY: Duration = Duration::from_millis(200);

/// A measured window `[from_ms, to_ms)`.
pub struct Measured {
    pub outcome: Outcome,
    /// Effects the sink kept whose receive time fell in the window: the
    /// rate the cluster delivered at, whatever their instants.
    pub kept_in_window: u64,
    /// Requests the sink refused (duplicates, stale tokens), any job.
    pub refused: u64,
    /// CPU steal over the window, percent.
    pub steal_pct: Option<f64>,
    /// How long after the window's end the last expected effect arrived
    /// (or the drain deadline passed).
    pub drained_ms: i64,
}

/// Follows `tracker` into `ledger` from now until `to_ms`, then until
/// every expected effect arrived or `drain` passed. Waits for `from_ms`
/// first if it is ahead.
pub async fn measure(
    tracker: &mut Tracker,
    ledger: &mut Ledger,
    from_ms: i64,
    to_ms: i64,
    drain: Duration,
) -> Measured {
    let mut kept_in_window = 0;
    let mut refused = 0;
    let mut follow = |tracker: &mut Tracker, ledger: &mut Ledger| {
        for d in tracker.pull() {
            ledger.note(&d);
            if !d.accepted {
                refused += 1;
            } else if (from_ms as f64..to_ms as f64).contains(&d.received_ms) {
                kept_in_window += 1;
            }
        }
    };
    sleep_until_ms(from_ms).await;
    let j0 = cpu_jiffies();
    while now_ms() < to_ms {
        follow(tracker, ledger);
        tokio::time::sleep(PULL_EVERY).await;
    }
    let steal_pct = steal_percent(j0, cpu_jiffies());
    // The drain ends early once complete; a timeout only means some
    // occurrences are missing, which the outcome reports.
    let _ = poll::until("the window's last effects", drain, PULL_EVERY, || {
        follow(tracker, ledger);
        std::future::ready(ledger.complete().then_some(()))
    })
    .await;
    follow(tracker, ledger);
    Measured {
        outcome: ledger.outcome(),
        kept_in_window,
        refused,
        steal_pct,
        drained_ms: now_ms() - to_ms,
    }
}
