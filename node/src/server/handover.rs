//! Graceful shutdown of a leader: it stops, then asks its most
//! up-to-date voter to campaign the moment the others may vote for it.
//!
//! Why not a plain "elect now": openraft 0.9 makes every voter refuse a
//! vote for as long as the leader's lease runs (`election_timeout_max`
//! since it last heard the leader). A follower asked to campaign while
//! the leader still runs is refused, and its higher term then deposes the
//! leader: measured with 4-5 s election timeouts, that made a SIGTERM of
//! the leader cost 9-20 s instead of the 9 s of a plain election. So the
//! leader first stops (no more heartbeats), and the target campaigns once
//! the lease has run out everywhere: about one lease after the stop,
//! instead of a lease plus an election timeout (whose first campaign,
//! started before the lease ran out, is refused).

use openraft::ServerState;
use proto::internal::node_service_client::NodeServiceClient;

use crate::node::Node;

/// A leader that stops hands leadership to its most up-to-date voter. Stops
/// this node's Raft core in any case; an error of that stop is returned.
pub(super) async fn hand_over(node: &Node) -> Result<(), tokio::task::JoinError> {
    let m = node.raft.metrics().borrow().clone();
    let target = (m.state == ServerState::Leader)
        .then(|| {
            let membership = m.membership_config.membership();
            m.replication.as_ref().and_then(|r| {
                r.iter()
                    .filter(|(id, _)| **id != node.id && membership.voter_ids().any(|v| v == **id))
                    .max_by_key(|(_, lid)| lid.map(|l| l.index))
                    .and_then(|(id, _)| membership.get_node(id).map(|n| (*id, n.addr.clone())))
            })
        })
        .flatten();
    // First stop: a heartbeat sent after the target's request would renew
    // the lease that makes the others refuse its votes.
    let stopped = node.raft.shutdown().await;
    let Some((target, addr)) = target else {
        return stopped;
    };
    let Ok(ch) = node.channels.get(&addr) else {
        return stopped;
    };
    let mut client = NodeServiceClient::new(ch);
    match client
        .transfer_leadership(proto::internal::TransferLeadershipRequest { from: node.id })
        .await
    {
        Ok(_) => tracing::info!(
            target,
            "leadership handed over: the target campaigns once the lease has run out"
        ),
        Err(e) => tracing::warn!(target, error = %e, "leadership hand-over refused"),
    }
    stopped
}
