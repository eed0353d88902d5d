//! openraft's network over tonic: one lazily connected, reused channel per
//! peer address; per-RPC deadlines from openraft's `RPCOption`.
//!
//! openraft's own request and response types travel postcard-encoded inside
//! `RaftPayload.data` (see `proto/scheduler/internal/v1/internal.proto`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
use tonic::transport::{Channel, Endpoint};

/// Largest gRPC message between nodes (append batches, snapshot chunks).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A cache of channels by address, shared by everything that talks to peers.
#[derive(Clone, Default)]
pub struct Channels {
    inner: Arc<Mutex<HashMap<String, Channel>>>,
    /// `--dial-via`: peer address -> address actually dialled (a test proxy).
    dial_via: Arc<HashMap<String, String>>,
}

impl Channels {
    /// Channels that dial some peers through other addresses (`--dial-via`).
    pub fn with_dial_via(dial_via: HashMap<String, String>) -> Self {
        Channels {
            inner: Arc::default(),
            dial_via: Arc::new(dial_via),
        }
    }

    /// The channel to `addr`, created (lazily connected) on first use.
    pub fn get(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = map.get(addr) {
            return Ok(ch.clone());
        }
        let target = self.dial_via.get(addr).map_or(addr, String::as_str);
        let ch = Endpoint::from_shared(format!("http://{target}"))?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .connect_lazy();
        map.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}

/// When each peer last acknowledged an append from this node (monotonic).
/// The leader uses it to know when an assignee's lease must have run out.
#[derive(Clone, Default)]
pub struct Contacts {
    inner: Arc<Mutex<HashMap<NodeId, std::time::Instant>>>,
}

impl Contacts {
    fn record(&self, peer: NodeId) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(peer, std::time::Instant::now());
    }

    /// The last acknowledged append of `peer`, if any.
    pub fn last(&self, peer: NodeId) -> Option<std::time::Instant> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&peer)
            .copied()
    }
}

/// Creates a [`PeerClient`] per target.
#[derive(Clone)]
pub struct Network {
    channels: Channels,
    contacts: Contacts,
}

impl Network {
    /// A network that shares `channels` and `contacts` with the rest of the node.
    pub fn new(channels: Channels, contacts: Contacts) -> Self {
        Network { channels, contacts }
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
        }
    }
}

/// The connection to one peer.
pub struct PeerClient {
    target: NodeId,
    addr: String,
    channels: Channels,
    contacts: Contacts,
}

/// Why a call failed before the peer's Raft answered.
enum CallError {
    /// Could not reach the peer (connect failure, timeout).
    Unreachable(String),
    /// Reached it, but the exchange failed.
    Network(String),
}

impl PeerClient {
    async fn call<Req, Resp, E>(
        &mut self,
        method: &'static str,
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
        // lower bound of the clock when the append arrives (firing::lease).
        let leader_wall_us = if method == "append" {
            crate::node::now_us().max(0) as u64
        } else {
            0
        };
        let mut request = tonic::Request::new(RaftPayload {
            data,
            leader_wall_us,
        });
        request.set_timeout(option.hard_ttl());
        let reply = match method {
            "append" => client.append(request).await,
            "vote" => client.vote(request).await,
            _ => client.install_snapshot(request).await,
        };
        let reply = reply.map_err(|s| match s.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                CallError::Unreachable(format!(
                    "{method} to node {} at {}: {}",
                    self.target,
                    self.addr,
                    s.message()
                ))
            }
            _ => CallError::Network(format!(
                "{method} to node {} at {}: {s}",
                self.target, self.addr
            )),
        })?;
        postcard::from_bytes(&reply.into_inner().data)
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
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let reply = self
            .call::<_, AppendEntriesResponse<NodeId>, RaftError<NodeId>>("append", &rpc, &option)
            .await;
        if let Ok(Ok(resp)) = &reply
            && resp.is_success()
        {
            // The peer renewed its lease no later than now.
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
                "install_snapshot",
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
            .call::<_, VoteResponse<NodeId>, RaftError<NodeId>>("vote", &rpc, &option)
            .await;
        map_reply!(self, reply)
    }
}
