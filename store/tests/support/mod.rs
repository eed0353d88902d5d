//! Shared by the store's integration tests.

use std::path::Path;
use std::time::{Duration, Instant};

use store::raft::{RaftStore, open};

/// Reopens the store at `dir` in this process. sled releases its file lock
/// only when its background flusher has stopped, shortly after the last
/// handle drops, so the reopen is polled with a deadline instead of assumed.
pub async fn reopen(dir: &Path) -> RaftStore {
    let within = Duration::from_secs(10);
    let deadline = Instant::now() + within;
    loop {
        match open(dir) {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "store still locked; retrying");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!(
                "reopening the store at {} within {within:?}: {e}",
                dir.display()
            ),
        }
    }
}
