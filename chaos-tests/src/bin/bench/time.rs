//! Wall-clock instants in Unix milliseconds, as schedules and the sink's
//! headers count them, and waiting for one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The first whole second at or after `ms`.
pub fn ceil_sec(ms: i64) -> i64 {
    ms.div_euclid(1000) * 1000 + if ms.rem_euclid(1000) == 0 { 0 } else { 1000 }
}

/// The whole second at or before `ms`.
pub fn floor_sec(ms: i64) -> i64 {
    ms.div_euclid(1000) * 1000
}

/// Sleeps until the wall clock reads `ms` (at once if it already has).
/// Scenarios wait for instants of their own schedule this way; conditions
/// are polled with a deadline instead (`poll.rs`).
pub async fn sleep_until_ms(ms: i64) {
    let left = ms - now_ms();
    if left > 0 {
        tokio::time::sleep(Duration::from_millis(left as u64)).await;
    }
}

/// A protobuf timestamp of `ms` since the epoch.
pub fn ts(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// Milliseconds since the epoch of a protobuf timestamp.
pub fn ms(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

/// A protobuf duration of `ms`.
pub fn dur(ms: u64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// `ms` as RFC 3339 in UTC with milliseconds, as occurrence ids spell it.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    )
}
