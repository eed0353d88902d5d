//! The overlap policy: whether a new occurrence of a job may run beside
//! the ones in flight (allow with max instances, skip, buffer one,
//! replace), and the words a skip is recorded with.
//!
//! Two views of "in flight". [`State::admit`] looks at the open
//! occurrences now; it decides whether to arm ahead, and the leader holds
//! an instant it refuses. [`State::refused_at`] judges an instant that is
//! due by what overlapped its due instant on the schedule's timeline
//! ([`ran_across`]), so holding an instant for a result on its way changes
//! no decision, and a run that a failover made late does not skip the next.

use crate::model::{Attempt, MAX_QUEUED_PER_JOB, NotRunCause, OccKey, Overlap, UnixMs, time};

use super::State;

/// Why the overlap policy refuses a new occurrence. Compared as a type,
/// never as its English text; [`Refusal::as_str`] is the reason recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The job is gone.
    JobRemoved,
    /// A `coalesce: all` backlog already holds [`MAX_QUEUED_PER_JOB`].
    BacklogFull,
    /// `overlap: allow`: the runs in flight reached max instances (the
    /// record goes on to name them).
    MaxInstances,
    /// `overlap: skip`: an earlier occurrence is in flight.
    Skip,
    /// `overlap: buffer_one`: one occurrence already waits.
    BufferFull,
}

impl Refusal {
    /// The reason as recorded on the skipped occurrence.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::JobRemoved => "job removed",
            Refusal::BacklogFull => "the backlog queue is full",
            Refusal::MaxInstances => "max instances reached",
            Refusal::Skip => "an earlier occurrence is still in flight (overlap: skip)",
            Refusal::BufferFull => "one occurrence is already buffered (overlap: buffer_one)",
        }
    }
}

