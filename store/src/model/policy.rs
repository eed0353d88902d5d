//! Per-job policies: misfire grace, coalesce, overlap, retries, timeout,
//! jitter and run counts.

use serde::{Deserialize, Serialize};

/// How a backlog of late occurrences is collapsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Coalesce {
    /// Run the earliest late occurrence; record the rest as missed.
    Earliest,
    /// Run the latest late occurrence; record the rest as missed.
    #[default]
    Latest,
    /// Run every late occurrence still within misfire grace.
    All,
}

/// What happens when an occurrence is due while earlier ones are in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overlap {
    /// Up to `max_instances` in flight; beyond that the occurrence is skipped.
    #[default]
    Allow,
    /// Skip the new occurrence while one is in flight.
    Skip,
    /// Keep at most one waiting occurrence; it starts when the running one ends.
    BufferOne,
    /// Cancel the in-flight occurrence and run the new one.
    Replace,
}

/// Retries with exponential backoff. The multiplier is in thousandths so
/// that every replica computes the same delay without floating point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 means none.
    pub max_retries: u32,
    /// Delay before the first retry.
    pub initial_backoff_ms: u64,
    /// Upper bound on the delay.
    pub max_backoff_ms: u64,
    /// Growth factor per retry, in thousandths (2000 = ×2).
    pub multiplier_milli: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 0,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            multiplier_milli: 2_000,
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (1-based), in ms.
    pub fn backoff_ms(&self, retry: u32) -> u64 {
        let mut delay = self.initial_backoff_ms;
        for _ in 1..retry {
            delay = delay.saturating_mul(u64::from(self.multiplier_milli)) / 1000;
            if delay >= self.max_backoff_ms {
                return self.max_backoff_ms;
            }
        }
        delay.min(self.max_backoff_ms)
    }
}

/// The policies of one job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policies {
    /// How late (after its due instant) an occurrence may still start. `None`: no limit.
    pub misfire_grace_ms: Option<u64>,
    /// How a backlog is collapsed.
    pub coalesce: Coalesce,
    /// Concurrency policy.
    pub overlap: Overlap,
    /// With [`Overlap::Allow`]: how many occurrences may be in flight at once (≥ 1).
    pub max_instances: u32,
    /// Retries of a failed or timed-out attempt.
    pub retry: RetryPolicy,
    /// Kill an attempt that runs longer than this. `None`: no timeout.
    pub timeout_ms: Option<u64>,
    /// Each occurrence is delayed by a deterministic offset in `[0, jitter_ms)`.
    pub jitter_ms: u64,
    /// Create this many occurrences, then finish. 0: unlimited.
    pub max_runs: u64,
    /// Pause the job after this many occurrences in a row ended failed or
    /// timed out (after their retries). 0: never.
    pub pause_after_failures: u32,
}

impl Policies {
    /// `max_instances` with the default of 1 applied.
    pub fn instances(&self) -> u32 {
        self.max_instances.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            max_retries: 5,
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            multiplier_milli: 3_000,
        };
        let delays: Vec<u64> = (1..=4).map(|r| p.backoff_ms(r)).collect();
        assert_eq!(delays, vec![100, 300, 900, 1_000]);
    }
}
