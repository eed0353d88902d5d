//! Firing: turning due instants into occurrences, under the misfire,
//! coalesce, overlap, jitter and max-runs policies.
//!
//! Lateness is judged against the command's `now` (the leader's clock when
//! it proposed), never a clock read here. Instants due after `now` are armed
//! ahead of time (the leader's lookahead); instants due at or before `now`
//! are a backlog, collapsed by the coalesce policy and cut by misfire grace.

use crate::command::{Advance, CommandError, Response};
use crate::model::{
    Attempt, AttemptState, MAX_BACKLOG_PER_ADVANCE, NodeId, NotRunCause, OccKey, Occurrence,
    RunState, UnixMs, time,
};
use crate::schedule::jitter_ms;

use super::jobs::job_seed;
use super::overlap::{Admit, Refusal};
use super::{Ctx, EventKind, State};

/// An instant proposed more than this long after it was due was missed by
/// the leader (an outage or failover), not merely held back by its overlap
/// policy until due.
pub const BACKLOG_AFTER_MS: i64 = 1_000;

/// Why an occurrence is created: it decides how the overlap policy judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// A scheduled instant on time (or armed ahead): judged by what was in
    /// flight at its due instant.
    OnTime,
    /// An instant the leader missed (an outage, a failover): queued behind
    /// the run in flight rather than skipped, when the coalesce policy
    /// chose to run it.
    Backlog,
    /// Run now, outside the schedule: never refused for what ran before,
    /// and not counted towards max runs.
    Manual,
    /// A past instant a backfill asked for: queued behind whatever is in
    /// flight (never skipped or replacing), not counted towards max runs.
    Backfill,
}