impl Refusal {
    /// The typed cause recorded on the skipped occurrence.
    pub fn cause(self) -> NotRunCause {
        match self {
            Refusal::JobRemoved => NotRunCause::JobRemoved,
            Refusal::BacklogFull => NotRunCause::BacklogFull,
            Refusal::MaxInstances => NotRunCause::MaxInstances,
            Refusal::Skip => NotRunCause::OverlapSkip,
            Refusal::BufferFull => NotRunCause::BufferFull,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many recent occurrences (beyond the instance limit) are looked at
/// for runs that were in flight at a due instant and have ended since.
const RECENT_FOR_OVERLAP: usize = 4;

/// Whether attempt `a` (of an occurrence that has ended) overlapped the
/// instant `due` on the schedule's timeline: a run occupies its own due
/// instant plus however long it ran. A run that the cluster started late
/// (after a failover, say) is placed where it was due, so its lateness
/// does not make the next instant a skip; a run that really lasted past
/// the next instant does.
fn ran_across(a: &Attempt, due: UnixMs) -> bool {
    let (Some(started), Some(finished)) = (a.started_at, a.finished_at) else {
        return false;
    };
    let from = started.min(a.due_at);
    let to = from.saturating_add(finished.saturating_sub(started).max(0));
    from <= due && due < to
}

/// Most runs in flight that a skip's reason names.
const MAX_NAMED_IN_FLIGHT: usize = 3;

/// What the overlap policy says about a new occurrence.
pub(super) enum Admit {
    /// Arm it.
    Arm,
    /// Arm it after cancelling the open ones (replace).
    Replace,
    /// Keep it waiting for the open one to end (buffer one).
    Buffer,
    /// Refuse it, for this reason.
    Refuse(Refusal),
}

/// What the overlap policy would do with a new occurrence of a job now,
/// judged on the open occurrences: what the leader plans with, read once
/// per job and tick ([`State::overlap_now`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverlapNow {
    /// It would be armed.
    Arm,
    /// It would wait behind the open one (buffer one, a draining backlog).
    Queue,
    /// It would replace the open ones.
    Replace,
    /// It would be refused (skip, max instances, a full buffer).
    Refuse,
}

impl OverlapNow {
    /// Whether the next occurrence may be armed ahead of its due instant.
    /// When not (its overlap policy would refuse it now), the leader
    /// proposes it only once it is due.
    pub fn arms_ahead(self) -> bool {
        self == OverlapNow::Arm
    }

    /// Whether a new occurrence would be judged against the open ones:
    /// refused or let replace them. A new leader holds such a judgement
    /// until its view of those open occurrences is current (results sent to
    /// the old leader are re-sent).
    pub fn judged_by_open(self) -> bool {
        matches!(self, OverlapNow::Refuse | OverlapNow::Replace)
    }

    /// Whether the open occurrences would refuse a new one.
    pub fn refused(self) -> bool {
        self == OverlapNow::Refuse
    }
}

impl State {
    /// What the overlap policy would do with a new occurrence of `job_id`
    /// now.
    pub fn overlap_now(&self, job_id: &str) -> OverlapNow {
        match self.admit(job_id) {
            Admit::Arm => OverlapNow::Arm,
            Admit::Buffer => OverlapNow::Queue,
            Admit::Replace => OverlapNow::Replace,
            Admit::Refuse(_) => OverlapNow::Refuse,
        }
    }

    /// The overlap policy's answer for a new occurrence of `job_id`.
    pub(super) fn admit(&self, job_id: &str) -> Admit {
        let Some(job) = self.jobs.get(job_id) else {
            return Admit::Refuse(Refusal::JobRemoved);
        };
        let open = self.open_of_ref(job_id);
        if open.is_empty() {
            return Admit::Arm;
        }
        let buffered = open
            .iter()
            .filter(|k| self.occurrences.get(k).is_some_and(|o| o.buffered))
            .count();
        // While a `coalesce: all` backlog drains (one at a time, in order),
        // new instants join its tail instead of being skipped (buffer-one
        // keeps its one-waiting rule; replace never queues).
        if buffered > 0
            && job.spec.policies.coalesce == crate::model::Coalesce::All
            && matches!(job.spec.policies.overlap, Overlap::Allow | Overlap::Skip)
        {
            return if buffered < MAX_QUEUED_PER_JOB {
                Admit::Buffer
            } else {
                Admit::Refuse(Refusal::BacklogFull)
            };
        }
        match job.spec.policies.overlap {
            Overlap::Allow if (open.len() as u32) < job.spec.policies.instances() => Admit::Arm,
            Overlap::Allow => Admit::Refuse(Refusal::MaxInstances),
            Overlap::Skip => Admit::Refuse(Refusal::Skip),
            Overlap::BufferOne if buffered == 0 => Admit::Buffer,
            Overlap::BufferOne => Admit::Refuse(Refusal::BufferFull),
            Overlap::Replace => Admit::Replace,
        }
    }

    /// The ended occurrences of `job_id` scheduled before `due` whose run
    /// overlapped it ([`ran_across`]), among the `recent` latest. The most
    /// recent few are enough: older ones ended before newer ones began.
    fn ended_across(
        &self,
        job_id: &str,
        due: UnixMs,
        recent: usize,
    ) -> impl Iterator<Item = &OccKey> {
        let start = OccKey {
            job_id: job_id.to_string(),
            scheduled_at: UnixMs::MIN,
        };
        let end = OccKey {
            job_id: job_id.to_string(),
            scheduled_at: due,
        };
        self.occurrences
            .range(start..end)
            .rev()
            .take(recent)
            .filter(|(_, o)| !o.state.is_open())
            .filter(move |(_, o)| o.current().is_some_and(|a| ran_across(a, due)))
            .map(|(k, _)| k)
    }

    /// The overlap policy's refusal of a new occurrence of `job_id` due at
    /// `due`, counting runs that overlapped it and have ended since
    /// ([`ran_across`]). `None` when it would have been admitted.
    pub(super) fn refused_at(&self, job_id: &str, due: UnixMs) -> Option<Refusal> {
        let job = self.jobs.get(job_id)?;
        let limit = match job.spec.policies.overlap {
            Overlap::Allow => job.spec.policies.instances(),
            Overlap::Skip => 1,
            // Buffer-one and replace: a run that has ended needs neither
            // a queue nor a cancel; the new one simply runs.
            Overlap::BufferOne | Overlap::Replace => return None,
        };
        let open = self.open_of_ref(job_id).len() as u32;
        let ended_after = self
            .ended_across(job_id, due, limit as usize + RECENT_FOR_OVERLAP)
            .count() as u32;
        (open + ended_after >= limit).then_some(match job.spec.policies.overlap {
            Overlap::Allow => Refusal::MaxInstances,
            _ => Refusal::Skip,
        })
    }

    /// The runs of `job_id` in flight at `due` as a skip's reason names
    /// them: which attempt, in which state, on which node (and when it
    /// ended, if it has since). A user (or a test) reading "skipped" can
    /// tell a run that really ran long from one whose result had not yet
    /// been committed.
    pub(super) fn in_flight(&self, job_id: &str, due: UnixMs) -> Option<String> {
        let open = self.open_of_ref(job_id);
        let ended = self.ended_across(job_id, due, RECENT_FOR_OVERLAP);
        let all: Vec<&OccKey> = open.iter().copied().chain(ended).collect();
        let named: Vec<String> = all
            .iter()
            .take(MAX_NAMED_IN_FLIGHT)
            .filter_map(|k| {
                let o = self.occurrences.get(*k)?;
                Some(match o.current() {
                    Some(a) if !o.state.is_open() => format!(
                        "{} (attempt {} on node {}, token {}, started at {}, {} at {})",
                        k.id(),
                        a.number,
                        a.node_id,
                        a.token,
                        a.started_at.map_or_else(String::new, time::rfc3339_ms),
                        a.state.as_str(),
                        a.finished_at.map_or_else(String::new, time::rfc3339_ms)
                    ),
                    Some(a) => format!(
                        "{} (attempt {} {} on node {}, token {})",
                        k.id(),
                        a.number,
                        a.state.as_str(),
                        a.node_id,
                        a.token
                    ),
                    None if o.buffered => format!("{} (queued)", k.id()),
                    None => k.id(),
                })
            })
            .collect();
        if named.is_empty() {
            return None;
        }
        let more = all.len().saturating_sub(named.len());
        Some(if more > 0 {
            format!("{} and {more} more", named.join(", "))
        } else {
            named.join(", ")
        })
    }
}
