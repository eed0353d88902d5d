//! Workers: the user's own processes that run named functions for the
//! cluster (docs/executors.md, "Workers").
//!
//! The node is the attempt's assignee and the worker its executor: the
//! runner treats a worker attempt like any other (lease, catch-up barrier,
//! durable start, reports), and `executor::worker` hands it to a worker.
//!
//! - [`hub`]: this node's sessions, their slots and the attempts they run.
//! - [`capacity`]: what each node's workers serve, reported to the leader,
//!   which assigns a worker attempt only to a node with a free slot for it.
//!
//! The `WorkerService` gRPC adapter over these (the session stream and
//! `ListWorkers`) is `crate::api::workers`.

pub mod capacity;
pub mod hub;

pub use capacity::CapacityTable;
pub use hub::{WorkerHub, WorkerTiming};
