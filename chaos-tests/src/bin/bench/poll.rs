//! Polling a condition with a deadline, returning an error (rather than
//! panicking as `harness::wait_for` does) so a scenario can report what it
//! measured so far, and with a deadline and period of its own: the scale
//! scenario waits minutes for a million-job snapshot, the failover scenario
//! polls every 10 ms to time an election.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::bail;

/// Calls `check` every `every` until it returns `Some`, or fails naming
/// `what` once `within` has passed.
pub async fn until<T, F, Fut>(
    what: &str,
    within: Duration,
    every: Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if start.elapsed() >= within {
            bail!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(every).await;
    }
}
