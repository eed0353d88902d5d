//! Graceful shutdown of a leader: it asks its most up-to-date voter to
//! take over, so the cluster does not wait for an election timeout.

use std::time::Duration;

use openraft::ServerState;
use proto::internal::node_service_client::NodeServiceClient;

use crate::node::Node;

/// How long a leader waits for leadership to move before shutting down anyway.
const HANDOVER_WAIT: Duration = Duration::from_secs(3);

/// A leader that stops asks its most up-to-date voter to take over, so the
/// cluster does not wait for an election timeout.
pub(super) async fn hand_over(node: &Node) {
    let m = node.raft.metrics().borrow().clone();
    if m.state != ServerState::Leader {
        return;
    }
    let membership = m.membership_config.membership();
    let best = m
        .replication
        .as_ref()
        .and_then(|r| {
            r.iter()
                .filter(|(id, _)| **id != node.id && membership.voter_ids().any(|v| v == **id))
                .max_by_key(|(_, lid)| lid.map(|l| l.index))
                .map(|(id, _)| *id)
        })
        .and_then(|id| membership.get_node(&id).map(|n| (id, n.addr.clone())));
    let Some((target, addr)) = best else { return };
    let Ok(ch) = node.channels.get(&addr) else {
        return;
    };
    let mut client = NodeServiceClient::new(ch);
    let asked = client
        .transfer_leadership(proto::internal::TransferLeadershipRequest { from: node.id })
        .await;
    if let Err(e) = asked {
        tracing::warn!(target, error = %e, "leadership hand-over refused");
        return;
    }
    let mut rx = node.raft.metrics();
    let moved = tokio::time::timeout(
        HANDOVER_WAIT,
        rx.wait_for(|m| m.state != ServerState::Leader),
    )
    .await;
    tracing::info!(target, moved = moved.is_ok(), "leadership hand-over");
}
