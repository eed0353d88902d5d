//! Events produced by applying commands, for watchers (`clusterctl events`).
//! They are derived from the log, so every replica produces the same ones;
//! they are not part of the replicated state (a snapshot does not carry them).

use serde::{Deserialize, Serialize};

use crate::model::{NodeId, OccKey, UnixMs};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    JobAdded,
    JobModified,
    JobRemoved,
    OccurrenceArmed,
    OccurrenceStarted,
    OccurrenceSucceeded,
    OccurrenceFailed,
    OccurrenceTimedOut,
    OccurrenceMissed,
    OccurrenceSkipped,
    OccurrenceRetried,
    OccurrenceCancelled,
    MaxInstancesReached,
    SchedulerPaused,
    SchedulerResumed,
    /// Produced by the node, not by `apply`.
    LeaderChanged,
}

impl EventKind {
    /// Snake-case name used by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::JobAdded => "job_added",
            EventKind::JobModified => "job_modified",
            EventKind::JobRemoved => "job_removed",
            EventKind::OccurrenceArmed => "occurrence_armed",
            EventKind::OccurrenceStarted => "occurrence_started",
            EventKind::OccurrenceSucceeded => "occurrence_succeeded",
            EventKind::OccurrenceFailed => "occurrence_failed",
            EventKind::OccurrenceTimedOut => "occurrence_timed_out",
            EventKind::OccurrenceMissed => "occurrence_missed",
            EventKind::OccurrenceSkipped => "occurrence_skipped",
            EventKind::OccurrenceRetried => "occurrence_retried",
            EventKind::OccurrenceCancelled => "occurrence_cancelled",
            EventKind::MaxInstancesReached => "max_instances_reached",
            EventKind::SchedulerPaused => "scheduler_paused",
            EventKind::SchedulerResumed => "scheduler_resumed",
            EventKind::LeaderChanged => "leader_changed",
        }
    }
}

/// Something that happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What.
    pub kind: EventKind,
    /// The `now` of the command that produced it.
    pub at: UnixMs,
    /// Log index of that command.
    pub log_index: u64,
    /// The job concerned; empty for scheduler-wide events.
    pub job_id: String,
    /// The occurrence concerned.
    pub occurrence: Option<OccKey>,
    /// The node concerned (assignee).
    pub node_id: Option<NodeId>,
    /// The attempt's fencing token, when one is concerned.
    pub token: Option<u64>,
    /// Reason or detail.
    pub detail: String,
    /// Why an occurrence did not run, as a type (missed, skipped and
    /// cancelled events).
    pub cause: Option<crate::model::NotRunCause>,
    /// The principal whose request caused it (empty for the cluster's own
    /// decisions: firing, reassignment, reports).
    pub by: String,
}
