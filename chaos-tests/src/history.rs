//! What a chaos run observed, as plain data: the checker's input. The run
//! builds it from the sink, the workload's log of requests and the
//! cluster's own records; the checker's tests build it by hand. Times are
//! Unix milliseconds on the harness's (real) clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use store::schedule::ScheduleSpec;

use crate::run::Fault;
use crate::sink::Hit;

/// Unix milliseconds.
pub type Ms = i64;

/// One request that reached the sink.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub job_id: String,
    pub occurrence_id: String,
    pub scheduled_at: String,
    pub fencing_token: u64,
    pub attempt: u32,
    pub node_id: u64,
    /// When the sink received it (harness clock).
    pub received_ms: Ms,
    /// Whether the sink kept its effect (the sink rule).
    pub accepted: bool,
}

impl From<&Hit> for Delivery {
    fn from(h: &Hit) -> Self {
        Delivery {
            job_id: h.job_id.clone(),
            occurrence_id: h.occurrence_id.clone(),
            scheduled_at: h.scheduled_at.clone(),
            fencing_token: h.fencing_token,
            attempt: h.attempt,
            node_id: h.node_id,
            received_ms: h.received_ms(),
            accepted: h.accepted,
        }
    }
}

/// The schedule-relevant part of one version of a job's spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecVersion {
    pub schedule: ScheduleSpec,
    /// IANA zone.
    pub tz: String,
    pub start_ms: Option<Ms>,
    pub end_ms: Option<Ms>,
    pub jitter_ms: u64,
    /// 0: unlimited.
    pub max_runs: u64,
    /// The retry policy's `max_retries` (0: a failed attempt is not
    /// retried). Absent from histories written before it was recorded.
    #[serde(default)]
    pub max_retries: u32,
    /// Whether a worker runs it (else the HTTP executor calls the sink).
    /// The two differ in what fails an attempt: the HTTP executor counts
    /// the sink's refusal (409) as a failure, the test worker does not.
    #[serde(default)]
    pub worker: bool,
    /// The misfire grace (`None`: no limit). Absent before it was recorded.
    #[serde(default)]
    pub misfire_grace_ms: Option<u64>,
    /// The overlap policy: `allow`, `skip`, `buffer_one`, `replace` (empty
    /// before it was recorded).
    #[serde(default)]
    pub overlap: String,
    /// The exclusion calendars it names (their days are in
    /// [`History::calendars`]).
    #[serde(default)]
    pub exclude_calendars: Vec<String>,
}

/// An exclusion calendar the workload created (acknowledged) before any
/// job named it; never changed during the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarRecord {
    pub name: String,
    /// IANA zone its days are read in.
    pub tz: String,
    /// Excluded days, `YYYY-MM-DD`.
    pub dates: Vec<String>,
    /// Excluded spans of days, both ends included.
    pub ranges: Vec<(String, String)>,
    /// A day on which one of these fires is excluded.
    pub crons: Vec<String>,
}

/// A backfill the workload asked for: the instants of the job's spec
/// version `version` in `[from_ms, to_ms]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillRecord {
    pub from_ms: Ms,
    pub to_ms: Ms,
    /// Index into [`JobRecord::versions`]: the spec when it was sent.
    pub version: usize,
    pub span: Span,
    /// Answered OK: every instant in the range must run (or be recorded).
    /// Otherwise (an unknown outcome) they may run, once.
    pub acknowledged: bool,
}

/// A client request: sent at `lo`, answered at `hi`. Its effect was
/// committed somewhere in between (as far as the harness can tell).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub lo: Ms,
    pub hi: Ms,
}

/// A stretch in which a job was active (created or resumed, not yet
/// paused, updated away or deleted) under one spec version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Index into [`JobRecord::versions`].
    pub version: usize,
    /// The request that activated it.
    pub from: Span,
    /// The request that ended it; `None`: active to the end of the run.
    pub to: Option<Span>,
}

/// Everything the workload did to one job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    /// Every spec the job was given (created with, updated to), in order.
    pub versions: Vec<SpecVersion>,
    /// The acknowledged create; `None` when no create was acknowledged
    /// (the job may still exist, but nothing is expected of it).
    pub created: Option<Span>,
    pub windows: Vec<Window>,
    /// An acknowledged delete.
    pub deleted: Option<Span>,
    /// The acknowledged pauses.
    #[serde(default)]
    pub paused: Vec<Span>,
    /// Backfills sent (acknowledged or with an unknown outcome).
    #[serde(default)]
    pub backfills: Vec<BackfillRecord>,
    /// From when a request on the job had an unknown outcome (a timeout):
    /// nothing is expected of the job after that.
    pub uncertain_from: Option<Ms>,
}

/// An occurrence that the cluster recorded as not run, or as run without
/// success, with its reason (events and ListRuns: missed, skipped,
/// cancelled; failed, timed out). A backlog cut short is one record
/// without an occurrence id, whose detail names the range.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Recorded {
    pub job_id: String,
    /// Empty for a range record.
    pub occurrence_id: String,
    /// `missed`, `skipped`, `cancelled`; `failed`, `timed_out`.
    pub state: String,
    pub reason: String,
    /// The typed cause of a missed, skipped or cancelled record
    /// (`misfire_grace`, `max_instances`, ...; empty when the record
    /// carried none, as a `max_instances_reached` event does).
    #[serde(default)]
    pub cause: String,
}

/// One answer of a node to "who leads, in which term".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderSample {
    pub at_ms: Ms,
    /// The node that answered.
    pub node: u64,
    pub term: u64,
    pub leader: u64,
}

/// Whether a job exists at the end of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalJob {
    Present,
    Absent,
    /// No node answered.
    Unknown,
}

/// One injected fault, from its injection to its heal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpan {
    pub kind: Fault,
    /// The nodes it hit: the victim of a kill, stop, restart, partition,
    /// delay, skew or full disk; every node for restart-all; both ends of
    /// a one-way cut; for a worker fault, the node the worker held its
    /// session with, or none when the harness could not tell.
    pub nodes: Vec<u64>,
    /// Just before the harness acted.
    pub from_ms: Ms,
    /// When the harness had healed it (every link passing, every node up).
    pub to_ms: Ms,
}

/// The checker's whole input.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct History {
    pub deliveries: Vec<Delivery>,
    pub jobs: Vec<JobRecord>,
    pub recorded: Vec<Recorded>,
    pub leaders: Vec<LeaderSample>,
    /// GetJob at the end, per job id.
    pub finals: BTreeMap<String, FinalJob>,
    /// Faults healed at these instants (for time-to-recover): the
    /// `to_ms` of [`History::faults`], kept for older readers.
    pub heals: Vec<Ms>,
    /// Every injected fault, in order (none in histories written before
    /// they were recorded).
    #[serde(default)]
    pub faults: Vec<FaultSpan>,
    /// The workload stopped at this instant; later occurrences are not
    /// expected.
    pub run_end_ms: Ms,
    /// The exclusion calendars the jobs may name.
    #[serde(default)]
    pub calendars: Vec<CalendarRecord>,
}
