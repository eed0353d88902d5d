//! The public gRPC API.
//!
//! - [`convert`] maps protobuf to the model and back, with field-path errors.
//! - [`jobs`] serves `JobService`.
//! - [`cluster`] serves `ClusterService` (status, join, leave).
//! - [`internal`] serves the node-to-node `NodeService` (write forwarding,
//!   leadership transfer).
//! - [`events`] maps store events to protobuf.
//! - [`workers`] serves `WorkerService` (worker sessions, `ListWorkers`).
//! - [`acl`] serves `AclService` (tokens).
//! - [`calendars`] serves `CalendarService` (exclusion calendars).
//! - [`status`] maps `app::ApiError` to gRPC statuses and back.
//!
//! The services are thin adapters over `crate::app`, where the operations live.

pub mod acl;
pub mod calendars;
pub mod cluster;
pub mod convert;

/// The caller the auth layer found for `req` (anonymous and unchecked when
/// the layer is not installed, as in the adapters' own tests).
pub fn caller<T>(req: &tonic::Request<T>) -> crate::auth::Caller {
    req.extensions()
        .get::<crate::auth::Caller>()
        .cloned()
        .unwrap_or_default()
}
pub mod events;
pub mod internal;
pub mod jobs;
pub mod status;
pub mod workers;
