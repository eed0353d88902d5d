//! Campaigning as soon as a silent leader's lease has run out.
//!
//! openraft 0.9 makes a voter refuse votes for one lease
//! (`election_timeout_max`) after it last heard a leader, while its own
//! election timer fires between the lower and the upper timeout: so after
//! a leader dies, the first campaign is nearly always refused, and a new
//! leader comes a whole election timeout later (about twice the upper
//! timeout in all). This task starts a campaign just after the lease has
//! run out instead, with a per-attempt random spread so that two
//! followers rarely campaign at once. Raft's voting rules decide the
//! election as always: this changes when a campaign starts, never who may
//! win it, and it never campaigns earlier than openraft's own timer would.

use std::time::{Duration, Instant};

use openraft::ServerState;

use crate::clock::lease::Lease;
use crate::raft::ClusterRaft;

/// How often the leader's silence is checked.
const CHECK_EVERY: Duration = Duration::from_millis(10);
/// The least time past the lease before a campaign: clock rates and the
/// last append's transit.
const PAST_LEASE: Duration = Duration::from_millis(20);

/// Watches for a silent leader until the Raft core stops.
pub async fn run(raft: ClusterRaft, lease: Lease, node_id: u64) {
    let max = Duration::from_millis(raft.config().election_timeout_max);
    let min = Duration::from_millis(raft.config().election_timeout_min);
    // Spread campaigns over up to half the timeouts' range.
    let spread_ms = ((max - min) / 2).as_millis().max(1) as u64;
    let wait = || PAST_LEASE + Duration::from_millis(getrandom::u64().unwrap_or(0) % spread_ms);
    let mut next_wait = wait();
    let mut last_campaign: Option<Instant> = None;
    let metrics = raft.metrics();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (state, voter) = {
            let m = metrics.borrow();
            (
                m.state,
                m.membership_config
                    .membership()
                    .voter_ids()
                    .any(|v| v == node_id),
            )
        };
        match state {
            ServerState::Shutdown => return,
            ServerState::Follower | ServerState::Candidate if voter => {}
            _ => continue,
        }
        let Some(silent) = lease.silent_for() else {
            continue;
        };
        let due = max + next_wait;
        if silent < due || last_campaign.is_some_and(|t| t.elapsed() < due) {
            continue;
        }
        last_campaign = Some(Instant::now());
        next_wait = wait();
        tracing::info!(
            silent_ms = silent.as_millis() as u64,
            "the leader's lease has run out: campaigning"
        );
        if let Err(e) = raft.trigger().elect().await {
            tracing::warn!(error = %e, "campaign not started");
        }
    }
}
