//! The public gRPC API: conversions and (later) the JobService and
//! ClusterService implementations.

pub mod convert;
