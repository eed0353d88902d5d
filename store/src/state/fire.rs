//! Firing: turning due instants into occurrences, under the misfire,
//! coalesce, overlap, jitter and max-runs policies.
//!
//! Lateness is judged against the command's `now` (the leader's clock when
//! it proposed), never a clock read here. Instants due after `now` are armed
//! ahead of time (the leader's lookahead); instants due at or before `now`
//! are a backlog, collapsed by the coalesce policy and cut by misfire grace.

use crate::command::{Advance, CommandError, Response};
use crate::model::{
    Attempt, AttemptState, MAX_BACKLOG_PER_ADVANCE, MAX_QUEUED_PER_JOB, NodeId, OccKey, Occurrence,
    Overlap, RunState, UnixMs, time,
};
use crate::schedule::jitter_ms;

use super::jobs::job_seed;
use super::{Ctx, EventKind, State};

/// Totals of one fire command.
/// An instant proposed more than this long after it was due was missed by
/// the leader (an outage or failover), not merely held back by its overlap
/// policy until due.
pub const BACKLOG_AFTER_MS: i64 = 1_000;

#[derive(Default)]
struct Tally {
    armed: u32,
    missed: u32,
    skipped: u32,
    keys: Vec<OccKey>,
}

/// The reason of an instant skipped because the job's runs in flight
/// reached its max instances (`overlap: allow`); the record goes on to name
/// them.
pub const MAX_INSTANCES: &str = "max instances reached";

/// The reason of an instant skipped under `overlap: skip`.
const OVERLAP_SKIP: &str = "an earlier occurrence is still in flight (overlap: skip)";

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
enum Admit {
    /// Arm it.
    Arm,
    /// Arm it after cancelling the open ones (replace).
    Replace,
    /// Keep it waiting for the open one to end (buffer one).
    Buffer,
    /// Refuse it, with this reason.
    Refuse(&'static str),
}

impl State {
    pub(super) fn fire(&mut self, ctx: &mut Ctx, advances: &[Advance]) -> Response {
        let mut tally = Tally::default();
        if self.scheduler_paused {
            return Response::Fired {
                armed: 0,
                missed: 0,
                skipped: 0,
                keys: Vec::new(),
            };
        }
        for adv in advances {
            self.advance(ctx, adv, &mut tally);
        }
        Response::Fired {
            armed: tally.armed,
            missed: tally.missed,
            skipped: tally.skipped,
            keys: tally.keys,
        }
    }

    /// The instant an occurrence scheduled at `at` is due: jitter included.
    fn due_of(&self, job_id: &str, at: UnixMs) -> UnixMs {
        let jitter = self
            .jobs
            .get(job_id)
            .map_or(0, |j| j.spec.policies.jitter_ms);
        if jitter == 0 {
            return at;
        }
        let key = OccKey {
            job_id: job_id.to_string(),
            scheduled_at: at,
        };
        at.saturating_add(jitter_ms(&key.id(), jitter) as i64)
    }

    fn advance(&mut self, ctx: &mut Ctx, adv: &Advance, tally: &mut Tally) {
        let id = adv.job_id.as_str();
        let Some(schedule) = self.schedule_of(id) else {
            return;
        };
        let seed = job_seed(id);
        // 1. Collect the backlog: instants due at or before now.
        let mut late = Vec::new();
        let mut cursor = match self.jobs.get(id) {
            Some(j) if j.is_schedulable() => j.next_fire_at,
            _ => return,
        };
        while let Some(at) = cursor {
            if at > adv.through
                || self.due_of(id, at) > ctx.now
                || late.len() >= MAX_BACKLOG_PER_ADVANCE
            {
                break;
            }
            late.push(at);
            cursor = schedule
                .next_after(time::to_datetime(at), seed)
                .map(time::from_datetime);
        }
        if !late.is_empty() {
            // Every late instant might need a token; if this entry cannot
            // give them all, leave the job for the next entry rather than
            // move its cursor past instants it could not record.
            if ctx.tokens_left() < late.len() {
                return;
            }
            self.settle_backlog(ctx, adv, &late, tally);
            // A backlog longer than one advance may create: skip the rest of
            // it, recorded in one event, so one entry stays bounded.
            if late.len() >= MAX_BACKLOG_PER_ADVANCE
                && let Some(at) = cursor
                && self.due_of(id, at) <= ctx.now
            {
                let skip_to = schedule
                    .next_after(time::to_datetime(ctx.now.saturating_sub(1)), seed)
                    .map(time::from_datetime);
                let e = self.emit(ctx, EventKind::OccurrenceMissed, id, None);
                e.detail = format!(
                    "backlog over {MAX_BACKLOG_PER_ADVANCE}: occurrences from {} up to {} were not created",
                    time::rfc3339_ms(at),
                    time::rfc3339_ms(ctx.now)
                );
                cursor = skip_to;
            }
            self.set_cursor(id, cursor);
            self.finish_if_exhausted(id);
        }
        // 2. Arm instants due after now, up to `through`, ahead of time.
        let mut created = 0;
        loop {
            let Some(job) = self.jobs.get(id) else { return };
            if !job.is_schedulable() || created >= MAX_BACKLOG_PER_ADVANCE || ctx.tokens_left() == 0
            {
                return;
            }
            let Some(at) = job.next_fire_at else { return };
            if at > adv.through {
                return;
            }
            // Overlap is judged when the occurrence is due, not ahead of it:
            // if it would be refused now, leave it for the leader to
            // propose again once it is due.
            if !matches!(self.admit(id), Admit::Arm) {
                return;
            }
            let due = self.due_of(id, at);
            self.create_occurrence(ctx, id, at, due, adv.assignee, false, false, tally);
            created += 1;
            let next = schedule
                .next_after(time::to_datetime(at), seed)
                .map(time::from_datetime);
            self.set_cursor(id, next);
            self.finish_if_exhausted(id);
        }
    }

