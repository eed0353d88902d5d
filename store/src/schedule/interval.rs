//! Intervals: a period of real elapsed time (rule 3: DST is ignored),
//! anchored at `anchor`, else at the start bound, else at the Unix epoch.
//!
//! A random range (`every 5 to 10 minutes`) cannot sit on a fixed grid: like
//! the `schedule` library, each gap is drawn afresh after the previous run.
//! The draw hashes (seed, previous instant), so every replica that asks
//! "next after the previous fire" gets the same answer.

use super::IntervalSpec;
use super::error::ScheduleError;

/// Longest accepted period: 100 years.
pub use crate::model::MAX_PERIOD_MS;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interval {
    pub every_ms: u64,
    pub max_ms: Option<u64>,
    pub anchor_ms: i64,
}

impl Interval {
    pub fn new(spec: &IntervalSpec, default_anchor_ms: i64) -> Result<Interval, ScheduleError> {
        if spec.every_ms == 0 {
            return Err(ScheduleError::new(
                "interval",
                None,
                "the period must be at least 1 ms",
            ));
        }
        if spec.every_ms > MAX_PERIOD_MS {
            return Err(ScheduleError::new(
                "interval",
                None,
                "the period must be at most 100 years",
            ));
        }
        if let Some(max) = spec.every_max_ms {
            if max < spec.every_ms {
                return Err(ScheduleError::new(
                    "interval",
                    None,
                    format!(
                        "the random range {}-{} ms goes backwards",
                        spec.every_ms, max
                    ),
                ));
            }
            if max > MAX_PERIOD_MS {
                return Err(ScheduleError::new(
                    "interval",
                    None,
                    "the period must be at most 100 years",
                ));
            }
        }
        Ok(Interval {
            every_ms: spec.every_ms,
            max_ms: spec.every_max_ms.filter(|m| *m != spec.every_ms),
            anchor_ms: spec
                .anchor
                .map_or(default_anchor_ms, |a| a.timestamp_millis()),
        })
    }

    /// The first fire instant (UTC ms) strictly after `after_ms`, where
    /// `after_ms` is already floored to the millisecond.
    pub fn next_after(&self, after_ms: i64, seed: u64) -> Option<i64> {
        if after_ms < self.anchor_ms {
            return Some(self.anchor_ms);
        }
        match self.max_ms {
            None => {
                let every = self.every_ms as i128;
                let k = (after_ms as i128 - self.anchor_ms as i128) / every + 1;
                i64::try_from(self.anchor_ms as i128 + k * every).ok()
            }
            Some(max) => {
                after_ms.checked_add(random_gap(self.every_ms, max, after_ms, seed) as i64)
            }
        }
    }
}

/// A gap in `[min, max]` drawn from (seed, previous instant). Whole seconds
/// when both ends are whole seconds, so `every 5 to 10 minutes` fires on
/// second boundaries.
fn random_gap(min: u64, max: u64, prev_ms: i64, seed: u64) -> u64 {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..].copy_from_slice(&prev_ms.to_le_bytes());
    let h = xxhash_rust::xxh3::xxh3_64(&key);
    if min.is_multiple_of(1000) && max.is_multiple_of(1000) {
        let (lo, hi) = (min / 1000, max / 1000);
        (lo + h % (hi - lo + 1)) * 1000
    } else {
        min + h % (max - min + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_and_random() {
        let i = Interval::new(
            &IntervalSpec {
                every_ms: 10_000,
                every_max_ms: None,
                anchor: None,
            },
            5_000,
        )
        .unwrap();
        assert_eq!(i.next_after(0, 0), Some(5_000));
        assert_eq!(i.next_after(5_000, 0), Some(15_000));
        assert_eq!(i.next_after(14_999, 0), Some(15_000));
        let r = Interval::new(
            &IntervalSpec {
                every_ms: 300_000,
                every_max_ms: Some(600_000),
                anchor: None,
            },
            0,
        )
        .unwrap();
        for prev in [1_000i64, 77_000, 1_700_000_000_000] {
            let n = r.next_after(prev, 42).unwrap();
            assert!((prev + 300_000..=prev + 600_000).contains(&n));
            assert_eq!(n % 1000, 0);
            assert_eq!(r.next_after(prev, 42), Some(n), "deterministic");
        }
    }
}
