//! Jobs: the client's spec plus what the cluster tracks about it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thin_vec::ThinVec;

use super::{ExecutorSpec, StoredPolicies, UnixMs};
use crate::schedule::ScheduleSpec;

/// A job's labels: a map kept as one sorted vector. A job has a handful of
/// labels at most, and a `BTreeMap` allocates a whole 11-slot node for the
/// first one: measured, 700 of 2,148 bytes of state per job with one label
/// (`cargo run --release -p store --example mem_state`). Encoded exactly as
/// a map, so snapshots and logs are unchanged.
pub type Labels = litemap::LiteMap<String, String>;

/// What a client writes to define a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Unique id, 1-128 characters of `[A-Za-z0-9._:-]`.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Labels for listing and bulk operations.
    pub labels: Labels,
    /// When the job fires.
    pub schedule: ScheduleSpec,
    /// IANA time zone of wall-clock schedules.
    pub time_zone: String,
    /// No occurrence before this instant (inclusive).
    pub start_at: Option<UnixMs>,
    /// No occurrence after this instant (inclusive).
    pub end_at: Option<UnixMs>,
    /// Created paused.
    pub paused: bool,
    /// What a run executes.
    pub executor: ExecutorSpec,
    /// Misfire, coalesce, overlap, retries, timeout, jitter, max runs.
    pub policies: StoredPolicies,
    /// Only nodes whose labels contain all of these may run the job.
    pub node_selector: BTreeMap<String, String>,
    /// Exclusion calendars: no occurrence on the days they exclude.
    pub exclude_calendars: ThinVec<String>,
}

/// Lifecycle of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Fires on its schedule.
    Active,
    /// Paused by a client.
    Paused,
    /// Will never fire again.
    Finished,
}

/// A registered job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The spec as accepted.
    pub spec: JobSpec,
    /// Incremented by every committed change.
    pub version: u64,
    /// When created (the `now` of the creating command).
    pub created_at: UnixMs,
    /// When last changed.
    pub updated_at: UnixMs,
    /// The next scheduled instant not yet turned into an occurrence.
    pub next_fire_at: Option<UnixMs>,
    /// Occurrences armed so far (counts towards `max_runs`).
    pub run_count: u64,
    /// Active, paused or finished.
    pub state: JobState,
    /// The occurrences that ended failed (or timed out) in a row, latest
    /// last; a success clears them (`pause_after_failures`).
    pub failures: ThinVec<String>,
    /// Why the job paused itself (after `pause_after_failures` failures in
    /// a row); cleared by a resume.
    pub pause_reason: Option<String>,
    /// The principal that created it (a token's name, a certificate's
    /// user, `anonymous` on an open cluster; empty if not known).
    pub created_by: String,
    /// The principal that last changed it (update, pause, resume).
    pub updated_by: String,
}

impl Job {
    /// Whether the job is waiting for its next fire time.
    pub fn is_schedulable(&self) -> bool {
        self.state == JobState::Active && self.next_fire_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels encode exactly as the `BTreeMap` they replaced, so logs and
    /// snapshots written before the change still decode.
    #[test]
    fn labels_encode_as_the_btreemap_they_replaced() {
        let old = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("team".to_string(), "x".to_string()),
        ]);
        let bytes = postcard::to_allocvec(&old).expect("encode");
        let new: Labels = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(new.get("team").map(String::as_str), Some("x"));
        assert_eq!(postcard::to_allocvec(&new).expect("encode"), bytes);
    }

    /// The `ThinVec` fields (8 bytes in place of a `Vec`'s 24, as they are
    /// mostly empty) encode exactly as the `Vec`s they replaced, in
    /// postcard (logs, snapshots) and in JSON.
    #[test]
    fn thin_vecs_encode_as_the_vecs_they_replaced() {
        let old = (vec![1u8, 2, 255], vec!["a".to_string()], Vec::<u16>::new());
        let new: (ThinVec<u8>, ThinVec<String>, ThinVec<u16>) =
            (old.0.clone().into(), old.1.clone().into(), ThinVec::new());
        let bytes = postcard::to_allocvec(&old).expect("encode");
        assert_eq!(postcard::to_allocvec(&new).expect("encode"), bytes);
        let back: (ThinVec<u8>, ThinVec<String>, ThinVec<u16>) =
            postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(back, new);
        assert_eq!(
            serde_json::to_string(&new).expect("json"),
            serde_json::to_string(&old).expect("json")
        );
    }
}
