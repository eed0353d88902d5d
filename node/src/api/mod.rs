//! The public gRPC API.
//!
//! - [`convert`]: protobuf <-> model, with field-path errors.
//! - [`jobs`]: `JobService`.
//! - [`cluster`]: `ClusterService` (status, join, leave).
//! - [`internal`]: node-to-node `NodeService` (write forwarding, leadership transfer).

pub mod cluster;
pub mod convert;
pub mod events;
pub mod internal;
pub mod jobs;
