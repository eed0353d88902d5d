//! Store events as protobuf events.

use proto::v1 as pb;
use store::state::{Event, EventKind};

use super::convert::ms_to_ts;

/// The protobuf kind of a store event kind.
pub fn kind_to_pb(k: EventKind) -> pb::EventKind {
    match k {
        EventKind::JobAdded => pb::EventKind::JobAdded,
        EventKind::JobModified => pb::EventKind::JobModified,
        EventKind::JobRemoved => pb::EventKind::JobRemoved,
        EventKind::OccurrenceArmed => pb::EventKind::OccurrenceArmed,
        EventKind::OccurrenceStarted => pb::EventKind::OccurrenceStarted,
        EventKind::OccurrenceSucceeded => pb::EventKind::OccurrenceSucceeded,
        EventKind::OccurrenceFailed => pb::EventKind::OccurrenceFailed,
        EventKind::OccurrenceTimedOut => pb::EventKind::OccurrenceTimedOut,
        EventKind::OccurrenceMissed => pb::EventKind::OccurrenceMissed,
        EventKind::OccurrenceSkipped => pb::EventKind::OccurrenceSkipped,
        EventKind::OccurrenceRetried => pb::EventKind::OccurrenceRetried,
        EventKind::OccurrenceCancelled => pb::EventKind::OccurrenceCancelled,
        EventKind::MaxInstancesReached => pb::EventKind::MaxInstancesReached,
        EventKind::SchedulerPaused => pb::EventKind::SchedulerPaused,
        EventKind::SchedulerResumed => pb::EventKind::SchedulerResumed,
        EventKind::LeaderChanged => pb::EventKind::LeaderChanged,
    }
}

/// A store event as protobuf.
pub fn event_to_pb(e: &Event) -> pb::Event {
    pb::Event {
        kind: kind_to_pb(e.kind) as i32,
        at: Some(ms_to_ts(e.at)),
        job_id: e.job_id.clone(),
        occurrence_id: e.occurrence.as_ref().map(|k| k.id()).unwrap_or_default(),
        node_id: e.node_id.unwrap_or(0),
        log_index: e.log_index,
        detail: e.detail.clone(),
        cause: super::convert::cause_to_pb(e.cause) as i32,
        by: e.by.clone(),
    }
}
