//! openraft wiring: configuration, the gRPC network and the transport
//! service. Everything openraft-specific outside `store` stays here, so a
//! move to openraft 0.10 stays local.

pub mod campaign;
pub mod network;
pub mod service;

use std::sync::Arc;

use openraft::{Config, Raft, SnapshotPolicy};
use store::raft::TypeConfig;

/// The Raft handle of this cluster.
pub type ClusterRaft = Raft<TypeConfig>;

/// Timing of the Raft core, in milliseconds. It comes from schedulerd's
/// flags only (`--heartbeat-ms`, `--election-min-ms`, ...: `config.rs`
/// holds the defaults), so there is no second set of defaults here.
#[derive(Clone, Debug)]
pub struct RaftTiming {
    /// Leader heartbeat period.
    pub heartbeat_ms: u64,
    /// Election timeout range; an election starts after a random time in it.
    pub election_min_ms: u64,
    /// Upper end of the election timeout range.
    pub election_max_ms: u64,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_every: u64,
}

/// openraft's config for `timing`, validated.
pub fn config(timing: &RaftTiming) -> anyhow::Result<Arc<Config>> {
    let cfg = Config {
        cluster_name: "scheduler".into(),
        heartbeat_interval: timing.heartbeat_ms,
        election_timeout_min: timing.election_min_ms,
        election_timeout_max: timing.election_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(timing.snapshot_every),
        // Keep some log behind a snapshot so a briefly lagging follower
        // catches up from the log instead of a full snapshot.
        max_in_snapshot_log_to_keep: 1_000,
        snapshot_max_chunk_size: 1024 * 1024,
        ..Config::default()
    };
    Ok(Arc::new(cfg.validate()?))
}
