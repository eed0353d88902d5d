//! openraft's network over tonic: one lazily connected, reused channel per
//! peer address; per-RPC deadlines from openraft's `RPCOption`.
//!
//! openraft's own request and response types travel postcard-encoded inside
//! `RaftPayload.data` (see `proto/scheduler/internal/v1/internal.proto`).

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use proto::internal::RaftPayload;
use proto::internal::raft_service_client::RaftServiceClient;
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::raft::{NodeId, TypeConfig};

use crate::peers::{Channels, Contacts, MAX_MESSAGE_BYTES};

/// Creates a [`PeerClient`] per target.
#[derive(Clone)]
pub struct Network {
    channels: Channels,
    contacts: Contacts,
    echoes: Echoes,
}

/// Per peer, the latest (epoch, monotonic µs) its append replies carried,
/// echoed in the next append (clock::lease, `renew_confirmed`). Shared by
/// every client openraft makes for a peer.
type Echoes = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<NodeId, (u64, u64)>>>;

impl Network {
    /// A network that shares `channels` and `contacts` with the rest of the node.
    pub fn new(channels: Channels, contacts: Contacts) -> Self {
        Network {
            channels,
            contacts,
            echoes: Echoes::default(),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        PeerClient {
            target,
            addr: node.addr.clone(),
            channels: self.channels.clone(),
            contacts: self.contacts.clone(),
            echoes: self.echoes.clone(),
        }
    }
}

/// The connection to one peer.
pub struct PeerClient {
    target: NodeId,
    addr: String,
    channels: Channels,
    contacts: Contacts,
    echoes: Echoes,
}

/// Why a call failed before the peer's Raft answered.
enum CallError {
    /// Could not reach the peer (no connection): openraft backs off.
    Unreachable(String),
    /// The exchange failed or found no answer in time: openraft retries
    /// with its next message.
    Network(String),
}

/// How long openraft waits before replicating again to an unreachable
/// peer: from half a heartbeat, doubling, to openraft's own 500 ms. A
/// refused connection is retried soon (a restarted peer is back within
/// one heartbeat or two), a dead one costs one attempt per 500 ms.
fn unreachable_backoff() -> openraft::network::Backoff {
    openraft::network::Backoff::new(
        (0u32..).map(|i| std::time::Duration::from_millis((50u64 << i.min(4)).min(500))),
    )
}

/// The Raft RPC a call carries: it picks the handler, never a name string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RaftRpc {
    Append,
    Vote,
    InstallSnapshot,
}

impl std::fmt::Display for RaftRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RaftRpc::Append => "append",
            RaftRpc::Vote => "vote",
            RaftRpc::InstallSnapshot => "install_snapshot",
        })
    }
}

impl PeerClient {
    async fn call<Req, Resp, E>(
        &mut self,
        method: RaftRpc,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Result<Resp, E>, CallError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: DeserializeOwned,
    {
        let data = postcard::to_allocvec(req)
            .map_err(|e| CallError::Network(format!("encode {method}: {e}")))?;
        let channel = self
            .channels
            .get(&self.addr)
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        let mut client = RaftServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        // Appends carry this leader's wall clock, read last, so that it is a
        // lower bound of the clock when the append arrives (clock::lease).
        let leader_wall_us = if method == RaftRpc::Append {
            crate::clock::now_us().max(0) as u64
        } else {
            0
        };
        let (peer_epoch, peer_mono_us) = if method == RaftRpc::Append {
            self.echoes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&self.target)
                .copied()
                .unwrap_or((0, 0))
        } else {
            (0, 0)
        };
        let mut request = tonic::Request::new(RaftPayload {
            data,
            leader_wall_us,
            peer_mono_us,
            peer_epoch,
        });
        request.set_timeout(option.hard_ttl());
        let reply = match method {
            RaftRpc::Append => client.append(request).await,
            RaftRpc::Vote => client.vote(request).await,
            RaftRpc::InstallSnapshot => client.install_snapshot(request).await,
        };
        let reply = reply.map_err(|s| match s.code() {
            // No answer within openraft's deadline (for an append, one
            // heartbeat interval) is a slow peer, not an unreachable one:
            // openraft stops replicating to an unreachable peer for its
            // backoff, and under load that silence outlasted the
            // follower's lease, so it campaigned and the leadership moved
            // every second or two (BENCHMARKS.md, "Slow appends are not
            // unreachable peers").
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => CallError::Network(format!(
                "{method} to node {} at {}: no answer within {:?} ({})",
                self.target,
                self.addr,
                option.hard_ttl(),
                s.message()
            )),
            tonic::Code::Unavailable => CallError::Unreachable(format!(
                "{method} to node {} at {}: {}",
                self.target,
                self.addr,
                s.message()
            )),
            _ => CallError::Network(format!(
                "{method} to node {} at {}: {s}",
                self.target, self.addr
            )),
        })?;
        let reply = reply.into_inner();
        if method == RaftRpc::Append && reply.peer_epoch != 0 {
            self.echoes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(self.target, (reply.peer_epoch, reply.peer_mono_us));
        }
        postcard::from_bytes(&reply.data)
            .map_err(|e| CallError::Network(format!("decode {method} reply: {e}")))
    }
}

macro_rules! map_reply {
    ($self:ident, $reply:expr) => {
        match $reply {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new(
                $self.target,
                remote,
            ))),
            Err(CallError::Unreachable(msg)) => Err(RPCError::Unreachable(Unreachable::new(
                &std::io::Error::other(msg),
            ))),
            Err(CallError::Network(msg)) => Err(RPCError::Network(NetworkError::new(
                &std::io::Error::other(msg),
            ))),
        }
    };
}

impl RaftNetwork<TypeConfig> for PeerClient {
    fn backoff(&self) -> openraft::network::Backoff {
        unreachable_backoff()
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let reply = self
            .call::<_, AppendEntriesResponse<NodeId>, RaftError<NodeId>>(
                RaftRpc::Append,
                &rpc,
                &option,
            )
            .await;
        if let Ok(Ok(resp)) = &reply
            && resp.is_success()
        {
            // The peer renews its lease only as of a time it stamped on a
            // reply this leader received (echoed back), so its lease never
            // outlasts this contact plus the lease.
            self.contacts.record(self.target);
        }
        map_reply!(self, reply)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let reply = self
            .call::<_, InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>(
                RaftRpc::InstallSnapshot,
                &rpc,
                &option,
            )
            .await;
        map_reply!(self, reply)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let reply = self
            .call::<_, VoteResponse<NodeId>, RaftError<NodeId>>(RaftRpc::Vote, &rpc, &option)
            .await;
        map_reply!(self, reply)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn the_backoff_starts_at_half_a_heartbeat_and_doubles_to_500_ms() {
        let waits: Vec<Duration> = super::unreachable_backoff().take(7).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [50, 100, 200, 400, 500, 500, 500]);
    }
}