    /// Records a backlog under misfire grace and coalesce.
    fn settle_backlog(&mut self, ctx: &mut Ctx, adv: &Advance, late: &[UnixMs], tally: &mut Tally) {
        let id = adv.job_id.as_str();
        let Some(job) = self.jobs.get(id) else { return };
        let policies = job.spec.policies.clone();
        // A real backlog (instants the leader missed: more than one, or one
        // well past due), as opposed to the one instant proposed on time
        // because its overlap policy kept it from being armed ahead.
        let real_backlog = late.len() > 1
            || late
                .first()
                .is_some_and(|&at| ctx.now.saturating_sub(self.due_of(id, at)) > BACKLOG_AFTER_MS);
        let within_grace = |due: UnixMs| {
            policies
                .misfire_grace_ms
                .is_none_or(|g| ctx.now.saturating_sub(due) <= g as i64)
        };
        let runnable: Vec<usize> = (0..late.len())
            .filter(|&i| within_grace(self.due_of(id, late[i])))
            .collect();
        let chosen: Vec<usize> = match policies.coalesce {
            crate::model::Coalesce::All => runnable.clone(),
            crate::model::Coalesce::Earliest => runnable.first().copied().into_iter().collect(),
            crate::model::Coalesce::Latest => runnable.last().copied().into_iter().collect(),
        };
        for (i, &at) in late.iter().enumerate() {
            let key = OccKey {
                job_id: id.to_string(),
                scheduled_at: at,
            };
            if self.occurrences.contains_key(&key) {
                continue; // idempotent: never created twice
            }
            let due = self.due_of(id, at);
            if chosen.contains(&i) {
                let max_runs = self.jobs.get(id).map_or(0, |j| j.spec.policies.max_runs);
                let run_count = self.jobs.get(id).map_or(0, |j| j.run_count);
                if max_runs != 0 && run_count >= max_runs {
                    break;
                }
                self.create_occurrence(ctx, id, at, due, adv.assignee, false, real_backlog, tally);
            } else {
                let reason = if !runnable.contains(&i) {
                    format!(
                        "misfire grace of {} ms exceeded: {} ms late",
                        policies.misfire_grace_ms.unwrap_or(0),
                        ctx.now.saturating_sub(due)
                    )
                } else {
                    format!("coalesced ({:?})", policies.coalesce).to_lowercase()
                };
                self.record_not_run(ctx, &key, RunState::Missed, &reason, tally);
            }
        }
    }

    /// Whether the next occurrence of `job_id` may be armed ahead of its due
    /// instant. When not (its overlap policy would refuse it now), the
    /// leader proposes it only once it is due.
    pub fn arms_ahead(&self, job_id: &str) -> bool {
        matches!(self.admit(job_id), Admit::Arm)
    }

    /// Whether the open occurrences of `job_id` would refuse a new one now
    /// (skip, max instances, a full buffer).
    pub fn refused_by_open(&self, job_id: &str) -> bool {
        matches!(self.admit(job_id), Admit::Refuse(_))
    }

    /// Whether a new occurrence of `job_id` would be judged against the
    /// open ones now: refused (skip, max instances) or let replace them. A
    /// new leader holds such a judgement until its view of those open
    /// occurrences is current (results sent to the old leader are re-sent).
    pub fn judged_by_open(&self, job_id: &str) -> bool {
        matches!(self.admit(job_id), Admit::Refuse(_) | Admit::Replace)
    }

