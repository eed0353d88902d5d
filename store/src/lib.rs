//! The deterministic replicated state of the scheduler cluster.
//!
//! Everything here depends only on its inputs: no networking and no
//! wall-clock reads, so every replica computes the same result from the same
//! log. The node crate supplies "now" inside each command.
//!
//! - [`schedule`]: the schedule engine (cron, calendar fields, intervals,
//!   once, human phrases; time zones and DST rules).
//! - [`model`]: jobs, policies, occurrences and attempts, with validation.
//! - [`command`]: the commands of the Raft log and their responses.
//! - [`state`]: the in-memory state machine data and its deterministic `apply`.
//! - [`raft`]: openraft log storage and state machine on sled, snapshots.

pub mod command;
pub mod model;
pub mod raft;
pub mod schedule;
pub mod state;
