//! Membership and status: join (add a member: probe its address, add it as
//! a learner, wait for it to catch up, make it a voter), leave, and the
//! cluster's status. Membership changes run on the leader; a follower
//! passes them on.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers};
use proto::v1 as pb;
use store::raft::NodeId;

use super::{ApiError, App, Caller};
use crate::peers;

/// How long status waits for the leader's view before showing its own.
const STATUS_ASK_LEADER: Duration = Duration::from_millis(800);
/// How long a join probes the new node's address.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a join waits for the learner to catch up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);

fn membership_error(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> ApiError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => {
            ApiError::unavailable("leadership changed during the membership change; retry")
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            ApiError::Conflict(e.to_string())
        }
        RaftError::Fatal(e) => ApiError::Internal(e.to_string()),
    }
}

/// Where a membership change runs.
enum Leader {
    /// Here.
    Me,
    /// At this address.
    At(String),
}

impl App {
    fn membership_leader(&self) -> Result<Leader, ApiError> {
        match self.node.leader() {
            Some((id, _)) if id == self.node.id => Ok(Leader::Me),
            Some((_, addr)) => Ok(Leader::At(addr)),
            None => Err(self
                .node
                .unavailable("no leader is known; membership changes need one")),
        }
    }

    /// The cluster as the leader sees it (it alone knows replication
    /// progress), else as this node does.
    ///
    /// Only the leader's own view is relayed: a process at the leader's
    /// address that does not lead (the leader restarted there, or a node on
    /// a lost volume came up in its place) knows less than this node. A
    /// fresh node asking its peers whether a cluster exists would otherwise
    /// hear its own empty answer back, take it for "no cluster", and
    /// bootstrap a second one.
    pub async fn cluster_status(&self, _caller: &Caller) -> pb::ClusterStatus {
        if let Some((id, addr)) = self.node.leader()
            && id != self.node.id
            && let Some(s) =
                peers::cluster_status(&self.node.channels, &addr, STATUS_ASK_LEADER).await
            && s.answered_by == id
            && s.leader == Some(id)
        {
            return s;
        }
        self.node.local_status()
    }

    /// Adds node `id` at `addr` as a learner, waits for it to catch up,
    /// then makes it a voter. Idempotent for a node already in with the
    /// same address.
    pub async fn add_member(
        &self,
        caller: &Caller,
        id: NodeId,
        addr: &str,
    ) -> Result<pb::ClusterStatus, ApiError> {
        if let Leader::At(leader) = self.membership_leader()? {
            return peers::add_member(
                &self.node.channels,
                &leader,
                id,
                addr,
                caller.bearer.as_ref(),
            )
            .await;
        }
        // One membership change at a time on this leader.
        let _guard = self.membership_lock.lock().await;
        if addr.is_empty() {
            return Err(ApiError::invalid("addr", "is required (HOST:PORT)"));
        }
        match join_step(&self.node.membership(), id, addr) {
            JoinStep::New => {}
            JoinStep::Done => return Ok(self.node.local_status()),
            JoinStep::Finish => tracing::info!(id, addr, "finishing a join that was cut short"),
            JoinStep::Conflict(msg) => return Err(ApiError::AlreadyExists(msg)),
        }
        // Probe the address: an unreachable or mismatched node must not
        // enter the membership (a wrong address is an operator error
        // worth reporting).
        match peers::probe(&self.node.channels, addr, PROBE_TIMEOUT).await {
            Ok(status) if status.answered_by == id => {}
            Ok(status) => {
                return Err(ApiError::invalid(
                    "addr",
                    format!(
                        "{addr} answers as node {}, not node {id}",
                        status.answered_by
                    ),
                ));
            }
            Err(e) => {
                return Err(ApiError::unavailable(format!("addr: {addr} {e}")));
            }
        }
        // A node started bare answers Raft only once told it is added
        // (raft/service.rs, `Admission`).
        if let Err(e) = peers::admit(&self.node.channels, addr, id, PROBE_TIMEOUT).await {
            return Err(ApiError::unavailable(format!(
                "addr: {addr} did not take its admission as node {id}: {e}"
            )));
        }
        let add = self.node.raft.add_learner(id, BasicNode::new(addr), true);
        match tokio::time::timeout(CATCH_UP_TIMEOUT, add).await {
            Ok(r) => r.map_err(membership_error)?,
            Err(_) => {
                return Err(ApiError::DeadlineExceeded(format!(
                    "node {id} was added as a learner but did not catch up within {CATCH_UP_TIMEOUT:?}"
                )));
            }
        };
        // Add relative to the membership as it is now (another join may
        // have completed meanwhile), not as it was read above.
        self.node
            .raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(membership_error)?;
        tracing::info!(id, addr, "member joined as voter");
        Ok(self.node.local_status())
    }

