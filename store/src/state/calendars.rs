//! Exclusion calendars: put (create or replace), delete, and attaching
//! them to a job's compiled schedule. A change to a calendar moves the
//! cursors of the jobs that name it at once, so `next_fire_at` never
//! points at an excluded day.

use std::sync::Arc;

use crate::command::{CommandError, Response};
use crate::model::{
    Calendar, CalendarSpec, JobSpec, MAX_CALENDARS, UnixMs, ValidationError, validate_calendar,
    validate_spec,
};
use crate::schedule::Schedule;
use crate::schedule::exclude::Exclusion;

use super::jobs::first_fire;
use super::{Ctx, EventKind, State};

/// At most this many job ids are named in a refusal to delete.
const NAMED_USERS: usize = 10;

impl State {
    /// A calendar by name.
    pub fn calendar(&self, name: &str) -> Option<&Calendar> {
        self.calendars.get(name)
    }

    /// Every calendar, by name.
    pub fn calendars(&self) -> impl Iterator<Item = &Calendar> {
        self.calendars.values()
    }

    /// The ids of the jobs that name calendar `name`, in id order.
    pub fn calendar_users(&self, name: &str) -> Vec<String> {
        self.jobs
            .values()
            .filter(|j| j.spec.exclude_calendars.iter().any(|c| c == name))
            .map(|j| j.spec.id.clone())
            .collect()
    }

    /// The compiled calendar `name`, compiled on first use.
    fn exclusion(&mut self, name: &str) -> Option<Arc<Exclusion>> {
        if let Some(x) = self.exclusions.get(name) {
            return Some(x.clone());
        }
        let cal = self.calendars.get(name)?;
        let x = Arc::new(validate_calendar(&cal.spec).ok()?);
        self.exclusions.insert(name.to_string(), x.clone());
        Some(x)
    }

    /// `spec`'s schedule with its calendars attached: what the job fires
    /// on. Refuses a calendar that does not exist, and calendars that
    /// leave no fire time at all.
    pub(super) fn job_schedule(
        &mut self,
        spec: &JobSpec,
        now: UnixMs,
    ) -> Result<Schedule, CommandError> {
        let schedule = validate_spec(spec)?;
        if spec.exclude_calendars.is_empty() {
            return Ok(schedule);
        }
        let mut xs = Vec::new();
        for (i, name) in spec.exclude_calendars.iter().enumerate() {
            let x = self.exclusion(name).ok_or_else(|| {
                CommandError::Invalid(ValidationError {
                    field: format!("job.exclude_calendars[{i}]"),
                    message: format!("no calendar named {name:?} (clusterctl calendar list)"),
                })
            })?;
            xs.push(x);
        }
        let had_fires = first_fire(&schedule, &spec.id, now).is_some();
        let schedule = schedule.with_exclusions(xs);
        if had_fires && !schedule.is_after() && first_fire(&schedule, &spec.id, now).is_none() {
            return Err(CommandError::Invalid(ValidationError {
                field: "job.exclude_calendars".into(),
                message: "the calendars exclude every day the schedule fires on".into(),
            }));
        }
        Ok(schedule)
    }

    /// Creates or replaces a calendar. `expected_version` 0 skips the
    /// version check; `create_only` refuses an existing name.
    pub(super) fn put_calendar(
        &mut self,
        ctx: &mut Ctx,
        spec: &CalendarSpec,
        expected_version: u64,
        create_only: bool,
    ) -> Response {
        if let Err(e) = validate_calendar(spec) {
            return Response::Error(e.into());
        }
        let now = ctx.now;
        let calendar = match self.calendars.get(&spec.name) {
            Some(_) if create_only => {
                return Response::Error(CommandError::CalendarExists(spec.name.clone()));
            }
            Some(c) if expected_version != 0 && c.version != expected_version => {
                return Response::Error(CommandError::CalendarVersionConflict {
                    name: spec.name.clone(),
                    expected: expected_version,
                    actual: c.version,
                });
            }
            Some(c) if c.spec == *spec => return Response::Calendar(Box::new(c.clone())),
            Some(c) => Calendar {
                spec: spec.clone(),
                version: c.version + 1,
                created_at: c.created_at,
                updated_at: now,
                updated_by: ctx.principal.clone(),
            },
            None if expected_version > 1 => {
                return Response::Error(CommandError::CalendarNotFound(spec.name.clone()));
            }
            None if self.calendars.len() >= MAX_CALENDARS => {
                return Response::Error(CommandError::TooManyCalendars(MAX_CALENDARS));
            }
            None => Calendar {
                spec: spec.clone(),
                version: 1,
                created_at: now,
                updated_at: now,
                updated_by: ctx.principal.clone(),
            },
        };
        self.calendars.insert(spec.name.clone(), calendar.clone());
        self.exclusions.remove(&spec.name);
        // The jobs that name it fire on the new days from now on: their
        // cursors move to their first fire time on or after the earlier of
        // their cursor and now (a cursor behind now is a backlog, which
        // stays one).
        for id in self.calendar_users(&spec.name) {
            self.compiled.pop(&id);
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            let spec = job.spec.clone();
            let from = job.next_fire_at.map_or(now, |c| c.min(now));
            let next = match self.job_schedule(&spec, now) {
                Ok(s) => {
                    let next = first_fire(&s, &id, from);
                    self.compiled.put(id.clone(), s);
                    next
                }
                Err(_) => None,
            };
            if self.jobs.get(&id).is_some_and(|j| j.is_schedulable()) {
                self.set_cursor(&id, next);
                self.finish_if_exhausted(&id);
            }
            let e = self.emit(ctx, EventKind::JobModified, &id, None);
            e.detail = format!(
                "calendar {} changed (version {})",
                spec_name(&calendar),
                calendar.version
            );
        }
        Response::Calendar(Box::new(calendar))
    }

    /// Deletes a calendar that no job names.
    pub(super) fn delete_calendar(&mut self, name: &str) -> Response {
        if !self.calendars.contains_key(name) {
            return Response::Error(CommandError::CalendarNotFound(name.to_string()));
        }
        let users = self.calendar_users(name);
        if !users.is_empty() {
            let n = users.len();
            let mut named: Vec<String> = users.into_iter().take(NAMED_USERS).collect();
            if n > NAMED_USERS {
                named.push(format!("and {} more", n - NAMED_USERS));
            }
            return Response::Error(CommandError::CalendarInUse {
                name: name.to_string(),
                jobs: named.join(", "),
            });
        }
        self.calendars.remove(name);
        self.exclusions.remove(name);
        Response::Affected(1)
    }
}

fn spec_name(c: &Calendar) -> &str {
    &c.spec.name
}