    /// The overlap policy's answer for a new occurrence of `job_id`.
    fn admit(&self, job_id: &str) -> Admit {
        let Some(job) = self.jobs.get(job_id) else {
            return Admit::Refuse("job removed");
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
                Admit::Refuse("the backlog queue is full")
            };
        }
        match job.spec.policies.overlap {
            Overlap::Allow if (open.len() as u32) < job.spec.policies.instances() => Admit::Arm,
            Overlap::Allow => Admit::Refuse(MAX_INSTANCES),
            Overlap::Skip => Admit::Refuse(OVERLAP_SKIP),
            Overlap::BufferOne if buffered == 0 => Admit::Buffer,
            Overlap::BufferOne => {
                Admit::Refuse("one occurrence is already buffered (overlap: buffer_one)")
            }
            Overlap::Replace => Admit::Replace,
        }
    }

    /// Creates an occurrence that is due (or armed ahead), under the overlap
    /// and max-runs policies.
    #[allow(clippy::too_many_arguments)]
    fn create_occurrence(
        &mut self,
        ctx: &mut Ctx,
        job_id: &str,
        at: UnixMs,
        due: UnixMs,
        assignee: NodeId,
        manual: bool,
        backlog: bool,
        tally: &mut Tally,
    ) {
        let key = OccKey {
            job_id: job_id.to_string(),
            scheduled_at: at,
        };
        if self.occurrences.contains_key(&key) {
            return; // idempotent per key
        }
        let mut admit = self.admit(job_id);
        // The runs a backlog's coalesce policy chose wait for the run in
        // flight instead of being skipped: one at a time and in order, each
        // with a token issued when it is released, so tokens increase in the
        // order effects happen and a fencing sink accepts them all.
        if backlog && matches!(admit, Admit::Refuse(_)) {
            admit = Admit::Buffer;
        }
        // An on-time instant is judged by what was in flight at its due
        // instant, not at this entry: the leader may hold it briefly for a
        // result on its way, and a run that ended after the due instant
        // still overlapped it.
        if !backlog
            && !manual
            && matches!(admit, Admit::Arm)
            && let Some(reason) = self.refused_at(job_id, due)
        {
            admit = Admit::Refuse(reason);
        }
        match admit {
            Admit::Arm => {}
            Admit::Replace => {
                for open in self.open_of(job_id) {
                    self.cancel_occurrence(ctx, &open, &format!("replaced by {}", key.id()));
                }
            }
            Admit::Buffer => {
                self.insert_occurrence(ctx, &key, manual, true);
                if !manual {
                    self.count_run(job_id);
                }
                let e = self.emit(ctx, EventKind::OccurrenceArmed, job_id, Some(&key));
                e.detail = "queued behind the occurrence in flight".into();
                tally.armed += 1;
                tally.keys.push(key);
                return;
            }
            Admit::Refuse(reason) => {
                if reason == MAX_INSTANCES {
                    self.emit(ctx, EventKind::MaxInstancesReached, job_id, Some(&key));
                }
                let reason = match self.in_flight(job_id, due) {
                    Some(which) => format!("{reason}; in flight: {which}"),
                    None => reason.to_string(),
                };
                self.record_not_run(ctx, &key, RunState::Skipped, &reason, tally);
                return;
            }
        }
        let Some(token) = ctx.next_token() else {
            return;
        };
        self.insert_occurrence(ctx, &key, manual, false);
        if let Some(occ) = self.occurrences.get_mut(&key) {
            occ.attempts.push(new_attempt(1, token, assignee, due));
        }
        if !manual {
            self.count_run(job_id);
        }
        let e = self.emit(ctx, EventKind::OccurrenceArmed, job_id, Some(&key));
        e.node_id = Some(assignee);
        e.token = Some(token);
        tally.armed += 1;
        tally.keys.push(key);
    }

