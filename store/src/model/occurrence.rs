//! Occurrences (one scheduled instant of one job) and attempts (one try to
//! run it on one node, under one fencing token).

use serde::{Deserialize, Serialize};

use super::{NodeId, UnixMs, time};

/// The key of an occurrence: its job and scheduled instant. Ordered by job,
/// then time, so one job's history is a contiguous range.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OccKey {
    /// The job.
    pub job_id: String,
    /// The scheduled instant (before jitter).
    pub scheduled_at: UnixMs,
}

impl OccKey {
    /// The occurrence id of docs/guarantees.md ("Words used here"):
    /// `<job_id>@<RFC 3339 UTC with ms>`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.job_id, time::rfc3339_ms(self.scheduled_at))
    }

    /// Parses an occurrence id back into a key.
    pub fn parse(id: &str) -> Option<OccKey> {
        let (job_id, at) = id.rsplit_once('@')?;
        let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
        Some(OccKey {
            job_id: job_id.to_string(),
            scheduled_at: at.timestamp_millis(),
        })
    }
}

/// State of an occurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RunState {
    /// Committed; its current attempt waits for its due instant (or, with
    /// buffer-one overlap, for the running occurrence to end).
    Armed,
    /// The current attempt has started.
    Running,
    /// The last attempt succeeded.
    Succeeded,
    /// The last attempt failed and no retry is left.
    Failed,
    /// The last attempt timed out and no retry is left.
    TimedOut,
    /// Cancelled (job deleted, or replaced by the overlap policy).
    Cancelled,
    /// Not run: too late, or coalesced into another occurrence.
    Missed,
    /// Not run: the overlap policy refused it.
    Skipped,
}

impl RunState {
    /// Whether the occurrence can still change (armed or running).
    pub fn is_open(self) -> bool {
        matches!(self, RunState::Armed | RunState::Running)
    }

    /// Lower-case name used in the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Armed => "armed",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::TimedOut => "timed_out",
            RunState::Cancelled => "cancelled",
            RunState::Missed => "missed",
            RunState::Skipped => "skipped",
        }
    }

    /// Parses [`RunState::as_str`] names.
    pub fn parse(s: &str) -> Option<RunState> {
        Some(match s {
            "armed" => RunState::Armed,
            "running" => RunState::Running,
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            "timed_out" => RunState::TimedOut,
            "cancelled" => RunState::Cancelled,
            "missed" => RunState::Missed,
            "skipped" => RunState::Skipped,
            _ => return None,
        })
    }
}

/// Why an occurrence did not run (missed, skipped, cancelled), as a type.
/// Checkers, metrics and clients compare this, never the English reason
/// beside it (which names instants, runs and versions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NotRunCause {
    /// Missed: later than the job's misfire grace.
    MisfireGrace,
    /// Missed: folded into a later instant by the coalesce policy.
    Coalesced,
    /// Missed: no live worker served the queue and function within the
    /// misfire grace.
    NoWorker,
    /// Missed: the job was updated before the instant ran.
    Updated,
    /// Missed: a backlog longer than one advance may create was cut.
    BacklogCut,
    /// Missed: the job (or the whole scheduler) was paused after the
    /// instant came due and before it ran (the leader held it for the
    /// result of a run in flight, say). Instants that come due while a job
    /// is paused are not occurrences at all.
    Paused,
    /// Skipped: `overlap: allow` and max instances were in flight.
    MaxInstances,
    /// Skipped: `overlap: skip` and an earlier occurrence was in flight.
    OverlapSkip,
    /// Skipped: `overlap: buffer_one` and one occurrence already waited.
    BufferFull,
    /// Skipped: a `coalesce: all` backlog queue was full.
    BacklogFull,
    /// Skipped: the job was gone.
    JobRemoved,
    /// Cancelled: `overlap: replace` and a newer occurrence started.
    Replaced,
    /// Cancelled: the job was deleted.
    Deleted,
}

impl NotRunCause {
    /// Every cause, in declaration order.
    pub const ALL: [NotRunCause; 13] = [
        NotRunCause::MisfireGrace,
        NotRunCause::Coalesced,
        NotRunCause::NoWorker,
        NotRunCause::Updated,
        NotRunCause::BacklogCut,
        NotRunCause::MaxInstances,
        NotRunCause::OverlapSkip,
        NotRunCause::BufferFull,
        NotRunCause::BacklogFull,
        NotRunCause::JobRemoved,
        NotRunCause::Replaced,
        NotRunCause::Deleted,
        NotRunCause::Paused,
    ];

