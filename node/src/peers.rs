//! Talking to peers: one lazily connected, reused channel per address
//! (Raft, forwarded writes, dispatch, reports, join, worker listings all
//! share them), when each peer last acknowledged an append, and the typed
//! calls other modules make, so none of them builds a gRPC request itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::internal::ForwardWriteRequest;
use proto::internal::node_service_client::NodeServiceClient;
use proto::v1 as pb;
use proto::v1::cluster_service_client::ClusterServiceClient;

use crate::auth::secret::Bearer;
use store::command::{Command, Response};
use store::raft::NodeId;
use tonic::Code;
use tonic::Status;
use tonic::transport::{Channel, Endpoint};

use crate::error::ApiError;

/// Metadata keys of the leader hint on UNAVAILABLE.
pub const LEADER_ADDR: &str = "x-leader-addr";
/// See [`LEADER_ADDR`].
pub const LEADER_ID: &str = "x-leader-id";

pub use store::model::MAX_PEER_MESSAGE_BYTES as MAX_MESSAGE_BYTES;

/// A cache of channels by address, shared by everything that talks to peers.
#[derive(Clone, Default)]
pub struct Channels {
    inner: Arc<Mutex<HashMap<String, Channel>>>,
    /// `--dial-via`: peer address -> address actually dialled (a test proxy).
    dial_via: Arc<HashMap<String, String>>,
    /// `--tls-dir`: peers are dialled with mutual TLS (this node's
    /// certificate, the cluster's CA; reloaded with the files).
    tls: Option<crate::tls::ReloadingTls>,
}

impl Channels {
    /// Channels that dial some peers through other addresses (`--dial-via`).
    pub fn with_dial_via(dial_via: HashMap<String, String>) -> Self {
        Channels {
            inner: Arc::default(),
            dial_via: Arc::new(dial_via),
            tls: None,
        }
    }

    /// The same channels, dialled with mutual TLS.
    pub fn with_tls(mut self, tls: Option<crate::tls::ReloadingTls>) -> Self {
        self.tls = tls;
        self
    }

    /// The channel to `addr`, created (lazily connected) on first use.
    pub fn get(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = map.get(addr) {
            return Ok(ch.clone());
        }
        let target = self.dial_via.get(addr).map_or(addr, String::as_str);
        let endpoint = Endpoint::from_shared(format!("http://{target}"))?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10));
        // With TLS the connector dials (and sets TCP_NODELAY itself); the
        // server name checked is the address's host.
        let ch = match &self.tls {
            Some(tls) => endpoint.connect_with_connector_lazy(tls.connector()),
            None => endpoint.connect_lazy(),
        };
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
    /// Records that `peer` acknowledged an append just now.
    pub fn record(&self, peer: NodeId) {
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

/// Forwards `cmd` to the leader at `addr`; its response and log index.
pub async fn forward_write(
    channels: &Channels,
    addr: &str,
    cmd: &Command,
) -> Result<(Response, u64), ApiError> {
    let data = postcard::to_allocvec(cmd)
        .map_err(|e| ApiError::Internal(format!("encode command: {e}")))?;
    let channel = channels
        .get(addr)
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let mut client = NodeServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let reply = client
        .forward_write(ForwardWriteRequest { command: data })
        .await
        .map_err(|s| from_status(&s))?
        .into_inner();
    let response = postcard::from_bytes(&reply.response)
        .map_err(|e| ApiError::Internal(format!("decode forwarded response: {e}")))?;
    Ok((response, reply.log_index))
}

/// The workers connected to the member at `addr`, within `within`.
pub async fn local_workers(
    channels: &Channels,
    addr: &str,
    within: Duration,
) -> Option<Vec<pb::WorkerInfo>> {
    let ch = channels.get(addr).ok()?;
    let mut req = tonic::Request::new(pb::ListWorkersRequest {});
    req.set_timeout(within);
    let mut client = NodeServiceClient::new(ch);
    match tokio::time::timeout(within, client.local_workers(req)).await {
        Ok(Ok(r)) => Some(r.into_inner().workers),
        _ => None,
    }
}

/// The cluster status as the member at `addr` reports it, within `within`.
pub async fn cluster_status(
    channels: &Channels,
    addr: &str,
    within: Duration,
) -> Option<pb::ClusterStatus> {
    probe(channels, addr, within).await.ok()
}

/// Asks the member at `addr` for its status: `Err` says how it failed
/// ("is unreachable: ...", "did not answer within ...").
pub async fn probe(
    channels: &Channels,
    addr: &str,
    within: Duration,
) -> Result<pb::ClusterStatus, String> {
    let ch = channels
        .get(addr)
        .map_err(|e| format!("is unreachable: {e}"))?;
    let mut client = ClusterServiceClient::new(ch);
    let mut req = tonic::Request::new(pb::StatusRequest {});
    req.set_timeout(within);
    match tokio::time::timeout(within, client.status(req)).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(e)) => Err(format!("is unreachable: {}", e.message())),
        Err(_) => Err(format!("did not answer within {within:?}")),
    }
}

