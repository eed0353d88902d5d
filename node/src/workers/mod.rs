//! Workers: the user's own processes that run named functions for the
//! cluster (DESIGN.md, "Workers: the user's own code").
//!
//! The node is the attempt's assignee and the worker its executor: the
//! runner treats a worker attempt like any other (lease, catch-up barrier,
//! durable start, reports), and `executor::worker` hands it to a worker.
//!
//! - [`hub`]: this node's sessions, their slots and the attempts they run.
//! - [`session`]: the `WorkerService` gRPC service (the session stream and
//!   `ListWorkers`).
//! - [`capacity`]: what each node's workers serve, reported to the leader,
//!   which assigns a worker attempt only to a node with a free slot for it.

pub mod capacity;
pub mod hub;
pub mod session;

pub use capacity::CapacityTable;
pub use hub::{WorkerHub, WorkerTiming};
