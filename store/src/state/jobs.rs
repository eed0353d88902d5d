//! Job commands: create, update, delete, pause and resume.

use crate::command::{CommandError, OnConflict, PauseTarget, Response};
use crate::model::{AttemptState, Job, JobSpec, JobState, NotRunCause, RunState, UnixMs, time};
use crate::schedule::Schedule;

use super::{Ctx, EventKind, State};

pub(crate) use crate::schedule::job_seed;

/// The first scheduled instant at or after `now`. A one-shot whose instant
/// had already passed is due at that instant: it runs as a late instant
/// under the job's misfire grace, or is recorded as missed, never dropped.
pub(crate) fn first_fire(schedule: &Schedule, job_id: &str, now: UnixMs) -> Option<UnixMs> {
    let from = schedule
        .once_instant()
        .map(time::from_datetime)
        .map_or(now, |at| at.min(now));
    schedule
        .next_after(time::to_datetime(from.saturating_sub(1)), job_seed(job_id))
        .map(time::from_datetime)
}

impl State {
    /// Refuses a dependent job whose upstream is unknown, whose chain would
    /// loop back to it, or would be longer than [`MAX_DEPENDENCY_DEPTH`].
    fn check_upstream(&self, spec: &JobSpec) -> Result<(), CommandError> {
        use crate::model::{MAX_DEPENDENCY_DEPTH, ValidationError};
        use crate::schedule::ScheduleSpec;
        let ScheduleSpec::After { job_id, .. } = &spec.schedule else {
            return Ok(());
        };
        let bad = |message: String| {
            CommandError::Invalid(ValidationError {
                field: "job.schedule.after.job_id".into(),
                message,
            })
        };
        let mut chain = vec![spec.id.clone()];
        let mut up = job_id.clone();
        loop {
            if chain.contains(&up) {
                chain.push(up);
                return Err(bad(format!("a cycle: {}", chain.join(" after "))));
            }
            chain.push(up.clone());
            if chain.len() > MAX_DEPENDENCY_DEPTH + 1 {
                return Err(bad(format!(
                    "a chain deeper than {MAX_DEPENDENCY_DEPTH}: {}",
                    chain.join(" after ")
                )));
            }
            let Some(job) = self.jobs.get(&up) else {
                if up == *job_id {
                    return Err(bad(format!("job {up:?} not found")));
                }
                return Ok(());
            };
            match &job.spec.schedule {
                ScheduleSpec::After { job_id: next, .. } => up = next.clone(),
                _ => return Ok(()),
            }
        }
    }

    /// An occurrence of `upstream` settled in `state`: each job that runs
    /// after it (on success, or on any end) gets one occurrence at the
    /// same scheduled instant, once: its id is `<job>@<upstream's instant>`.
    pub(super) fn fire_dependents(
        &mut self,
        ctx: &mut Ctx,
        upstream: &crate::model::OccKey,
        succeeded: bool,
        node: crate::model::NodeId,
    ) {
        use crate::schedule::ScheduleSpec;
        let Some(ids) = self.dependents.get(&upstream.job_id).cloned() else {
            return;
        };
        for id in ids {
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            let ScheduleSpec::After { on_finished, .. } = job.spec.schedule else {
                continue;
            };
            if job.state != JobState::Active || !(succeeded || on_finished) {
                continue;
            }
            self.run_after(ctx, &id, upstream, node);
        }
    }