    /// Snake-case name, as in metrics labels, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            NotRunCause::MisfireGrace => "misfire_grace",
            NotRunCause::Coalesced => "coalesced",
            NotRunCause::NoWorker => "no_worker",
            NotRunCause::Updated => "updated",
            NotRunCause::BacklogCut => "backlog_cut",
            NotRunCause::MaxInstances => "max_instances",
            NotRunCause::OverlapSkip => "overlap_skip",
            NotRunCause::BufferFull => "buffer_full",
            NotRunCause::BacklogFull => "backlog_full",
            NotRunCause::JobRemoved => "job_removed",
            NotRunCause::Replaced => "replaced",
            NotRunCause::Deleted => "deleted",
            NotRunCause::Paused => "paused",
        }
    }

    /// Parses [`NotRunCause::as_str`] names.
    pub fn parse(s: &str) -> Option<NotRunCause> {
        NotRunCause::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The state an occurrence with this cause is recorded in.
    pub fn state(self) -> RunState {
        use NotRunCause as C;
        match self {
            C::MisfireGrace
            | C::Coalesced
            | C::NoWorker
            | C::Updated
            | C::BacklogCut
            | C::Paused => RunState::Missed,
            C::MaxInstances | C::OverlapSkip | C::BufferFull | C::BacklogFull | C::JobRemoved => {
                RunState::Skipped
            }
            C::Replaced | C::Deleted => RunState::Cancelled,
        }
    }
}

/// State of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptState {
    /// Assigned; not known to have started.
    Armed,
    /// Started on its assignee.
    Running,
    /// Finished with success.
    Succeeded,
    /// Finished with failure.
    Failed,
    /// Killed by its timeout.
    TimedOut,
    /// Replaced by a newer attempt (reassignment) or cancelled; its token is stale.
    Superseded,
}

impl AttemptState {
    /// Lower-case name, as in records and reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Armed => "armed",
            AttemptState::Running => "running",
            AttemptState::Succeeded => "succeeded",
            AttemptState::Failed => "failed",
            AttemptState::TimedOut => "timed_out",
            AttemptState::Superseded => "superseded",
        }
    }
}

/// How an attempt ended, or that it started, as its assignee reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptOutcome {
    /// The attempt started at `at` on the assignee's clock.
    Started { at: UnixMs },
    /// The attempt finished.
    Finished {
        /// When it finished.
        at: UnixMs,
        /// Succeeded, Failed or TimedOut.
        state: AttemptState,
        /// Process exit code or HTTP status.
        exit_code: Option<i32>,
        /// Bounded tail of the output.
        output_tail: String,
    },
    /// A `Started` and its `Finished` in one report: the reporter merges
    /// them when both wait in the same batch (a run shorter than the batch
    /// window), so the log carries one report per short run, not two. The
    /// state machine applies it as the two, in order. Last, so the
    /// encodings of the older variants are unchanged.
    Ran {
        /// When it started (the `Started` report's `at`).
        started_at: UnixMs,
        /// When it finished.
        at: UnixMs,
        /// Succeeded, Failed or TimedOut.
        state: AttemptState,
        /// Process exit code or HTTP status.
        exit_code: Option<i32>,
        /// Bounded tail of the output.
        output_tail: String,
    },
}

/// One try to run an occurrence on one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based attempt number.
    pub number: u32,
    /// Fencing token: `log index << 16 | position in the entry`.
    pub token: u64,
    /// The assignee.
    pub node_id: NodeId,
    /// When the attempt is due (jitter and retry backoff included).
    pub due_at: UnixMs,
    /// Its state.
    pub state: AttemptState,
    /// When it started, on the assignee's clock.
    pub started_at: Option<UnixMs>,
    /// When it finished.
    pub finished_at: Option<UnixMs>,
    /// Exit code or HTTP status.
    pub exit_code: Option<i32>,
    /// Bounded tail of the output.
    pub output_tail: String,
}

/// One scheduled instant of one job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Job and scheduled instant.
    pub key: OccKey,
    /// State.
    pub state: RunState,
    /// Why it was missed, skipped, cancelled or failed.
    pub reason: Option<String>,
    /// Why it did not run, as a type (missed, skipped, cancelled only).
    pub cause: Option<NotRunCause>,
    /// Created by "run now" rather than the schedule.
    pub manual: bool,
    /// Log index of the entry that created it.
    pub created_index: u64,
    /// With buffer-one overlap: waiting for an in-flight occurrence to end
    /// before its first attempt is created.
    pub buffered: bool,
    /// Attempts, oldest first. Empty for missed, skipped and buffered ones.
    pub attempts: Vec<Attempt>,
}

impl Occurrence {
    /// The current (latest) attempt.
    pub fn current(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    /// The current attempt, mutably.
    pub fn current_mut(&mut self) -> Option<&mut Attempt> {
        self.attempts.last_mut()
    }

    /// The node of the current attempt (`None`: no attempt yet).
    pub fn current_node(&self) -> Option<NodeId> {
        self.current().map(|a| a.node_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrence_id_round_trips() {
        let key = OccKey {
            job_id: "a@b".into(),
            scheduled_at: 1_700_000_000_123,
        };
        let id = key.id();
        assert_eq!(id, "a@b@2023-11-14T22:13:20.123Z");
        assert_eq!(OccKey::parse(&id), Some(key));
    }
}