    /// The overlap policy's refusal of a new occurrence of `job_id` due at
    /// `due`, counting runs that overlapped it and have ended since
    /// ([`ran_across`]). `None` when it would have been admitted.
    fn refused_at(&self, job_id: &str, due: UnixMs) -> Option<&'static str> {
        let job = self.jobs.get(job_id)?;
        let limit = match job.spec.policies.overlap {
            Overlap::Allow => job.spec.policies.instances(),
            Overlap::Skip => 1,
            // Buffer-one and replace: a run that has ended needs neither
            // a queue nor a cancel; the new one simply runs.
            Overlap::BufferOne | Overlap::Replace => return None,
        };
        let open = self.open_of_ref(job_id).len() as u32;
        let start = OccKey {
            job_id: job_id.to_string(),
            scheduled_at: UnixMs::MIN,
        };
        let end = OccKey {
            job_id: job_id.to_string(),
            scheduled_at: due,
        };
        // The most recent few occurrences are enough: older ones ended
        // before newer ones began, or were long since counted.
        let ended_after: u32 = self
            .occurrences
            .range(start..end)
            .rev()
            .take(limit as usize + RECENT_FOR_OVERLAP)
            .filter(|(_, o)| !o.state.is_open())
            .filter(|(_, o)| o.current().is_some_and(|a| ran_across(a, due)))
            .count() as u32;
        (open + ended_after >= limit).then_some(match job.spec.policies.overlap {
            Overlap::Allow => MAX_INSTANCES,
            _ => OVERLAP_SKIP,
        })
    }

    /// The runs of `job_id` in flight at `due` as a skip's reason names
    /// them: which attempt, in which state, on which node (and when it
    /// ended, if it has since). A user (or a test) reading "skipped" can
    /// tell a run that really ran long from one whose result had not yet
    /// been committed.
    fn in_flight(&self, job_id: &str, due: UnixMs) -> Option<String> {
        let start = OccKey {
            job_id: job_id.to_string(),
            scheduled_at: UnixMs::MIN,
        };
        let end = OccKey {
            job_id: job_id.to_string(),
            scheduled_at: due,
        };
        let open = self.open_of_ref(job_id);
        let ended = self
            .occurrences
            .range(start..end)
            .rev()
            .take(RECENT_FOR_OVERLAP)
            .filter(|(_, o)| !o.state.is_open())
            .filter(|(_, o)| o.current().is_some_and(|a| ran_across(a, due)))
            .map(|(k, _)| k);
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

    fn insert_occurrence(&mut self, ctx: &Ctx, key: &OccKey, manual: bool, buffered: bool) {
        self.occurrences.insert(
            key.clone(),
            Occurrence {
                key: key.clone(),
                state: RunState::Armed,
                reason: None,
                manual,
                created_index: ctx.index,
                buffered,
                attempts: Vec::new(),
            },
        );
        self.open.insert(key.clone());
    }

    fn count_run(&mut self, job_id: &str) {
        if let Some(job) = self.jobs.get_mut(job_id) {
            job.run_count += 1;
        }
        self.finish_if_exhausted(job_id);
    }

    /// Records an occurrence that will not run (missed or skipped), so it is
    /// never dropped silently.
    fn record_not_run(
        &mut self,
        ctx: &mut Ctx,
        key: &OccKey,
        state: RunState,
        reason: &str,
        tally: &mut Tally,
    ) {
        if self.occurrences.contains_key(key) {
            return;
        }
        self.occurrences.insert(
            key.clone(),
            Occurrence {
                key: key.clone(),
                state,
                reason: Some(reason.to_string()),
                manual: false,
                created_index: ctx.index,
                buffered: false,
                attempts: Vec::new(),
            },
        );
        let kind = if state == RunState::Missed {
            EventKind::OccurrenceMissed
        } else {
            EventKind::OccurrenceSkipped
        };
        let e = self.emit(ctx, kind, &key.job_id, Some(key));
        e.detail = reason.to_string();
        if state == RunState::Missed {
            tally.missed += 1;
        } else {
            tally.skipped += 1;
        }
        tally.keys.push(key.clone());
        self.enforce_retention(&key.job_id);
    }

    pub(super) fn run_now(&mut self, ctx: &mut Ctx, job_id: &str, assignee: NodeId) -> Response {
        if !self.jobs.contains_key(job_id) {
            return Response::Error(CommandError::NotFound(job_id.to_string()));
        }
        let mut tally = Tally::default();
        let key = OccKey {
            job_id: job_id.to_string(),
            scheduled_at: ctx.now,
        };
        if self.occurrences.contains_key(&key) {
            return Response::Fired {
                armed: 0,
                missed: 0,
                skipped: 0,
                keys: vec![key],
            };
        }
        self.create_occurrence(
            ctx, job_id, ctx.now, ctx.now, assignee, true, false, &mut tally,
        );
        Response::Fired {
            armed: tally.armed,
            missed: tally.missed,
            skipped: tally.skipped,
            keys: tally.keys,
        }
    }
}

/// A fresh armed attempt.
pub(super) fn new_attempt(number: u32, token: u64, node_id: NodeId, due_at: UnixMs) -> Attempt {
    Attempt {
        number,
        token,
        node_id,
        due_at,
        state: AttemptState::Armed,
        started_at: None,
        finished_at: None,
        exit_code: None,
        output_tail: String::new(),
    }
}
