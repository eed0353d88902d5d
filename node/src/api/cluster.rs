//! `scheduler.v1.ClusterService`: status, join (add member) and leave.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers};
use proto::v1 as pb;
use proto::v1::cluster_service_client::ClusterServiceClient;
use proto::v1::cluster_service_server::ClusterService;
use store::raft::NodeId;
use tonic::{Request, Response, Status};

use crate::node::Node;

/// How long status waits for the leader's view before showing its own.
const STATUS_ASK_LEADER: Duration = Duration::from_millis(800);
/// How long a join probes the new node's address.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a join waits for the learner to catch up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);

/// Serves the cluster API on one node.
pub struct Cluster {
    node: Node,
    membership_lock: tokio::sync::Mutex<()>,
}

impl Cluster {
    /// Serves `node`.
    pub fn new(node: Node) -> Self {
        Cluster {
            node,
            membership_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn leader_client(
        &self,
    ) -> Result<Option<ClusterServiceClient<tonic::transport::Channel>>, Status> {
        match self.node.leader() {
            Some((id, _)) if id == self.node.id => Ok(None),
            Some((_, addr)) => {
                let ch = self
                    .node
                    .channels
                    .get(&addr)
                    .map_err(|e| Status::unavailable(e.to_string()))?;
                Ok(Some(ClusterServiceClient::new(ch)))
            }
            None => Err(self
                .node
                .unavailable("no leader is known; membership changes need one")
                .into()),
        }
    }
}

fn membership_error(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> Status {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => {
            Status::unavailable("leadership changed during the membership change; retry")
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            Status::failed_precondition(e.to_string())
        }
        RaftError::Fatal(e) => Status::internal(e.to_string()),
    }
}

#[tonic::async_trait]
impl ClusterService for Cluster {
    async fn status(
        &self,
        _req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        if let Ok(Some(mut leader)) = self.leader_client() {
            let mut req = Request::new(pb::StatusRequest {});
            req.set_timeout(STATUS_ASK_LEADER);
            if let Ok(Ok(resp)) = tokio::time::timeout(STATUS_ASK_LEADER, leader.status(req)).await
            {
                return Ok(resp);
            }
        }
        Ok(Response::new(self.node.local_status()))
    }

    async fn add_member(
        &self,
        req: Request<pb::AddMemberRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let req = req.into_inner();
        if let Some(mut leader) = self.leader_client()? {
            return leader.add_member(req).await;
        }
        // One membership change at a time on this leader.
        let _guard = self.membership_lock.lock().await;
        if req.addr.is_empty() {
            return Err(Status::invalid_argument("addr: is required (HOST:PORT)"));
        }
        let membership = self.node.membership();
        if let Some(existing) = membership.get_node(&req.id) {
            if existing.addr == req.addr && membership.voter_ids().any(|v| v == req.id) {
                // Idempotent: a restarted node that joins again with the same
                // id and address is already in.
                return Ok(Response::new(self.node.local_status()));
            }
            return Err(Status::already_exists(format!(
                "id: node {} is already a member at {}; remove it first or pick another id",
                req.id, existing.addr
            )));
        }
        // Probe the address: an unreachable or mismatched node must not
        // enter the membership (a learner that never answers stalls nothing,
        // but a wrong address is an operator error worth reporting).
        let probe = async {
            let ch = self
                .node
                .channels
                .get(&req.addr)
                .map_err(|e| e.to_string())?;
            let mut client = ClusterServiceClient::new(ch);
            let mut r = Request::new(pb::StatusRequest {});
            r.set_timeout(PROBE_TIMEOUT);
            client
                .status(r)
                .await
                .map(|r| r.into_inner())
                .map_err(|e| e.message().to_string())
        };
        match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
            Ok(Ok(status)) if status.answered_by == req.id => {}
            Ok(Ok(status)) => {
                return Err(Status::invalid_argument(format!(
                    "addr: {} answers as node {}, not node {}",
                    req.addr, status.answered_by, req.id
                )));
            }
            Ok(Err(e)) => {
                return Err(Status::unavailable(format!(
                    "addr: {} is unreachable: {e}",
                    req.addr
                )));
            }
            Err(_) => {
                return Err(Status::unavailable(format!(
                    "addr: {} did not answer within {PROBE_TIMEOUT:?}",
                    req.addr
                )));
            }
        }
        let add = self
            .node
            .raft
            .add_learner(req.id, BasicNode::new(&req.addr), true);
        match tokio::time::timeout(CATCH_UP_TIMEOUT, add).await {
            Ok(r) => r.map_err(membership_error)?,
            Err(_) => {
                return Err(Status::deadline_exceeded(format!(
                    "node {} was added as a learner but did not catch up within {CATCH_UP_TIMEOUT:?}",
                    req.id
                )));
            }
        };
        // Add relative to the membership as it is now (another join may
        // have completed meanwhile), not as it was read above.
        self.node
            .raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([req.id])), false)
            .await
            .map_err(membership_error)?;
        tracing::info!(id = req.id, addr = %req.addr, "member joined as voter");
        Ok(Response::new(self.node.local_status()))
    }

    async fn remove_member(
        &self,
        req: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let req = req.into_inner();
        if let Some(mut leader) = self.leader_client()? {
            return leader.remove_member(req).await;
        }
        let _guard = self.membership_lock.lock().await;
        let membership = self.node.membership();
        if membership.get_node(&req.id).is_none() {
            return Err(Status::not_found(format!(
                "id: node {} is not a member",
                req.id
            )));
        }
        let is_voter = membership.voter_ids().any(|v| v == req.id);
        if is_voter && membership.voter_ids().count() == 1 {
            return Err(Status::failed_precondition(
                "id: cannot remove the last voter",
            ));
        }
        let change = if is_voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([req.id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([req.id]))
        };
        self.node
            .raft
            .change_membership(change, false)
            .await
            .map_err(membership_error)?;
        // Forget its assignment properties too: a removed node is never
        // picked again, and a node that joins later under the same id
        // registers afresh. Best effort: membership is what counts.
        if let Err(e) = self
            .node
            .write_as_leader(store::command::Command::RemoveNode { id: req.id })
            .await
        {
            tracing::warn!(id = req.id, error = %e, "forgetting a removed node's properties");
        }
        tracing::info!(id = req.id, "member removed");
        Ok(Response::new(self.node.local_status()))
    }
}
