//! Conversions between the public protobuf messages and the store's model.
//!
//! Incoming messages are checked here for what the wire format allows but
//! the model does not (a missing oneof, a negative duration, an unknown enum
//! value); everything else is checked by `store::model::validate_spec`. Each
//! error names the field path, so clients get a precise INVALID_ARGUMENT.

use proto::prost_types::{Duration, Timestamp};
use proto::v1 as pb;
use store::command::OnConflict;
use store::model::{
    Coalesce, ExecutorSpec, HttpSpec, Job, JobSpec, JobState, NotRunCause, Occurrence, Overlap,
    Policies, RetryPolicy, RunState, ShellSpec, UnixMs, ValidationError, WorkerSpec,
};
use store::schedule::{CalendarFields, IntervalSpec, ScheduleSpec};

fn invalid(field: &str, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A protobuf timestamp as milliseconds since the epoch.
pub fn ts_to_ms(field: &str, t: &Timestamp) -> Result<UnixMs, ValidationError> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(invalid(
            field,
            format!("nanos {} is out of range 0-999999999", t.nanos),
        ));
    }
    proto::time::millis(t).ok_or_else(|| invalid(field, "is out of range"))
}

pub use proto::time::{duration as ms_to_dur, timestamp as ms_to_ts};

/// A protobuf duration as milliseconds; negative durations are refused.
pub fn dur_to_ms(field: &str, d: &Duration) -> Result<u64, ValidationError> {
    if d.seconds < 0 || d.nanos < 0 {
        return Err(invalid(field, "must not be negative"));
    }
    proto::time::duration_millis(d).ok_or_else(|| invalid(field, "is out of range"))
}

fn opt_dur(field: &str, d: &Option<Duration>) -> Result<Option<u64>, ValidationError> {
    d.as_ref().map(|d| dur_to_ms(field, d)).transpose()
}

