//! The public gRPC API.
//!
//! - [`convert`] maps protobuf to the model and back, with field-path errors.
//! - [`jobs`] serves `JobService`.
//! - [`cluster`] serves `ClusterService` (status, join, leave).
//! - [`internal`] serves the node-to-node `NodeService` (write forwarding,
//!   leadership transfer).
//! - [`events`] maps store events to protobuf.

pub mod cluster;
pub mod convert;
pub mod events;
pub mod internal;
pub mod jobs;
