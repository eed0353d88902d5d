//! Milliseconds and the protobuf well-known time types, one copy for every
//! crate: the node's conversions, the CLI, the chaos harness and the
//! benchmarks. Milliseconds since the Unix epoch (`i64`) are the unit of
//! the store, the occurrence ids and the executor contract.

use prost_types::{Duration, Timestamp};

/// A timestamp of `ms` since the epoch (negative: before it).
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// Milliseconds since the epoch of `t`; `None` when its nanos are out of
/// range or the value does not fit.
pub fn millis(t: &Timestamp) -> Option<i64> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return None;
    }
    t.seconds
        .checked_mul(1000)?
        .checked_add(i64::from(t.nanos / 1_000_000))
}

/// A duration of `ms`.
pub fn duration(ms: u64) -> Duration {
    Duration {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// Milliseconds of `d`; `None` when it is negative or does not fit.
pub fn duration_millis(d: &Duration) -> Option<u64> {
    if d.seconds < 0 || d.nanos < 0 {
        return None;
    }
    (d.seconds as u64)
        .checked_mul(1000)?
        .checked_add((d.nanos / 1_000_000) as u64)
}

/// Milliseconds since the epoch on this machine's wall clock, now. (The
/// store never reads a clock: its `now` comes inside commands.)
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_including_before_the_epoch() {
        for ms in [0, 1, 999, 1_000, -1, -1_001, 1_767_225_600_123] {
            assert_eq!(millis(&timestamp(ms)), Some(ms));
        }
        for ms in [0, 1, 999, 1_000, 86_400_000] {
            assert_eq!(duration_millis(&duration(ms)), Some(ms));
        }
        assert_eq!(
            millis(&Timestamp {
                seconds: 0,
                nanos: -1
            }),
            None
        );
        assert_eq!(
            duration_millis(&Duration {
                seconds: -1,
                nanos: 0
            }),
            None
        );
        assert_eq!(
            millis(&Timestamp {
                seconds: i64::MAX,
                nanos: 0
            }),
            None
        );
    }
}
