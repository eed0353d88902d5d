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

use crate::executor::Executors;
use crate::firing::reporter::Reporter;
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
    /// Attempt reports, grouped into shared log entries: this node's
    /// runner sends its own, and (when leading) the peers' come in here.
    pub reporter: Reporter,
    /// The executor kinds this node runs attempts with (shell, HTTP,
    /// worker), and the capabilities it advertises.
    pub executors: Executors,
    /// This node's worker sessions (the worker executor's).
    pub workers: WorkerHub,
    /// The recent events, numbered for resuming watchers.
    pub events: events::EventLog,
    /// This node's metrics.
    pub metrics: crate::metrics::Metrics,
    /// One membership change at a time on this node.
    membership_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl App {
    /// The context of `node`, running attempts with `executors`. Must run
    /// inside a tokio runtime (it starts the write and report batchers).
    pub fn new(node: Node, executors: Executors, metrics: crate::metrics::Metrics) -> Self {
        let writes = WriteBatcher::start(node.clone());
        let reporter = Reporter::start(node.clone(), metrics.clone());
        let events = events::EventLog::start(node.state.subscribe_events());
        App {
            events,
            metrics,
            node,
            writes,
            reporter,
            workers: executors.workers().clone(),
            executors,
            membership_lock: Default::default(),
        }
    }
}