    pub(super) fn create_job(
        &mut self,
        ctx: &mut Ctx,
        spec: &JobSpec,
        on_conflict: OnConflict,
    ) -> Response {
        if self.jobs.contains_key(&spec.id) {
            return match on_conflict {
                OnConflict::Fail => Response::Error(CommandError::AlreadyExists(spec.id.clone())),
                OnConflict::Keep => Response::Job(self.jobs[&spec.id].clone()),
                OnConflict::Replace => self.update_job(ctx, spec, 0),
            };
        }
        let schedule = match self.job_schedule(spec, ctx.now) {
            Ok(s) => s,
            Err(e) => return Response::Error(e),
        };
        if let Err(e) = self.check_upstream(spec) {
            return Response::Error(e);
        }
        let next = first_fire(&schedule, &spec.id, ctx.now);
        let job = Job {
            spec: spec.clone(),
            version: 1,
            created_at: ctx.now,
            updated_at: ctx.now,
            next_fire_at: None,
            run_count: 0,
            failures: Default::default(),
            pause_reason: None,
            created_by: ctx.principal.clone(),
            updated_by: ctx.principal.clone(),
            state: if spec.paused {
                JobState::Paused
            } else {
                JobState::Active
            },
        };
        Self::index_labels(&mut self.by_label, &spec.id, None, Some(&spec.labels));
        Self::index_upstream(&mut self.dependents, &spec.id, None, Some(&spec.schedule));
        self.jobs.insert(spec.id.clone(), Box::new(job));
        self.compiled.put(spec.id.clone(), schedule);
        self.set_cursor(&spec.id, next);
        self.finish_if_exhausted(&spec.id);
        self.emit(ctx, EventKind::JobAdded, &spec.id, None);
        Response::Job(self.jobs[&spec.id].clone())
    }

    pub(super) fn update_job(
        &mut self,
        ctx: &mut Ctx,
        spec: &JobSpec,
        expected_version: u64,
    ) -> Response {
        let Some(current) = self.jobs.get(&spec.id) else {
            return Response::Error(CommandError::NotFound(spec.id.clone()));
        };
        if expected_version != 0 && current.version != expected_version {
            return Response::Error(CommandError::VersionConflict {
                id: spec.id.clone(),
                expected: expected_version,
                actual: current.version,
            });
        }
        let unchanged = current.spec == *spec;
        let schedule = match self.job_schedule(spec, ctx.now) {
            Ok(s) => s,
            Err(e) => return Response::Error(e),
        };
        // The same spec again (a job declared in code, registered at every
        // start) changes nothing: no new version, the schedule goes on.
        if unchanged && let Some(current) = self.jobs.get(&spec.id) {
            return Response::Job(current.clone());
        }
        if let Err(e) = self.check_upstream(spec) {
            return Response::Error(e);
        }
        let Some(current) = self.jobs.get(&spec.id) else {
            return Response::Error(CommandError::NotFound(spec.id.clone()));
        };
        let version = current.version + 1;
        // Instants of the old spec that were due and never became
        // occurrences (waiting for a worker, or held by the overlap
        // policy) are recorded, not dropped, before the schedule restarts.
        self.record_superseded(ctx, &spec.id, version);
        let Some(current) = self.jobs.get(&spec.id) else {
            return Response::Error(CommandError::NotFound(spec.id.clone()));
        };
        let old_labels = current.spec.labels.clone();
        let old_schedule = current.spec.schedule.clone();
        Self::index_labels(
            &mut self.by_label,
            &spec.id,
            Some(&old_labels),
            Some(&spec.labels),
        );
        Self::index_upstream(
            &mut self.dependents,
            &spec.id,
            Some(&old_schedule),
            Some(&spec.schedule),
        );
        // Take the job out of the due index while it changes shape.
        self.set_cursor(&spec.id, None);
        let next = first_fire(&schedule, &spec.id, ctx.now);
        if let Some(job) = self.jobs.get_mut(&spec.id) {
            job.spec = spec.clone();
            job.version += 1;
            job.updated_at = ctx.now;
            job.updated_by = ctx.principal.clone();
            job.state = if spec.paused {
                JobState::Paused
            } else {
                JobState::Active
            };
        }
        self.compiled.put(spec.id.clone(), schedule);
        self.set_cursor(&spec.id, next);
        self.finish_if_exhausted(&spec.id);
        self.emit(ctx, EventKind::JobModified, &spec.id, None);
        Response::Job(self.jobs[&spec.id].clone())
    }