fn opt_str(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// A client's job spec as the model's. `id` must already be filled in.
pub fn job_spec_from_pb(spec: &pb::JobSpec) -> Result<JobSpec, ValidationError> {
    let schedule = match spec.schedule.as_ref().and_then(|s| s.kind.as_ref()) {
        None => {
            return Err(invalid(
                "job.schedule",
                "is required: give cron, calendar, interval, once or human",
            ));
        }
        Some(pb::schedule::Kind::Cron(s)) => ScheduleSpec::Cron(s.clone()),
        Some(pb::schedule::Kind::Human(s)) => ScheduleSpec::Human(s.clone()),
        Some(pb::schedule::Kind::After(a)) => ScheduleSpec::After {
            job_id: a.job_id.clone(),
            on_finished: a.on_finished,
        },
        Some(pb::schedule::Kind::Once(t)) => ScheduleSpec::Once(store::model::time::to_datetime(
            ts_to_ms("job.schedule.once", t)?,
        )),
        Some(pb::schedule::Kind::Interval(iv)) => {
            let every = iv
                .every
                .as_ref()
                .ok_or_else(|| invalid("job.schedule.interval.every", "is required"))
                .and_then(|d| dur_to_ms("job.schedule.interval.every", d))?;
            ScheduleSpec::Interval(IntervalSpec {
                every_ms: every,
                every_max_ms: opt_dur("job.schedule.interval.every_max", &iv.every_max)?,
                anchor: iv
                    .anchor
                    .as_ref()
                    .map(|t| {
                        ts_to_ms("job.schedule.interval.anchor", t)
                            .map(store::model::time::to_datetime)
                    })
                    .transpose()?,
            })
        }
        Some(pb::schedule::Kind::Calendar(c)) => ScheduleSpec::Calendar(Box::new(CalendarFields {
            year: opt_str(&c.year),
            month: opt_str(&c.month),
            day: opt_str(&c.day),
            week: opt_str(&c.week),
            day_of_week: opt_str(&c.day_of_week),
            hour: opt_str(&c.hour),
            minute: opt_str(&c.minute),
            second: opt_str(&c.second),
        })),
    };
    let executor = match spec.executor.as_ref().and_then(|e| e.kind.as_ref()) {
        None => {
            return Err(invalid(
                "job.executor",
                "is required: give shell, http or worker",
            ));
        }
        Some(pb::executor::Kind::Worker(w)) => ExecutorSpec::Worker(WorkerSpec {
            queue: w.queue.clone(),
            function: w.function.clone(),
            args: opt_str(&w.args),
        }),
        Some(pb::executor::Kind::Shell(s)) => ExecutorSpec::Shell(ShellSpec {
            argv: s.argv.as_slice().into(),
            command: opt_str(&s.command),
            env: s.env.clone(),
            working_dir: opt_str(&s.working_dir),
        }),
        Some(pb::executor::Kind::Http(h)) => ExecutorSpec::Http(HttpSpec {
            method: if h.method.is_empty() {
                "POST".into()
            } else {
                h.method.to_ascii_uppercase()
            },
            url: h.url.clone(),
            headers: h
                .headers
                .iter()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
            body: h.body.as_slice().into(),
            success_codes: h
                .success_codes
                .iter()
                .map(|c| {
                    u16::try_from(*c).map_err(|_| {
                        invalid(
                            "job.executor.http.success_codes",
                            format!("{c} is not an HTTP status (100-599)"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        }),
    };
    Ok(JobSpec {
        id: spec.id.clone(),
        name: if spec.name.is_empty() {
            spec.id.clone()
        } else {
            spec.name.clone()
        },
        labels: spec
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        schedule,
        time_zone: if spec.time_zone.is_empty() {
            "UTC".into()
        } else {
            spec.time_zone.clone()
        },
        start_at: spec
            .start_at
            .as_ref()
            .map(|t| ts_to_ms("job.start_at", t))
            .transpose()?,
        end_at: spec
            .end_at
            .as_ref()
            .map(|t| ts_to_ms("job.end_at", t))
            .transpose()?,
        paused: spec.paused,
        executor,
        policies: policies_from_pb(spec.policies.as_ref())?.into(),
        node_selector: spec.node_selector.clone(),
        exclude_calendars: spec.exclude_calendars.as_slice().into(),
    })
}

fn policies_from_pb(p: Option<&pb::Policies>) -> Result<Policies, ValidationError> {
    let Some(p) = p else {
        return Ok(Policies::default());
    };
    let coalesce = match pb::Coalesce::try_from(p.coalesce) {
        Ok(pb::Coalesce::Unspecified | pb::Coalesce::Latest) => Coalesce::Latest,
        Ok(pb::Coalesce::Earliest) => Coalesce::Earliest,
        Ok(pb::Coalesce::All) => Coalesce::All,
        Err(_) => {
            return Err(invalid(
                "job.policies.coalesce",
                format!("{} is not earliest, latest or all", p.coalesce),
            ));
        }
    };
    let overlap = match pb::Overlap::try_from(p.overlap) {
        Ok(pb::Overlap::Unspecified | pb::Overlap::Allow) => Overlap::Allow,
        Ok(pb::Overlap::Skip) => Overlap::Skip,
        Ok(pb::Overlap::BufferOne) => Overlap::BufferOne,
        Ok(pb::Overlap::Replace) => Overlap::Replace,
        Err(_) => {
            return Err(invalid(
                "job.policies.overlap",
                format!("{} is not allow, skip, buffer_one or replace", p.overlap),
            ));
        }
    };
    let mut retry = RetryPolicy::default();
    if let Some(r) = &p.retries {
        retry.max_retries = r.max_retries;
        if let Some(d) = opt_dur("job.policies.retries.initial_backoff", &r.initial_backoff)? {
            retry.initial_backoff_ms = d;
        }
        if let Some(d) = opt_dur("job.policies.retries.max_backoff", &r.max_backoff)? {
            retry.max_backoff_ms = d;
        }
        if r.multiplier != 0.0 {
            if !r.multiplier.is_finite() || !(1.0..=100.0).contains(&r.multiplier) {
                return Err(invalid(
                    "job.policies.retries.multiplier",
                    format!("{} is not between 1.0 and 100.0", r.multiplier),
                ));
            }
            retry.multiplier_milli = (r.multiplier * 1000.0).round() as u32;
        }
    }
    Ok(Policies {
        misfire_grace_ms: opt_dur("job.policies.misfire_grace", &p.misfire_grace)?,
        coalesce,
        overlap,
        max_instances: p.max_instances,
        retry,
        timeout_ms: opt_dur("job.policies.timeout", &p.timeout)?,
        jitter_ms: opt_dur("job.policies.jitter", &p.jitter)?.unwrap_or(0),
        max_runs: p.max_runs,
        pause_after_failures: p.pause_after_failures,
    })
}

/// The model's job spec as protobuf.
pub fn job_spec_to_pb(spec: &JobSpec) -> pb::JobSpec {
    use store::model::time::from_datetime;
    let kind = match &spec.schedule {
        ScheduleSpec::Cron(s) => pb::schedule::Kind::Cron(s.clone()),
        ScheduleSpec::Human(s) => pb::schedule::Kind::Human(s.clone()),
        ScheduleSpec::After {
            job_id,
            on_finished,
        } => pb::schedule::Kind::After(pb::AfterJob {
            job_id: job_id.clone(),
            on_finished: *on_finished,
        }),
        ScheduleSpec::Once(t) => pb::schedule::Kind::Once(ms_to_ts(from_datetime(*t))),
        ScheduleSpec::Interval(iv) => pb::schedule::Kind::Interval(pb::IntervalSchedule {
            every: Some(ms_to_dur(iv.every_ms)),
            every_max: iv.every_max_ms.map(ms_to_dur),
            anchor: iv.anchor.map(|t| ms_to_ts(from_datetime(t))),
        }),
        ScheduleSpec::Calendar(c) => pb::schedule::Kind::Calendar(pb::CalendarFields {
            year: c.year.clone().unwrap_or_default(),
            month: c.month.clone().unwrap_or_default(),
            day: c.day.clone().unwrap_or_default(),
            week: c.week.clone().unwrap_or_default(),
            day_of_week: c.day_of_week.clone().unwrap_or_default(),
            hour: c.hour.clone().unwrap_or_default(),
            minute: c.minute.clone().unwrap_or_default(),
            second: c.second.clone().unwrap_or_default(),
        }),
    };
    let executor = match &spec.executor {
        ExecutorSpec::Shell(s) => pb::executor::Kind::Shell(pb::ShellExecutor {
            argv: s.argv.to_vec(),
            command: s.command.clone().unwrap_or_default(),
            env: s.env.clone(),
            working_dir: s.working_dir.clone().unwrap_or_default(),
        }),
        ExecutorSpec::Http(h) => pb::executor::Kind::Http(pb::HttpExecutor {
            method: h.method.clone(),
            url: h.url.clone(),
            headers: h
                .headers
                .iter()
                .map(|(n, v)| pb::Header {
                    name: n.clone(),
                    value: v.clone(),
                })
                .collect(),
            body: h.body.to_vec(),
            success_codes: h.success_codes.iter().map(|c| u32::from(*c)).collect(),
        }),
        ExecutorSpec::Worker(w) => pb::executor::Kind::Worker(pb::WorkerExecutor {
            queue: w.queue.clone(),
            function: w.function.clone(),
            args: w.args.clone().unwrap_or_default(),
        }),
    };
    let p = &spec.policies;
    pb::JobSpec {
        id: spec.id.clone(),
        name: spec.name.clone(),
        labels: spec
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        schedule: Some(pb::Schedule { kind: Some(kind) }),
        time_zone: spec.time_zone.clone(),
        start_at: spec.start_at.map(ms_to_ts),
        end_at: spec.end_at.map(ms_to_ts),
        paused: spec.paused,
        executor: Some(pb::Executor {
            kind: Some(executor),
        }),
        policies: Some(pb::Policies {
            misfire_grace: p.misfire_grace_ms.map(ms_to_dur),
            coalesce: match p.coalesce {
                Coalesce::Earliest => pb::Coalesce::Earliest,
                Coalesce::Latest => pb::Coalesce::Latest,
                Coalesce::All => pb::Coalesce::All,
            } as i32,
            overlap: match p.overlap {
                Overlap::Allow => pb::Overlap::Allow,
                Overlap::Skip => pb::Overlap::Skip,
                Overlap::BufferOne => pb::Overlap::BufferOne,
                Overlap::Replace => pb::Overlap::Replace,
            } as i32,
            max_instances: p.instances(),
            retries: Some(pb::RetryPolicy {
                max_retries: p.retry.max_retries,
                initial_backoff: Some(ms_to_dur(p.retry.initial_backoff_ms)),
                max_backoff: Some(ms_to_dur(p.retry.max_backoff_ms)),
                multiplier: f64::from(p.retry.multiplier_milli) / 1000.0,
            }),
            timeout: p.timeout_ms.map(ms_to_dur),
            jitter: (p.jitter_ms > 0).then(|| ms_to_dur(p.jitter_ms)),
            max_runs: p.max_runs,
            pause_after_failures: p.pause_after_failures,
        }),
        node_selector: spec.node_selector.clone(),
        exclude_calendars: spec.exclude_calendars.to_vec(),
    }
}

/// A job as protobuf.
pub fn job_to_pb(job: &Job) -> pb::Job {
    pb::Job {
        spec: Some(job_spec_to_pb(&job.spec)),
        version: job.version,
        created_at: Some(ms_to_ts(job.created_at)),
        updated_at: Some(ms_to_ts(job.updated_at)),
        next_fire_at: job.next_fire_at.map(ms_to_ts),
        run_count: job.run_count,
        state: match job.state {
            JobState::Active => pb::JobState::Active,
            JobState::Paused => pb::JobState::Paused,
            JobState::Finished => pb::JobState::Finished,
        } as i32,
        pause_reason: job.pause_reason.clone().unwrap_or_default(),
        failing_occurrences: job.failures.to_vec(),
        created_by: job.created_by.clone(),
        updated_by: job.updated_by.clone(),
    }
}

/// The protobuf run state of a model run state.
pub fn run_state_to_pb(s: RunState) -> pb::RunState {
    match s {
        RunState::Armed => pb::RunState::Armed,
        RunState::Running => pb::RunState::Running,
        RunState::Succeeded => pb::RunState::Succeeded,
        RunState::Failed => pb::RunState::Failed,
        RunState::TimedOut => pb::RunState::TimedOut,
        RunState::Cancelled => pb::RunState::Cancelled,
        RunState::Missed => pb::RunState::Missed,
        RunState::Skipped => pb::RunState::Skipped,
    }
}

/// The model run state of a protobuf one; `None` for unspecified.
pub fn run_state_from_pb(v: i32) -> Result<Option<RunState>, ValidationError> {
    Ok(match pb::RunState::try_from(v) {
        Ok(pb::RunState::Unspecified) => None,
        Ok(pb::RunState::Armed) => Some(RunState::Armed),
        Ok(pb::RunState::Running) => Some(RunState::Running),
        Ok(pb::RunState::Succeeded) => Some(RunState::Succeeded),
        Ok(pb::RunState::Failed) => Some(RunState::Failed),
        Ok(pb::RunState::TimedOut) => Some(RunState::TimedOut),
        Ok(pb::RunState::Cancelled) => Some(RunState::Cancelled),
        Ok(pb::RunState::Missed) => Some(RunState::Missed),
        Ok(pb::RunState::Skipped) => Some(RunState::Skipped),
        Err(_) => return Err(invalid("state", format!("{v} is not a run state"))),
    })
}

/// The protobuf cause of a typed not-run cause.
pub fn cause_to_pb(c: Option<NotRunCause>) -> pb::NotRunCause {
    use NotRunCause as C;
    match c {
        None => pb::NotRunCause::Unspecified,
        Some(C::MisfireGrace) => pb::NotRunCause::MisfireGrace,
        Some(C::Coalesced) => pb::NotRunCause::Coalesced,
        Some(C::NoWorker) => pb::NotRunCause::NoWorker,
        Some(C::Updated) => pb::NotRunCause::Updated,
        Some(C::BacklogCut) => pb::NotRunCause::BacklogCut,
        Some(C::MaxInstances) => pb::NotRunCause::MaxInstances,
        Some(C::OverlapSkip) => pb::NotRunCause::OverlapSkip,
        Some(C::BufferFull) => pb::NotRunCause::BufferFull,
        Some(C::BacklogFull) => pb::NotRunCause::BacklogFull,
        Some(C::JobRemoved) => pb::NotRunCause::JobRemoved,
        Some(C::Replaced) => pb::NotRunCause::Replaced,
        Some(C::Deleted) => pb::NotRunCause::Deleted,
        Some(C::Paused) => pb::NotRunCause::Paused,
    }
}

/// An occurrence with its latest attempt, as protobuf.
pub fn run_to_pb(o: &Occurrence) -> pb::Run {
    let a = o.current();
    pb::Run {
        job_id: o.key.job_id.clone(),
        occurrence_id: o.key.id(),
        scheduled_at: Some(ms_to_ts(o.key.scheduled_at)),
        attempt: a.map_or(0, |a| a.number),
        fencing_token: a.map_or(0, |a| a.token),
        node_id: a.map_or(0, |a| a.node_id),
        state: run_state_to_pb(o.state) as i32,
        started_at: a.and_then(|a| a.started_at).map(ms_to_ts),
        finished_at: a.and_then(|a| a.finished_at).map(ms_to_ts),
        exit_code: a.and_then(|a| a.exit_code),
        reason: o.reason.clone().unwrap_or_default(),
        cause: cause_to_pb(o.cause) as i32,
        output_tail: a.map(|a| a.output_tail.clone()).unwrap_or_default(),
        due_at: a.map(|a| ms_to_ts(a.due_at)),
        attempts: o
            .attempts
            .iter()
            .map(|a| pb::Attempt {
                number: a.number,
                fencing_token: a.token,
                node_id: a.node_id,
                state: a.state.as_str().to_string(),
                due_at: Some(ms_to_ts(a.due_at)),
                started_at: a.started_at.map(ms_to_ts),
                finished_at: a.finished_at.map(ms_to_ts),
                exit_code: a.exit_code,
            })
            .collect(),
    }
}

/// The store's conflict policy of a protobuf one.
pub fn on_conflict_from_pb(v: i32) -> Result<OnConflict, ValidationError> {
    match pb::OnConflict::try_from(v) {
        Ok(pb::OnConflict::Fail) => Ok(OnConflict::Fail),
        Ok(pb::OnConflict::Replace) => Ok(OnConflict::Replace),
        Ok(pb::OnConflict::Keep) => Ok(OnConflict::Keep),
        Err(_) => Err(invalid(
            "on_conflict",
            format!("{v} is not fail, replace or keep"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_before_the_epoch() {
        for ms in [0, 1, 999, 1_000, -1, -1_001, 1_767_225_600_123] {
            assert_eq!(ts_to_ms("t", &ms_to_ts(ms)).expect("valid"), ms);
        }
    }

    #[test]
    fn missing_schedule_names_the_field() {
        let spec = pb::JobSpec {
            id: "a".into(),
            ..Default::default()
        };
        let e = job_spec_from_pb(&spec).expect_err("no schedule");
        assert_eq!(e.field, "job.schedule");
    }

    #[test]
    fn negative_duration_is_refused() {
        let e = dur_to_ms(
            "job.policies.timeout",
            &Duration {
                seconds: -1,
                nanos: 0,
            },
        )
        .expect_err("negative");
        assert_eq!(e.to_string(), "job.policies.timeout: must not be negative");
    }
}
