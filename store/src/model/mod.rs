//! The job model (its words are in docs/guarantees.md, "Words used here"):
//! jobs, policies, executor specs, occurrences and attempts, with validation.
//!
//! Instants are `i64` milliseconds since the Unix epoch (UTC) and durations
//! are `u64` milliseconds: compact in snapshots, cheap to compare, and
//! identical on every replica. [`time`] converts to and from chrono.

mod acl;
mod calendar;
mod executor;
mod job;
mod limits;
mod occurrence;
mod policy;
pub mod time;
mod token;
mod validate;

pub use acl::{Permission, Role, TokenRecord};
pub use calendar::{Calendar, CalendarSpec, validate_calendar};
pub use executor::{Capability, ExecutorSpec, HttpSpec, ShellSpec, WorkerSpec};
pub use job::{Job, JobSpec, JobState, Labels};
pub use limits::*;
pub use occurrence::{
    Attempt, AttemptOutcome, AttemptState, NotRunCause, OccKey, Occurrence, RunState,
};
pub use policy::{Coalesce, Overlap, Policies, RetryPolicy, StoredPolicies};
pub use token::FencingToken;
pub use validate::{ValidationError, validate_name, validate_spec};

/// Node ids are u64, as in openraft.
pub type NodeId = u64;
/// Milliseconds since the Unix epoch, UTC.
pub type UnixMs = i64;
