//! Generated gRPC code for the scheduler cluster.
//!
//! - [`v1`]: the public API (`scheduler.v1`): `JobService` and `ClusterService`.
//! - [`internal`]: node-to-node services (`scheduler.internal.v1`): the Raft
//!   transport and run dispatch / result reporting / write forwarding.

/// The generated packages, nested as their names are, so that the
/// internal package's references to `scheduler.v1` types resolve.
mod scheduler {
    /// The public API, package `scheduler.v1`.
    pub mod v1 {
        #![allow(clippy::all, missing_docs)]
        tonic::include_proto!("scheduler.v1");
    }
    /// Internal node-to-node services, package `scheduler.internal.v1`.
    pub mod internal {
        /// Version 1.
        pub mod v1 {
            #![allow(clippy::all, missing_docs)]
            tonic::include_proto!("scheduler.internal.v1");
        }
    }
}

/// The public API, package `scheduler.v1`.
pub use scheduler::v1;

/// Internal node-to-node services, package `scheduler.internal.v1`.
pub use scheduler::internal::v1 as internal;

/// Encoded file descriptor set of every service, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("scheduler_descriptor");

pub use prost_types;

pub mod time;
