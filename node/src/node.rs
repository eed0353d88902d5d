//! One cluster member: its Raft handle, its applied state, its peer
//! channels, and the write path shared by every API (propose locally when
//! leader, otherwise forward to the leader).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ServerState};
use proto::v1 as pb;
use store::command::{Command, Response};
use store::raft::{NodeId, StateHandle};

use crate::error::ApiError;

use crate::peers::Channels;
use crate::raft::ClusterRaft;

/// How long a write waits for a leader to appear before answering UNAVAILABLE.
const LEADER_WAIT: Duration = Duration::from_secs(5);
/// How many leader changes a write follows before giving up.
const MAX_FORWARD_HOPS: usize = 5;
/// Replication lag (entries) above which a member counts as unhealthy.
use store::model::MAX_HEALTHY_LAG as HEALTHY_LAG;

pub use crate::clock::{now_ms, now_us};

/// A running member.
#[derive(Clone)]
pub struct Node {
    /// This node's id.
    pub id: NodeId,
    /// The address peers reach it at: its address in the membership (the
    /// peer listener's with `--peer-listen`).
    pub addr: String,
    /// The address clients reach it at (the same as `addr` without
    /// `--peer-listen`); registered in the state, so that leader hints and
    /// the status name addresses clients can use.
    pub client_addr: String,
    /// The Raft handle.
    pub raft: ClusterRaft,
    /// Read access to the applied state.
    pub state: StateHandle,
    /// Channels to peers, shared with the Raft network.
    pub channels: Channels,
    /// When each peer last acknowledged an append from this node.
    pub contacts: crate::peers::Contacts,
    /// The followers' lease length (the leader waits it out, plus a margin,
    /// before reassigning an assignee's attempts).
    pub lease: std::time::Duration,
    /// Due-time hints received from the leader's dispatch.
    pub hints: crate::clock::hints::Hints,
}

/// A committed write: what applying it returned and its log index.
pub struct Written {
    /// The state machine's response.
    pub response: Response,
    /// The log index of the entry.
    pub index: u64,
}

