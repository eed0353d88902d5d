//! The Raft transport's server side: decode openraft's request, hand it to
//! the local Raft, encode its result (success or Raft error) back.

use openraft::Raft;
use proto::internal::RaftPayload;
use proto::internal::raft_service_server::RaftService;
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::raft::TypeConfig;
use tonic::{Request, Response, Status};

use crate::clock::lease::LeaderTerm;

/// Whether this node answers Raft messages yet. A node started on an
/// empty data dir with `--join` or `--peers` first asks the cluster whether
/// it already lists this node (a lost volume), and refuses to start if so;
/// one started bare waits for the leader that adds it (`clusterctl join`)
/// to say so (`NodeService.Admit`): a lost member started bare is never
/// added again, so it stays shut out until `clusterctl leave`. Until then
/// it must not answer the leader's appends: an empty log answering as a
/// member that had entries is a log reverted under the leader, which
/// openraft 0.9 treats as a bug and panics on, stopping the leader's Raft
/// core (seen: `clusterctl_join_and_leave_and_a_lost_volume_refuses_to_
/// rejoin`, 2 runs in 6). Refused messages look like an unreachable node
/// to the leader, which backs off.
#[derive(Clone, Debug)]
pub struct Admission {
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Whether a refusal was logged (once).
    said: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Admission {
    /// A gate, open or closed.
    pub fn new(open: bool) -> Self {
        Admission {
            open: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(open)),
            said: std::sync::Arc::default(),
        }
    }

    /// Opens it (for good).
    pub fn open(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether it is open.
    pub fn is_open(&self) -> bool {
        self.open.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), Status> {
        if self.is_open() {
            return Ok(());
        }
        if !self.said.swap(true, std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!(
                "refusing Raft messages: this node has an empty data dir and has not been \
                 admitted (by --join or --peers after their check, or by `clusterctl join`); \
                 if it was a member whose data was lost, run `clusterctl leave --id N` first"
            );
        }
        Err(Status::unavailable(
            "not answering Raft yet: this node (fresh data dir) has not been admitted to \
             the cluster",
        ))
    }
}

/// Serves `RaftService` for one node.
pub struct RaftTransport {
    raft: Raft<TypeConfig>,
    lease: crate::clock::lease::Lease,
    admission: Admission,
}

impl RaftTransport {
    /// Serves `raft` once `admission` is open; every accepted append
    /// renews `lease`.
    pub fn new(
        raft: Raft<TypeConfig>,
        lease: crate::clock::lease::Lease,
        admission: Admission,
    ) -> Self {
        RaftTransport {
            raft,
            lease,
            admission,
        }
    }
}

fn decode<T: DeserializeOwned>(req: Request<RaftPayload>) -> Result<T, Status> {
    postcard::from_bytes(&req.into_inner().data)
        .map_err(|e| Status::invalid_argument(format!("undecodable raft payload: {e}")))
}

/// The node a connection's certificate names, under TLS (`None` without
/// TLS: there is no certificate to match).
fn cert_node<T>(req: &Request<T>) -> Option<crate::tls::CertIdentity> {
    crate::tls::peer_identity(req).cloned()
}

/// Under TLS, the node a Raft message claims to come from (the leader or
/// candidate of its vote) must be the node its certificate names: a member
/// cannot speak for another.
fn check_sender(cert: Option<crate::tls::CertIdentity>, claimed: u64) -> Result<(), Status> {
    match cert {
        None => Ok(()),
        Some(crate::tls::CertIdentity::Node(n)) if n == claimed => Ok(()),
        Some(id) => Err(Status::permission_denied(format!(
            "a Raft message from node {claimed} over a connection whose certificate names {id:?}"
        ))),
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Response<RaftPayload>, Status> {
    let data = postcard::to_allocvec(value)
        .map_err(|e| Status::internal(format!("encode raft reply: {e}")))?;
    Ok(Response::new(RaftPayload {
        data,
        ..Default::default()
    }))
}

#[tonic::async_trait]
impl RaftService for RaftTransport {
    async fn append(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        self.admission.check()?;
        let arrived = std::time::Instant::now();
        let leader_wall_us = req.get_ref().leader_wall_us;
        let (echo_epoch, echo_us) = (req.get_ref().peer_epoch, req.get_ref().peer_mono_us);
        let cert = cert_node(&req);
        let req: openraft::raft::AppendEntriesRequest<TypeConfig> = decode(req)?;
        check_sender(cert, req.vote.leader_id().node_id)?;
        let leader_commit = req.leader_commit.map_or(0, |l| l.index);
        let leader = LeaderTerm {
            term: req.vote.leader_id().term,
            node: req.vote.leader_id().node_id,
        };
        let result = self.raft.append_entries(req).await;
        // A successful append (heartbeats included) means a leader of the
        // current term reached us: learn its clock, and renew the lease that
        // lets us start runs as of the time it echoes, the last time it
        // provably heard from us.
        let ok = result.as_ref().is_ok_and(|r| r.is_success());
        // Any append of a current leader, a log conflict included (the
        // leader is reconciling this node's log, a slow follower's normal
        // state), shows the leader alive: only one from a stale term does
        // not. Counting only successes made a follower that lagged campaign
        // against a working leader.
        if result
            .as_ref()
            .is_ok_and(|r| !matches!(r, openraft::raft::AppendEntriesResponse::HigherVote(_)))
        {
            self.lease.heard(arrived);
        }
        if ok {
            self.lease.observe_clock(leader, leader_wall_us, arrived);
            self.lease
                .renew_confirmed(echo_epoch, echo_us, leader_commit);
        }
        let mut reply = encode(&result)?;
        if ok {
            let (epoch, mono_us) = self.lease.stamp(arrived);
            reply.get_mut().peer_epoch = epoch;
            reply.get_mut().peer_mono_us = mono_us;
        }
        Ok(reply)
    }

    async fn vote(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        self.admission.check()?;
        let cert = cert_node(&req);
        let vote: openraft::raft::VoteRequest<u64> = decode(req)?;
        check_sender(cert, vote.vote.leader_id().node_id)?;
        let result = self.raft.vote(vote).await;
        encode(&result)
    }

    async fn install_snapshot(
        &self,
        req: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.admission.check()?;
        let cert = cert_node(&req);
        let snap: openraft::raft::InstallSnapshotRequest<TypeConfig> = decode(req)?;
        check_sender(cert, snap.vote.leader_id().node_id)?;
        let result = self.raft.install_snapshot(snap).await;
        encode(&result)
    }
}