    /// Removes node `id` from the membership (never the last voter), and
    /// forgets its assignment properties.
    pub async fn remove_member(
        &self,
        caller: &Caller,
        id: NodeId,
    ) -> Result<pb::ClusterStatus, ApiError> {
        if let Leader::At(leader) = self.membership_leader()? {
            return peers::remove_member(&self.node.channels, &leader, id, caller.bearer.as_ref())
                .await;
        }
        let _guard = self.membership_lock.lock().await;
        let membership = self.node.membership();
        if membership.get_node(&id).is_none() {
            return Err(ApiError::NotFound(format!("id: node {id} is not a member")));
        }
        let is_voter = membership.voter_ids().any(|v| v == id);
        if is_voter && membership.voter_ids().count() == 1 {
            return Err(ApiError::Conflict(
                "id: cannot remove the last voter".into(),
            ));
        }
        let change = if is_voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        self.node
            .raft
            .change_membership(change, false)
            .await
            .map_err(membership_error)?;
        // A removed node is never picked again, and a node that joins later
        // under the same id registers afresh. Best effort: membership is
        // what counts.
        if let Err(e) = self
            .node
            .write_as_leader(store::command::Command::RemoveNode { id })
            .await
        {
            tracing::warn!(id, error = %e, "forgetting a removed node's properties");
        }
        tracing::info!(id, "member removed");
        Ok(self.node.local_status())
    }
}

/// What adding node `id` at `addr` takes, given the membership.
#[derive(Debug, PartialEq, Eq)]
enum JoinStep {
    /// Not a member: probe, admit, learner step, voter step.
    New,
    /// Already a voter at that address, no change in flight: a restarted
    /// node that joins again is in.
    Done,
    /// The same node, a learner or in a joint configuration: a join cut
    /// short by a change of leader (between the learner and the voter
    /// step, or inside the joint step). The steps again finish it: adding
    /// an existing learner changes nothing, and the voter step leaves the
    /// joint configuration.
    Finish,
    /// The id is a member at another address.
    Conflict(String),
}

fn join_step(
    membership: &openraft::Membership<NodeId, BasicNode>,
    id: NodeId,
    addr: &str,
) -> JoinStep {
    let Some(existing) = membership.get_node(&id) else {
        return JoinStep::New;
    };
    if existing.addr != addr {
        return JoinStep::Conflict(format!(
            "id: node {id} is already a member at {}; remove it first or pick another id",
            existing.addr
        ));
    }
    let settled = membership.get_joint_config().len() == 1;
    if settled && membership.voter_ids().any(|v| v == id) {
        JoinStep::Done
    } else {
        JoinStep::Finish
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::{BasicNode, Membership};

    use super::{JoinStep, join_step};

    fn nodes(ids: &[u64]) -> BTreeMap<u64, BasicNode> {
        ids.iter()
            .map(|id| (*id, BasicNode::new(format!("10.0.0.{id}:7100"))))
            .collect()
    }

    fn config(ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_join_cut_short_is_finished_and_a_settled_one_is_done() {
        let settled = Membership::new(vec![config(&[1, 2, 3])], nodes(&[1, 2, 3]));
        assert_eq!(join_step(&settled, 4, "10.0.0.4:7100"), JoinStep::New);
        assert_eq!(join_step(&settled, 3, "10.0.0.3:7100"), JoinStep::Done);
        match join_step(&settled, 3, "10.0.0.9:7100") {
            JoinStep::Conflict(m) => assert!(m.contains("10.0.0.3:7100"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Left a learner: the leader died after the learner step.
        let learner = Membership::new(vec![config(&[1, 2, 3])], nodes(&[1, 2, 3, 4]));
        assert_eq!(join_step(&learner, 4, "10.0.0.4:7100"), JoinStep::Finish);
        // Left in the joint configuration: a voter of the new half only,
        // and the old half's quorum still rules.
        let joint = Membership::new(
            vec![config(&[1, 2, 3]), config(&[1, 2, 3, 4])],
            nodes(&[1, 2, 3, 4]),
        );
        assert_eq!(join_step(&joint, 4, "10.0.0.4:7100"), JoinStep::Finish);
        // Another node of a joint configuration asking again finishes it
        // too (whoever asks, the voter step leaves the joint config).
        assert_eq!(join_step(&joint, 2, "10.0.0.2:7100"), JoinStep::Finish);
    }
}