/// `msg` as a request that carries the original caller's bearer token: a
/// follower passes a client's membership change on to the leader, which
/// checks the same principal (without TLS a node has no credential of its
/// own).
fn with_bearer<T>(msg: T, bearer: Option<&Bearer>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(value) = bearer.and_then(|b| format!("Bearer {}", b.0).parse().ok()) {
        req.metadata_mut().insert("authorization", value);
    }
    req
}

/// Passes a join to the leader at `leader`.
/// Tells the node at `addr` that the leader is adding it as node `id`, so
/// it answers Raft (`Admission`). A node of an older version has no such
/// call and never waited for it: `Unimplemented` counts as done.
pub async fn admit(
    channels: &Channels,
    addr: &str,
    id: NodeId,
    within: Duration,
) -> Result<(), String> {
    let ch = channels
        .get(addr)
        .map_err(|e| format!("is unreachable: {e}"))?;
    let mut client = proto::internal::node_service_client::NodeServiceClient::new(ch);
    let mut req = tonic::Request::new(proto::internal::AdmitRequest { node_id: id });
    req.set_timeout(within);
    match tokio::time::timeout(within, client.admit(req)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.code() == tonic::Code::Unimplemented => Ok(()),
        Ok(Err(e)) => Err(e.message().to_string()),
        Err(_) => Err(format!("did not answer within {within:?}")),
    }
}

pub async fn add_member(
    channels: &Channels,
    leader: &str,
    id: NodeId,
    addr: &str,
    bearer: Option<&Bearer>,
) -> Result<pb::ClusterStatus, ApiError> {
    let ch = channels
        .get(leader)
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let req = with_bearer(
        pb::AddMemberRequest {
            id,
            addr: addr.to_string(),
        },
        bearer,
    );
    ClusterServiceClient::new(ch)
        .add_member(req)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| from_status(&s))
}

/// Passes a leave to the leader at `leader`.
pub async fn remove_member(
    channels: &Channels,
    leader: &str,
    id: NodeId,
    bearer: Option<&Bearer>,
) -> Result<pb::ClusterStatus, ApiError> {
    let ch = channels
        .get(leader)
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let req = with_bearer(pb::RemoveMemberRequest { id }, bearer);
    ClusterServiceClient::new(ch)
        .remove_member(req)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| from_status(&s))
}

/// Tells the leader at `leader` what node `node_id`'s workers serve.
pub async fn worker_capacity(
    channels: &Channels,
    leader: &str,
    node_id: NodeId,
    capacity: Vec<proto::internal::Capacity>,
    within: Duration,
) -> Result<(), ApiError> {
    let ch = channels
        .get(leader)
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let mut req = tonic::Request::new(proto::internal::WorkerCapacityRequest { node_id, capacity });
    req.set_timeout(within);
    NodeServiceClient::new(ch)
        .worker_capacity(req)
        .await
        .map(|_| ())
        .map_err(|s| from_status(&s))
}

/// The leader's due-time hints to an assignee (fire and forget).
pub async fn dispatch(
    channel: Channel,
    req: proto::internal::DispatchRequest,
) -> Result<(), ApiError> {
    NodeServiceClient::new(channel)
        .dispatch(req)
        .await
        .map(|_| ())
        .map_err(|s| from_status(&s))
}

/// A batch of attempt reports to the leader; what it committed.
pub async fn report_results(
    channel: Channel,
    req: proto::internal::ReportResultsRequest,
    within: Duration,
) -> Result<proto::internal::ReportResultsResponse, ApiError> {
    let mut req = tonic::Request::new(req);
    req.set_timeout(within);
    NodeServiceClient::new(channel)
        .report_results(req)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| from_status(&s))
}

/// A peer's answer as an [`ApiError`] (its field path and leader hint kept).
pub fn from_status(s: &Status) -> ApiError {
    let message = s.message().to_string();
    match s.code() {
        Code::InvalidArgument => match message.split_once(": ") {
            Some((field, why)) => ApiError::invalid(field, why),
            None => ApiError::invalid("", message),
        },
        Code::NotFound => ApiError::NotFound(message),
        Code::AlreadyExists => ApiError::AlreadyExists(message),
        Code::FailedPrecondition => ApiError::Conflict(message),
        Code::PermissionDenied => ApiError::PermissionDenied(message),
        Code::ResourceExhausted => ApiError::ResourceExhausted(message),
        Code::DeadlineExceeded => ApiError::DeadlineExceeded(message),
        Code::Unavailable | Code::Cancelled | Code::Unknown => {
            let meta = |k: &str| {
                s.metadata()
                    .get(k)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let leader = match (
                meta(LEADER_ID).and_then(|i| i.parse().ok()),
                meta(LEADER_ADDR),
            ) {
                (Some(id), Some(addr)) => Some((id, addr)),
                _ => None,
            };
            ApiError::Unavailable { message, leader }
        }
        _ => ApiError::Internal(message),
    }
}
