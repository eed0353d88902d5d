//! Wall-clock instants in Unix milliseconds, as schedules and the sink's
//! headers count them, and waiting for one.

use std::time::Duration;

pub use chaos_tests::pb::{dur, ms, ts};
pub use proto::time::now_ms;
/// `ms` as RFC 3339 in UTC with milliseconds, as occurrence ids spell it.
pub use store::model::time::rfc3339_ms;

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