    pub(super) fn delete_job(
        &mut self,
        ctx: &mut Ctx,
        id: &str,
        expected_version: u64,
    ) -> Response {
        let Some(current) = self.jobs.get(id) else {
            return Response::Error(CommandError::NotFound(id.to_string()));
        };
        if expected_version != 0 && current.version != expected_version {
            return Response::Error(CommandError::VersionConflict {
                id: id.to_string(),
                expected: expected_version,
                actual: current.version,
            });
        }
        let job_id = id.to_string();
        // Open occurrences are cancelled first, so their assignees see a
        // cancel event carrying the token to kill.
        let open: Vec<_> = self.open_of(&job_id);
        for key in open {
            self.cancel_occurrence(ctx, &key, NotRunCause::Deleted, "job deleted");
        }
        // Instants due but not yet made occurrences (held for a result on
        // its way) are recorded, not lost with the job.
        self.record_due_unrun(
            ctx,
            &job_id,
            NotRunCause::Deleted,
            "not run: the job was deleted before it ran",
        );
        self.set_cursor(&job_id, None);
        if let Some(job) = self.jobs.remove(&job_id) {
            Self::index_labels(&mut self.by_label, &job_id, Some(&job.spec.labels), None);
            Self::index_upstream(
                &mut self.dependents,
                &job_id,
                Some(&job.spec.schedule),
                None,
            );
        }
        self.compiled.pop(&job_id);
        let keys: Vec<_> = self
            .occurrences_of(&job_id)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.remove_occurrence(&key);
        }
        self.emit(ctx, EventKind::JobRemoved, &job_id, None);
        Response::Ok
    }

    pub(super) fn set_paused(
        &mut self,
        ctx: &mut Ctx,
        target: &PauseTarget,
        paused: bool,
    ) -> Response {
        let ids: Vec<String> = match target {
            PauseTarget::Scheduler => {
                if self.scheduler_paused == paused {
                    return Response::Affected(0);
                }
                if paused {
                    // Instants already due and not yet occurrences (held
                    // for a result on its way, or not yet proposed) are
                    // recorded as not run, not dropped by the resume.
                    let due: Vec<String> = self
                        .due
                        .range(..(ctx.now + 1, String::new()))
                        .map(|(_, id)| id.clone())
                        .collect();
                    for id in due {
                        self.record_paused(ctx, &id, "the scheduler was paused");
                    }
                }
                self.scheduler_paused = paused;
                let kind = if paused {
                    EventKind::SchedulerPaused
                } else {
                    EventKind::SchedulerResumed
                };
                self.emit(ctx, kind, "", None);
                if !paused {
                    // Nothing was created while the scheduler was paused;
                    // restart every cursor that fell behind from now.
                    let behind: Vec<String> = self
                        .due
                        .range(..(ctx.now, String::new()))
                        .map(|(_, id)| id.clone())
                        .collect();
                    for id in behind {
                        self.restart_cursor(ctx, &id);
                    }
                }
                return Response::Affected(1);
            }
            PauseTarget::Job(id) => {
                if !self.jobs.contains_key(id) {
                    return Response::Error(CommandError::NotFound(id.clone()));
                }
                vec![id.clone()]
            }
            PauseTarget::Labels(selector) => self.jobs_matching(selector),
        };
        let mut affected = 0;
        for id in ids {
            if paused
                && self
                    .jobs
                    .get(&id)
                    .is_some_and(|j| j.state == JobState::Active)
            {
                self.record_paused(ctx, &id, "the job was paused");
            }
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            let want = if paused {
                JobState::Paused
            } else {
                JobState::Active
            };
            if job.state == want || job.state == JobState::Finished {
                continue;
            }
            let cursor = job.next_fire_at;
            self.set_cursor(&id, None);
            if let Some(job) = self.jobs.get_mut(&id) {
                job.state = want;
                job.spec.paused = paused;
                job.version += 1;
                job.updated_at = ctx.now;
                job.updated_by = ctx.principal.clone();
                if !paused {
                    // A resume starts counting failures afresh.
                    job.failures.clear();
                    job.pause_reason = None;
                }
            }
            self.set_cursor(&id, cursor);
            if !paused {
                self.restart_cursor(ctx, &id);
            }
            affected += 1;
            let e = self.emit(ctx, EventKind::JobModified, &id, None);
            e.detail = if paused {
                "paused".into()
            } else {
                "resumed".into()
            };
        }
        Response::Affected(affected)
    }

    /// Records `id`'s instants that came due before a pause and never
    /// became occurrences as missed ([`NotRunCause::Paused`]), and moves
    /// its cursor past them. A resume creates nothing before its own
    /// instant, so without this an instant held at the pause (for the
    /// result of a run in flight) would be lost without a record.
    fn record_paused(&mut self, ctx: &mut Ctx, id: &str, what: &str) {
        let why = format!("not run: {what} before it ran");
        let (recorded, cursor) = self.record_due_unrun(ctx, id, NotRunCause::Paused, &why);
        if recorded > 0 {
            self.set_cursor(id, cursor);
            self.finish_if_exhausted(id);
        }
    }

    /// Counts an occurrence of `id` that settled: a success clears the run
    /// of failures; a failure (or time-out) extends it, and at the job's
    /// `pause_after_failures` the job pauses itself, with the reason and
    /// the failing occurrences on the job and in an event.
    pub(super) fn count_outcome(&mut self, ctx: &mut Ctx, id: &str, key: &str, failed: bool) {
        let Some(job) = self.jobs.get_mut(id) else {
            return;
        };
        if !failed {
            job.failures.clear();
            return;
        }
        let limit = job.spec.policies.pause_after_failures as usize;
        job.failures.push(key.to_string());
        // Keep only as many as the policy counts (or one, to show the last).
        let keep = limit.max(1);
        if job.failures.len() > keep {
            let extra = job.failures.len() - keep;
            job.failures.drain(..extra);
        }
        if limit == 0 || job.failures.len() < limit || job.state != JobState::Active {
            return;
        }
        let reason = format!(
            "paused after {limit} consecutive failures: {}",
            job.failures.join(", ")
        );
        self.set_paused(ctx, &PauseTarget::Job(id.to_string()), true);
        if let Some(job) = self.jobs.get_mut(id) {
            job.pause_reason = Some(reason.clone());
        }
        let e = self.emit(ctx, EventKind::JobModified, id, None);
        e.detail = reason;
    }

    /// After a resume: instants that passed while paused are not created;
    /// the cursor moves to the first instant at or after now.
    fn restart_cursor(&mut self, ctx: &Ctx, id: &str) {
        let Some(cursor) = self.jobs.get(id).and_then(|j| j.next_fire_at) else {
            return;
        };
        if cursor >= ctx.now {
            return;
        }
        let Some(schedule) = self.schedule_of(id) else {
            return;
        };
        let next = first_fire(&schedule, id, ctx.now);
        self.set_cursor(id, next);
        self.finish_if_exhausted(id);
    }

    /// Marks a job finished when it has no next instant or reached max_runs.
    pub(super) fn finish_if_exhausted(&mut self, id: &str) {
        let Some(job) = self.jobs.get(id) else { return };
        // A dependent job has no instants of its own: never exhausted by time.
        if matches!(
            job.spec.schedule,
            crate::schedule::ScheduleSpec::After { .. }
        ) && (job.spec.policies.max_runs == 0 || job.run_count < job.spec.policies.max_runs)
        {
            return;
        }
        let max_runs = job.spec.policies.max_runs;
        let exhausted = job.next_fire_at.is_none() || (max_runs != 0 && job.run_count >= max_runs);
        if exhausted && job.state != JobState::Finished {
            self.set_cursor(id, None);
            if let Some(job) = self.jobs.get_mut(id) {
                job.state = JobState::Finished;
            }
        }
    }

    /// Cancels an open occurrence: its current attempt becomes stale.
    pub(super) fn cancel_occurrence(
        &mut self,
        ctx: &mut Ctx,
        key: &crate::model::OccKey,
        cause: NotRunCause,
        reason: &str,
    ) {
        let Some(occ) = self.occurrences.get_mut(key) else {
            return;
        };
        if !occ.state.is_open() {
            return;
        }
        occ.reason = Some(reason.to_string());
        occ.cause = Some(cause);
        occ.buffered = false;
        let (token, node) = match occ.current_mut() {
            Some(a) if matches!(a.state, AttemptState::Armed | AttemptState::Running) => {
                a.state = AttemptState::Superseded;
                (Some(a.token), Some(a.node_id))
            }
            _ => (None, None),
        };
        self.set_occ_state(key, RunState::Cancelled);
        let e = self.emit(ctx, EventKind::OccurrenceCancelled, &key.job_id, Some(key));
        e.token = token;
        e.node_id = node;
        e.detail = reason.to_string();
        e.cause = Some(cause);
        self.enforce_retention(&key.job_id);
    }
}
