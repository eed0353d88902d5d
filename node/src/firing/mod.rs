//! Firing and running: the leader's loop that turns due instants into
//! committed occurrences, and every node's runner that starts the attempts
//! assigned to it.
//!
//! - [`leader`]: while this node leads, propose `Fire` batches a lookahead
//!   ahead of due instants, choosing an assignee per job.
//! - [`runner`]: on every node, start the attempts assigned to it once it
//!   has applied them, at their due time, under its lease; report results.
//! - [`journal`]: the node-local durable record of started attempts, so a
//!   restarted node never starts the same attempt twice.
//! - [`reporter`]: batches attempt reports into few log entries.
//! - [`timer`]: the precise wake-up at a run's due instant.
//!
//! The clock rules they follow (hints, lease, the leader's clock) are in
//! `crate::clock`.

pub mod journal;
pub mod leader;
pub mod reporter;
pub mod runner;
pub mod timer;