impl Node {
    /// The current leader's id and address, if known.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        let m = self.raft.metrics().borrow().clone();
        let id = m.current_leader?;
        let addr = m.membership_config.membership().get_node(&id)?.addr.clone();
        Some((id, addr))
    }

    /// The current membership config as this node knows it.
    pub fn membership(&self) -> openraft::Membership<NodeId, BasicNode> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone()
    }

    /// Unavailable, with the leader hint when one is known.
    pub fn unavailable(&self, why: &str) -> ApiError {
        ApiError::Unavailable {
            message: why.to_string(),
            leader: self
                .leader()
                .map(|(id, addr)| (id, self.client_addr_of(id).unwrap_or(addr))),
        }
    }

    /// The client address node `id` registered, if it has.
    pub fn client_addr_of(&self, id: NodeId) -> Option<String> {
        self.state
            .read(|s| s.nodes().get(&id).map(|n| n.addr.clone()))
            .filter(|a| !a.is_empty())
    }

    /// Commits `cmd` (here when leader, else through the leader) and waits
    /// until this node has applied it, so a read here after the write sees it.
    pub async fn write(&self, cmd: Command) -> Result<Written, ApiError> {
        let written = self.write_anywhere(cmd).await?;
        // A forwarded write is applied here shortly after; don't answer
        // before, or the client could not read its own write from us.
        let wait = self.state.wait_applied(written.index);
        match tokio::time::timeout(LEADER_WAIT, wait).await {
            Ok(Ok(_)) => Ok(written),
            _ => Err(ApiError::unavailable(format!(
                "entry {} committed but not yet applied on node {}; retry the read",
                written.index, self.id
            ))),
        }
    }

    async fn write_anywhere(&self, cmd: Command) -> Result<Written, ApiError> {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        let mut hops = 0;
        loop {
            match self.raft.client_write(cmd.clone()).await {
                Ok(resp) => {
                    return Ok(Written {
                        response: resp.data,
                        index: resp.log_id.index,
                    });
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(fwd))) => {
                    if let (Some(leader), Some(node)) = (fwd.leader_id, fwd.leader_node.as_ref())
                        && leader != self.id
                    {
                        match self.forward(node, &cmd).await {
                            Ok(w) => return Ok(w),
                            Err(ApiError::Unavailable { .. }) if hops < MAX_FORWARD_HOPS => {
                                hops += 1;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                    return Err(ApiError::Conflict(e.to_string()));
                }
                Err(RaftError::Fatal(e)) => {
                    return Err(ApiError::Internal(format!("raft stopped: {e}")));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.unavailable("no leader is known; the cluster may be electing one"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn forward(&self, leader: &BasicNode, cmd: &Command) -> Result<Written, ApiError> {
        let (response, index) =
            crate::peers::forward_write(&self.channels, &leader.addr, cmd).await?;
        Ok(Written { response, index })
    }

    /// Commits `cmd` here; fails with UNAVAILABLE when not the leader.
    pub async fn write_as_leader(&self, cmd: Command) -> Result<Written, ApiError> {
        match self.raft.client_write(cmd).await {
            Ok(resp) => Ok(Written {
                response: resp.data,
                index: resp.log_id.index,
            }),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                Err(self.unavailable("not the leader (leadership changed while forwarding)"))
            }
            Err(e) => Err(ApiError::Internal(e.to_string())),
        }
    }

    /// The cluster as this node sees it. A follower asks the leader first
    /// (it alone knows replication progress) and falls back to its own view.
    pub fn local_status(&self) -> pb::ClusterStatus {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let leader_last = m.last_log_index.unwrap_or(0);
        let replication: BTreeMap<NodeId, Option<u64>> = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, lid)| (*id, lid.map(|l| l.index)))
                    .collect()
            })
            .unwrap_or_default();
        let is_leader = m.state == ServerState::Leader;
        let members = membership
            .nodes()
            .map(|(id, node)| {
                let voter = voters.contains(id);
                let (state, last_log, applied, healthy) = if *id == self.id {
                    let state = match m.state {
                        ServerState::Leader => "leader",
                        ServerState::Follower => "follower",
                        ServerState::Candidate => "candidate",
                        ServerState::Learner => "learner",
                        ServerState::Shutdown => "shutdown",
                    };
                    let applied = m.last_applied.map_or(0, |l| l.index);
                    (
                        state.to_string(),
                        m.last_log_index.unwrap_or(0),
                        applied,
                        m.current_leader.is_some(),
                    )
                } else if is_leader {
                    let matched = replication.get(id).copied().flatten();
                    let state = if voter { "follower" } else { "learner" };
                    let healthy =
                        matched.is_some_and(|i| leader_last.saturating_sub(i) <= HEALTHY_LAG);
                    (
                        state.to_string(),
                        matched.unwrap_or(0),
                        matched.unwrap_or(0),
                        healthy,
                    )
                } else {
                    let state = if Some(*id) == m.current_leader {
                        "leader"
                    } else {
                        "unknown"
                    };
                    (state.to_string(), 0, 0, Some(*id) == m.current_leader)
                };
                pb::Member {
                    id: *id,
                    addr: self
                        .client_addr_of(*id)
                        .unwrap_or_else(|| node.addr.clone()),
                    voter,
                    state,
                    last_log_index: last_log,
                    applied_index: applied,
                    lag: if is_leader || *id == self.id {
                        leader_last.saturating_sub(last_log)
                    } else {
                        0
                    },
                    healthy,
                }
            })
            .collect();
        // Joint, or the newest configuration not applied here yet (so not
        // known committed): `voters` above is then the union of both.
        let membership_changing = membership.get_joint_config().len() > 1
            || m.membership_config.log_id().as_ref().map(|l| l.index)
                > m.last_applied.as_ref().map(|l| l.index);
        pb::ClusterStatus {
            leader: m.current_leader,
            term: m.current_term,
            members,
            answered_by: self.id,
            membership_changing,
        }
    }
}