/// Totals of one fire command.
#[derive(Default)]
struct Tally {
    armed: u32,
    missed: u32,
    skipped: u32,
    keys: Vec<OccKey>,
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
                e.cause = Some(NotRunCause::BacklogCut);
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
            self.create_occurrence(ctx, id, at, due, adv.assignee, Origin::OnTime, tally);
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
        // because its overlap policy kept it from being armed ahead, or
        // held by the leader until the results of the runs in flight were
        // known (`on_time`).
        let real_backlog = !adv.on_time
            && (late.len() > 1
                || late.first().is_some_and(|&at| {
                    ctx.now.saturating_sub(self.due_of(id, at)) > BACKLOG_AFTER_MS
                }));
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
                let origin = if real_backlog {
                    Origin::Backlog
                } else {
                    Origin::OnTime
                };
                self.create_occurrence(ctx, id, at, due, adv.assignee, origin, tally);
            } else {
                let (cause, reason) = if !runnable.contains(&i) {
                    let why = format!(
                        "misfire grace of {} ms exceeded: {} ms late",
                        policies.misfire_grace_ms.unwrap_or(0),
                        ctx.now.saturating_sub(due)
                    );
                    (NotRunCause::MisfireGrace, why)
                } else {
                    let why = format!("coalesced ({:?})", policies.coalesce).to_lowercase();
                    (NotRunCause::Coalesced, why)
                };
                self.record_not_run(ctx, &key, cause, &reason, tally);
            }
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
        origin: Origin,
        tally: &mut Tally,
    ) {
        let manual = matches!(origin, Origin::Manual | Origin::Backfill);
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
        if origin == Origin::Backlog && matches!(admit, Admit::Refuse(_)) {
            admit = Admit::Buffer;
        }
        if origin == Origin::Backfill && !matches!(admit, Admit::Arm) {
            admit = Admit::Buffer;
        }
        // An on-time instant is judged by what was in flight at its due
        // instant, not at this entry: the leader may hold it briefly for a
        // result on its way, and a run that ended after the due instant
        // still overlapped it.
        if origin == Origin::OnTime
            && matches!(admit, Admit::Arm)
            && let Some(reason) = self.refused_at(job_id, due)
        {
            admit = Admit::Refuse(reason);
        }
        match admit {
            Admit::Arm => {}
            Admit::Replace => {
                for open in self.open_of(job_id) {
                    self.cancel_occurrence(
                        ctx,
                        &open,
                        NotRunCause::Replaced,
                        &format!("replaced by {}", key.id()),
                    );
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
            Admit::Refuse(refusal) => {
                if refusal == Refusal::MaxInstances {
                    self.emit(ctx, EventKind::MaxInstancesReached, job_id, Some(&key));
                }
                let reason = match self.in_flight(job_id, due) {
                    Some(which) => format!("{refusal}; in flight: {which}"),
                    None => refusal.to_string(),
                };
                self.record_not_run(ctx, &key, refusal.cause(), &reason, tally);
                return;
            }
        }
        let Some(token) = ctx.next_token() else {
            return;
        };
        self.insert_occurrence(ctx, &key, manual, false);
        self.push_attempt(&key, new_attempt(1, token, assignee, due));
        if !manual {
            self.count_run(job_id);
        }
        let e = self.emit(ctx, EventKind::OccurrenceArmed, job_id, Some(&key));
        e.node_id = Some(assignee);
        e.token = Some(token);
        tally.armed += 1;
        tally.keys.push(key);
    }

    fn insert_occurrence(&mut self, ctx: &Ctx, key: &OccKey, manual: bool, buffered: bool) {
        self.occurrences.insert(
            key.clone(),
            Occurrence {
                key: key.clone(),
                state: RunState::Armed,
                reason: None,
                cause: None,
                manual,
                created_index: ctx.index,
                buffered,
                attempts: Vec::new(),
            },
        );
        self.open.insert(key.clone(), None);
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
        cause: NotRunCause,
        reason: &str,
        tally: &mut Tally,
    ) {
        let state = cause.state();
        if self.occurrences.contains_key(key) {
            return;
        }
        self.occurrences.insert(
            key.clone(),
            Occurrence {
                key: key.clone(),
                state,
                reason: Some(reason.to_string()),
                cause: Some(cause),
                manual: false,
                created_index: ctx.index,
                buffered: false,
                attempts: Vec::new(),
            },
        );
        if super::not_ok(state) {
            self.not_ok.insert((key.scheduled_at, key.clone()));
        }
        let kind = match state {
            RunState::Missed => EventKind::OccurrenceMissed,
            RunState::Cancelled => EventKind::OccurrenceCancelled,
            _ => EventKind::OccurrenceSkipped,
        };
        let e = self.emit(ctx, kind, &key.job_id, Some(key));
        e.detail = reason.to_string();
        e.cause = Some(cause);
        if state == RunState::Missed {
            tally.missed += 1;
        } else {
            tally.skipped += 1;
        }
        tally.keys.push(key.clone());
        self.enforce_retention(&key.job_id);
    }

    /// Records the instants of worker jobs that no node can serve and that
    /// are already past their misfire grace as missed, with the reason; see
    /// [`crate::command::Command::Unserved`]. Instants within the grace wait.
    pub(super) fn unserved(&mut self, ctx: &mut Ctx, job_ids: &[String]) -> Response {
        let mut tally = Tally::default();
        if !self.scheduler_paused {
            for id in job_ids {
                self.record_unserved(ctx, id, &mut tally);
            }
        }
        Response::Fired {
            armed: tally.armed,
            missed: tally.missed,
            skipped: tally.skipped,
            keys: tally.keys,
        }
    }

    fn record_unserved(&mut self, ctx: &mut Ctx, id: &str, tally: &mut Tally) {
        let Some(job) = self.jobs.get(id) else { return };
        if !job.is_schedulable() {
            return;
        }
        let (Some(worker), Some(grace)) = (
            job.spec.executor.worker(),
            job.spec.policies.misfire_grace_ms,
        ) else {
            return;
        };
        let reason = worker.no_worker_reason();
        let mut cursor = job.next_fire_at;
        let Some(schedule) = self.schedule_of(id) else {
            return;
        };
        let seed = job_seed(id);
        let mut recorded = 0;
        while let Some(at) = cursor {
            let late = ctx.now.saturating_sub(self.due_of(id, at));
            if recorded >= MAX_BACKLOG_PER_ADVANCE || late <= grace as i64 {
                break;
            }
            let key = OccKey {
                job_id: id.to_string(),
                scheduled_at: at,
            };
            let why = format!("{reason}: {late} ms late, past the misfire grace of {grace} ms");
            self.record_not_run(ctx, &key, NotRunCause::NoWorker, &why, tally);
            recorded += 1;
            cursor = schedule
                .next_after(time::to_datetime(at), seed)
                .map(time::from_datetime);
        }
        if recorded > 0 {
            self.set_cursor(id, cursor);
            self.finish_if_exhausted(id);
        }
    }

    /// Records the old spec's instants that were due at `ctx.now` and never
    /// became occurrences as missed, because update `version` replaces the
    /// schedule: nothing is dropped silently.
    pub(super) fn record_superseded(&mut self, ctx: &mut Ctx, id: &str, version: u64) {
        let why = format!("not run: the job was updated (version {version}) before it ran");
        self.record_due_unrun(ctx, id, NotRunCause::Updated, &why);
    }

    /// Records the instants of `id` that were due at `ctx.now` and never
    /// became occurrences (held by the leader for the results of runs in
    /// flight, say) as not run for `cause`, before the job's schedule is
    /// replaced, the job deleted or paused: nothing is dropped silently.
    /// Returns the number recorded and the job's first instant after them
    /// (its cursor, if the job goes on).
    pub(super) fn record_due_unrun(
        &mut self,
        ctx: &mut Ctx,
        id: &str,
        cause: NotRunCause,
        why: &str,
    ) -> (usize, Option<UnixMs>) {
        let Some(job) = self.jobs.get(id) else {
            return (0, None);
        };
        if !job.is_schedulable() {
            return (0, job.next_fire_at);
        }
        let mut cursor = job.next_fire_at;
        let Some(schedule) = self.schedule_of(id) else {
            return (0, cursor);
        };
        let seed = job_seed(id);
        let mut tally = Tally::default();
        let mut recorded = 0;
        while let Some(at) = cursor {
            if recorded >= MAX_BACKLOG_PER_ADVANCE || self.due_of(id, at) > ctx.now {
                break;
            }
            let key = OccKey {
                job_id: id.to_string(),
                scheduled_at: at,
            };
            self.record_not_run(ctx, &key, cause, why, &mut tally);
            recorded += 1;
            cursor = schedule
                .next_after(time::to_datetime(at), seed)
                .map(time::from_datetime);
        }
        (recorded, cursor)
    }

    /// Creates the occurrences of `job_id`'s instants in `[from, to]`; see
    /// [`crate::command::Command::Backfill`].
    pub(super) fn backfill(
        &mut self,
        ctx: &mut Ctx,
        job_id: &str,
        from: UnixMs,
        to: UnixMs,
        assignee: NodeId,
    ) -> Response {
        use crate::model::{MAX_BACKFILL, ValidationError};
        let invalid = |field: &str, message: String| {
            Response::Error(CommandError::Invalid(ValidationError {
                field: field.into(),
                message,
            }))
        };
        if !self.jobs.contains_key(job_id) {
            return Response::Error(CommandError::NotFound(job_id.to_string()));
        }
        if from > to {
            return invalid("from", format!("{} is after to", time::rfc3339_ms(from)));
        }
        if to > ctx.now {
            return invalid(
                "to",
                format!(
                    "{} is in the future; a backfill covers instants that have passed",
                    time::rfc3339_ms(to)
                ),
            );
        }
        let Some(schedule) = self.schedule_of(job_id) else {
            return Response::Error(CommandError::NotFound(job_id.to_string()));
        };
        let seed = job_seed(job_id);
        let mut instants = Vec::new();
        let mut cursor = schedule
            .next_after(time::to_datetime(from.saturating_sub(1)), seed)
            .map(time::from_datetime);
        while let Some(at) = cursor {
            if at > to {
                break;
            }
            if instants.len() >= MAX_BACKFILL {
                return invalid(
                    "to",
                    format!(
                        "the range holds more than {MAX_BACKFILL} instants; backfill it in parts"
                    ),
                );
            }
            instants.push(at);
            cursor = schedule
                .next_after(time::to_datetime(at), seed)
                .map(time::from_datetime);
        }
        if ctx.tokens_left() < instants.len() {
            return invalid(
                "to",
                "too many instants for one log entry; backfill it in parts".into(),
            );
        }
        let mut tally = Tally::default();
        let mut existing = 0;
        for &at in &instants {
            let key = OccKey {
                job_id: job_id.to_string(),
                scheduled_at: at,
            };
            if self.occurrences.contains_key(&key) {
                existing += 1;
                continue;
            }
            self.create_occurrence(
                ctx,
                job_id,
                at,
                ctx.now,
                assignee,
                Origin::Backfill,
                &mut tally,
            );
        }
        let created = tally.armed;
        let e = self.emit(ctx, EventKind::JobModified, job_id, None);
        e.detail = format!(
            "backfill of {} to {}: {created} occurrences created, {existing} existed already",
            time::rfc3339_ms(from),
            time::rfc3339_ms(to)
        );
        Response::Backfilled { created, existing }
    }

    /// One occurrence of dependent job `id` for upstream occurrence
    /// `upstream`, at the upstream's scheduled instant, due now; queued
    /// behind a run of the same job in flight. Once per upstream occurrence.
    pub(super) fn run_after(
        &mut self,
        ctx: &mut Ctx,
        id: &str,
        upstream: &OccKey,
        assignee: NodeId,
    ) {
        let mut tally = Tally::default();
        self.create_occurrence(
            ctx,
            id,
            upstream.scheduled_at,
            ctx.now,
            assignee,
            Origin::Backlog,
            &mut tally,
        );
        if let Some(key) = tally.keys.first()
            && let Some(e) = self
                .events
                .iter_mut()
                .rev()
                .find(|e| e.occurrence.as_ref() == Some(key))
        {
            e.detail = format!("after {}", upstream.id());
        }
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
            ctx,
            job_id,
            ctx.now,
            ctx.now,
            assignee,
            Origin::Manual,
            &mut tally,
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
