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

/// A job's policies as the state stores them: nothing when they are the
/// defaults (as for most jobs), boxed otherwise. 8 bytes in place of 88:
/// with a million jobs, what takes `Job` from mimalloc's 640-byte size
/// class down to 448 (`cargo run --release -p store --example mem_state`).
///
/// Reads go through `Deref` (`spec.policies.timeout_ms`); writes through
/// `DerefMut` box the defaults first. Encoded exactly as [`Policies`], so
/// logs and snapshots are unchanged; equality compares the values.
#[derive(Clone, Default)]
pub struct StoredPolicies(Option<Box<Policies>>);

/// What a `StoredPolicies` without a box reads as.
static DEFAULT_POLICIES: std::sync::LazyLock<Policies> =
    std::sync::LazyLock::new(Policies::default);

impl StoredPolicies {
    /// The policies, by value.
    pub fn into_inner(self) -> Policies {
        self.0.map_or_else(Policies::default, |b| *b)
    }

    /// Whether they are stored out of line (not the defaults when stored).
    pub fn is_boxed(&self) -> bool {
        self.0.is_some()
    }
}

impl From<Policies> for StoredPolicies {
    fn from(p: Policies) -> Self {
        if p == Policies::default() {
            StoredPolicies(None)
        } else {
            StoredPolicies(Some(Box::new(p)))
        }
    }
}

impl std::ops::Deref for StoredPolicies {
    type Target = Policies;
    fn deref(&self) -> &Policies {
        self.0.as_deref().unwrap_or(&DEFAULT_POLICIES)
    }
}

impl std::ops::DerefMut for StoredPolicies {
    fn deref_mut(&mut self) -> &mut Policies {
        self.0.get_or_insert_with(Box::default)
    }
}

impl PartialEq for StoredPolicies {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for StoredPolicies {}

impl std::fmt::Debug for StoredPolicies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl Serialize for StoredPolicies {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for StoredPolicies {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Policies::deserialize(d).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_policies_box_only_what_is_not_default_and_encode_as_policies() {
        let default = StoredPolicies::from(Policies::default());
        assert!(!default.is_boxed());
        assert_eq!(default.timeout_ms, None);
        let custom = Policies {
            timeout_ms: Some(5_000),
            ..Policies::default()
        };
        let stored = StoredPolicies::from(custom.clone());
        assert!(stored.is_boxed());
        assert_eq!(stored.timeout_ms, Some(5_000));
        for (p, s) in [(Policies::default(), &default), (custom.clone(), &stored)] {
            let plain = postcard::to_allocvec(&p).expect("encode");
            assert_eq!(postcard::to_allocvec(s).expect("encode"), plain);
            let back: StoredPolicies = postcard::from_bytes(&plain).expect("decode");
            assert_eq!(&back, s);
            assert_eq!(back.is_boxed(), s.is_boxed());
        }
        // A write boxes; equality compares values, boxed or not.
        let mut written = StoredPolicies::from(Policies::default());
        assert!(!written.is_boxed());
        written.timeout_ms = Some(5_000);
        assert!(written.is_boxed());
        assert_eq!(written, stored);
        written.timeout_ms = None;
        assert_eq!(written, default);
        assert_eq!(written.into_inner(), Policies::default());
        assert_eq!(stored.into_inner(), custom);
    }

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
