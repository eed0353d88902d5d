//! The application layer: every operation of the public API, once, on
//! model types, returning [`ApiError`]. The gRPC services in `api/` are thin
//! adapters over it (decode, call, encode); the HTTP API and the
//! authorization policy plug in at the same seam. No transport type
//! (tonic, HTTP) appears here.
//!
//! - [`ApiError`] (`crate::error`): the transport-neutral error with field paths.
//! - [`jobs`]: jobs, runs and events.
//! - [`cluster`]: status, join and leave.
//! - [`workers`]: the connected workers.
//! - [`acl`]: tokens (bootstrap, create, list, revoke).
//! - [`calendars`]: exclusion calendars.
//! - [`events`]: the recent events, numbered, for watchers that resume.

pub mod acl;
pub mod calendars;
pub mod cluster;
pub mod events;
pub mod jobs;
pub mod workers;

pub use crate::error::ApiError;

use crate::node::Node;
use crate::workers::WorkerHub;
use crate::write_batch::WriteBatcher;

pub use crate::auth::Caller;

/// The application context of one node, built once at start-up and shared
/// by every adapter. Cheap to clone.
#[derive(Clone)]
pub struct App {
    /// The member: Raft, applied state, peers, the write path.
    pub node: Node,
    /// Client writes, grouped into shared log entries.
    pub writes: WriteBatcher,
    /// This node's worker sessions.
    pub workers: WorkerHub,
    /// The recent events, numbered for resuming watchers.
    pub events: events::EventLog,
    /// This node's metrics.
    pub metrics: crate::metrics::Metrics,
    /// One membership change at a time on this node.
    membership_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl App {
    /// The context of `node`. Must run inside a tokio runtime (it starts
    /// the write batcher).
    pub fn new(node: Node, workers: WorkerHub, metrics: crate::metrics::Metrics) -> Self {
        let writes = WriteBatcher::start(node.clone());
        let events = events::EventLog::start(node.state.subscribe_events());
        App {
            events,
            metrics,
            node,
            writes,
            workers,
            membership_lock: Default::default(),
        }
    }
}
