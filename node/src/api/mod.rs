//! The public gRPC API.
//!
//! - [`convert`] maps protobuf to the model and back, with field-path errors.
//! - [`jobs`] serves `JobService`.
//! - [`cluster`] serves `ClusterService` (status, join, leave).
//! - [`internal`] serves the node-to-node `NodeService` (write forwarding,
//!   leadership transfer).
//! - [`events`] maps store events to protobuf.
//! - [`workers`] serves `WorkerService` (worker sessions, `ListWorkers`).
//! - [`status`] maps `app::ApiError` to gRPC statuses and back.
//!
//! The services are thin adapters over `crate::app`, where the operations live.

pub mod cluster;
pub mod convert;
pub mod events;
pub mod internal;
pub mod jobs;
pub mod status;
pub mod workers;
