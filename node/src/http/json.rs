//! The JSON forms of the API's messages, with their OpenAPI schemas.
//!
//! They mirror the protobuf messages field for field (the names are the
//! proto's), with three readable forms where proto JSON would be clumsy:
//! times are RFC 3339 strings, durations are Go-style strings (`"30s"`,
//! `"1h30m"`, `"250ms"`), and enums are lower-case words. Incoming JSON is
//! turned into the protobuf message and then into the model by the same
//! conversion as gRPC (`api::convert`), so both transports accept the same
//! jobs and refuse bad ones with the same field paths.

use std::collections::BTreeMap;

use proto::v1 as pb;
use serde::{Deserialize, Serialize};
use store::model::time::rfc3339_ms;
use utoipa::ToSchema;

use crate::api::convert::{ms_to_dur, ms_to_ts};
use crate::app::ApiError;

// ------------------------------------------------------------ time forms

fn ts_text(t: &Option<prost_types::Timestamp>) -> Option<String> {
    t.as_ref().and_then(proto::time::millis).map(rfc3339_ms)
}

/// Milliseconds since the epoch of an RFC 3339 time at `field`.
pub fn parse_time(field: &str, s: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            ApiError::invalid(
                field,
                format!("{s:?} is not an RFC 3339 time such as 2026-12-01T10:00:00Z ({e})"),
            )
        })
}

fn time_pb(field: &str, s: &Option<String>) -> Result<Option<prost_types::Timestamp>, ApiError> {
    s.as_deref()
        .map(|s| parse_time(field, s).map(ms_to_ts))
        .transpose()
}

/// A duration in milliseconds as Go-style text: `1h30m`, `45s`, `250ms`.
pub fn duration_text(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if s > 0 {
        out += &format!("{s}s");
    }
    out
}

fn dur_text(d: &Option<prost_types::Duration>) -> Option<String> {
    d.as_ref()
        .and_then(proto::time::duration_millis)
        .map(duration_text)
}

fn dur_pb(field: &str, s: &Option<String>) -> Result<Option<prost_types::Duration>, ApiError> {
    s.as_deref()
        .map(|s| {
            store::schedule::parse_go_duration(s.trim())
                .map(ms_to_dur)
                .map_err(|e| {
                    ApiError::invalid(
                        field,
                        format!("{s:?}: {e} (write it like 30s, 1h30m or 250ms)"),
                    )
                })
        })
        .transpose()
}

// ------------------------------------------------------------ job spec

/// What a client writes to define a job (the protobuf `JobSpec`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpecJson {
    /// 1-128 characters of `[A-Za-z0-9._:-]`; empty or absent on create: generated.
    #[serde(default)]
    pub id: String,
    /// Free text up to 256 bytes; defaults to the id.
    #[serde(default)]
    pub name: String,
    /// Labels for listing and bulk pause; keys and values up to 63 characters.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When the job fires: exactly one form.
    pub schedule: Option<ScheduleJson>,
    /// IANA zone that wall-clock schedules are read in; empty: UTC.
    #[serde(default)]
    pub time_zone: String,
    /// No occurrence before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// No occurrence after this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<String>,
    /// Created paused.
    #[serde(default)]
    pub paused: bool,
    /// What a run executes: exactly one kind.
    pub executor: Option<ExecutorJson>,
    /// Misfire, coalesce, overlap, retries, timeout, jitter, run count.
    #[serde(default)]
    pub policies: PoliciesJson,
    /// Only nodes whose labels contain all of these run the job.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// Exclusion calendars: no occurrence on the days they exclude.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_calendars: Vec<String>,
}

/// One schedule form.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleJson {
    /// A cron string: 5, 6 (seconds first) or 7 fields, or an @macro.
    Cron(String),
    /// APScheduler CronTrigger fields.
    Calendar(CalendarJson),
    /// A period of real elapsed time.
    Interval(IntervalJson),
    /// A single instant (RFC 3339).
    Once(String),
    /// A phrase: `every day at 10:30`, `@every 10s`.
    Human(String),
    /// One occurrence per occurrence of another job that succeeds (or ends).
    After(AfterJson),
}

/// APScheduler CronTrigger fields; an empty field is unset.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarJson {
    pub year: String,
    pub month: String,
    pub day: String,
    pub week: String,
    pub day_of_week: String,
    pub hour: String,
    pub minute: String,
    pub second: String,
}

/// A period in real elapsed time.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntervalJson {
    /// The period, at least 1s: `10s`, `5m`, `1h30m`.
    pub every: String,
    /// When set, each gap is drawn from `[every, every_max]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_max: Option<String>,
    /// The first fire instant (RFC 3339); later ones follow at multiples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
}

/// A dependent job's upstream.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AfterJson {
    /// The upstream job.
    pub job_id: String,
    /// Run after every ending of an upstream occurrence, not only success.
    #[serde(default)]
    pub on_finished: bool,
}

/// One executor kind.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorJson {
    /// A process on the assignee (needs `--enable-shell-executor` and the shell role).
    Shell(ShellJson),
    /// An HTTP request from the assignee.
    Http(HttpJson),
    /// A function in a worker process connected to the assignee.
    Worker(WorkerJson),
}

/// A process: exactly one of `argv` and `command`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ShellJson {
    /// Program and arguments, run without a shell.
    pub argv: Vec<String>,
    /// A command line run as `sh -c COMMAND`.
    pub command: String,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory; empty: the node's data dir.
    pub working_dir: String,
}

/// An HTTP request.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpJson {
    /// Method; empty: POST.
    pub method: String,
    /// Absolute http:// or https:// URL.
    pub url: String,
    /// Extra headers, in order.
    pub headers: Vec<HeaderJson>,
    /// Request body as text, at most 64 KiB.
    pub body: String,
    /// Status codes that count as success; empty: any 2xx.
    pub success_codes: Vec<u32>,
}

/// One HTTP header.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderJson {
    pub name: String,
    pub value: String,
}

/// A named function run by a worker that serves the queue.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerJson {
    /// Queue: 1-128 characters of `[A-Za-z0-9._:-]`.
    pub queue: String,
    /// Function name within the queue.
    pub function: String,
    /// Arguments: any JSON value, at most 64 KiB as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub args: Option<serde_json::Value>,
}

/// How a backlog of missed occurrences collapses.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CoalesceJson {
    Earliest,
    Latest,
    All,
}

/// What happens when an occurrence is due while earlier ones run.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OverlapJson {
    Allow,
    Skip,
    BufferOne,
    Replace,
}

/// Retries of a failed or timed-out attempt.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryJson {
    /// Retries after the first attempt, at most 100.
    pub max_retries: u32,
    /// Delay before the first retry; default 1s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_backoff: Option<String>,
    /// Upper bound on the delay; default 5m.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<String>,
    /// Growth of the delay per retry, 1.0-100.0; 0: the default 2.0.
    pub multiplier: f64,
}

/// The per-job policies (APScheduler's names in brackets).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PoliciesJson {
    /// How late an occurrence may still start (misfire_grace_time); absent: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misfire_grace: Option<String>,
    /// Default `latest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coalesce: Option<CoalesceJson>,
    /// Default `allow` (with max_instances 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap: Option<OverlapJson>,
    /// With overlap `allow`: runs in flight at once; 0 means 1.
    pub max_instances: u32,
    /// Retries with exponential backoff; each attempt gets a new fencing token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<RetryJson>,
    /// Kill an attempt that runs longer; absent: no timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Delay each occurrence by a deterministic offset below this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
    /// Run this many occurrences, then finish; 0: unlimited.
    pub max_runs: u64,
    /// Pause after this many failed occurrences in a row; 0: never.
    pub pause_after_failures: u32,
}

impl JobSpecJson {
    /// The protobuf spec; errors name the field as gRPC does (`job.…`).
    pub fn to_pb(&self) -> Result<pb::JobSpec, ApiError> {
        let schedule = match &self.schedule {
            None => None,
            Some(s) => Some(pb::Schedule {
                kind: Some(match s {
                    ScheduleJson::Cron(c) => pb::schedule::Kind::Cron(c.clone()),
                    ScheduleJson::Human(h) => pb::schedule::Kind::Human(h.clone()),
                    ScheduleJson::Once(t) => {
                        pb::schedule::Kind::Once(ms_to_ts(parse_time("job.schedule.once", t)?))
                    }
                    ScheduleJson::After(a) => pb::schedule::Kind::After(pb::AfterJob {
                        job_id: a.job_id.clone(),
                        on_finished: a.on_finished,
                    }),
                    ScheduleJson::Calendar(c) => pb::schedule::Kind::Calendar(pb::CalendarFields {
                        year: c.year.clone(),
                        month: c.month.clone(),
                        day: c.day.clone(),
                        week: c.week.clone(),
                        day_of_week: c.day_of_week.clone(),
                        hour: c.hour.clone(),
                        minute: c.minute.clone(),
                        second: c.second.clone(),
                    }),
                    ScheduleJson::Interval(i) => {
                        pb::schedule::Kind::Interval(pb::IntervalSchedule {
                            every: dur_pb("job.schedule.interval.every", &Some(i.every.clone()))?,
                            every_max: dur_pb("job.schedule.interval.every_max", &i.every_max)?,
                            anchor: time_pb("job.schedule.interval.anchor", &i.anchor)?,
                        })
                    }
                }),
            }),
        };
        let executor = self.executor.as_ref().map(|e| pb::Executor {
            kind: Some(match e {
                ExecutorJson::Shell(s) => pb::executor::Kind::Shell(pb::ShellExecutor {
                    argv: s.argv.clone(),
                    command: s.command.clone(),
                    env: s.env.clone().into_iter().collect(),
                    working_dir: s.working_dir.clone(),
                }),
                ExecutorJson::Http(h) => pb::executor::Kind::Http(pb::HttpExecutor {
                    method: h.method.clone(),
                    url: h.url.clone(),
                    headers: h
                        .headers
                        .iter()
                        .map(|h| pb::Header {
                            name: h.name.clone(),
                            value: h.value.clone(),
                        })
                        .collect(),
                    body: h.body.clone().into_bytes(),
                    success_codes: h.success_codes.clone(),
                }),
                ExecutorJson::Worker(w) => pb::executor::Kind::Worker(pb::WorkerExecutor {
                    queue: w.queue.clone(),
                    function: w.function.clone(),
                    args: w
                        .args
                        .as_ref()
                        .filter(|v| !v.is_null())
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                }),
            }),
        });
        let p = &self.policies;
        let policies = pb::Policies {
            misfire_grace: dur_pb("job.policies.misfire_grace", &p.misfire_grace)?,
            coalesce: match p.coalesce {
                None => pb::Coalesce::Unspecified,
                Some(CoalesceJson::Earliest) => pb::Coalesce::Earliest,
                Some(CoalesceJson::Latest) => pb::Coalesce::Latest,
                Some(CoalesceJson::All) => pb::Coalesce::All,
            } as i32,
            overlap: match p.overlap {
                None => pb::Overlap::Unspecified,
                Some(OverlapJson::Allow) => pb::Overlap::Allow,
                Some(OverlapJson::Skip) => pb::Overlap::Skip,
                Some(OverlapJson::BufferOne) => pb::Overlap::BufferOne,
                Some(OverlapJson::Replace) => pb::Overlap::Replace,
            } as i32,
            max_instances: p.max_instances,
            retries: match &p.retries {
                None => None,
                Some(r) => Some(pb::RetryPolicy {
                    max_retries: r.max_retries,
                    initial_backoff: dur_pb(
                        "job.policies.retries.initial_backoff",
                        &r.initial_backoff,
                    )?,
                    max_backoff: dur_pb("job.policies.retries.max_backoff", &r.max_backoff)?,
                    multiplier: r.multiplier,
                }),
            },
            timeout: dur_pb("job.policies.timeout", &p.timeout)?,
            jitter: dur_pb("job.policies.jitter", &p.jitter)?,
            max_runs: p.max_runs,
            pause_after_failures: p.pause_after_failures,
        };
        Ok(pb::JobSpec {
            id: self.id.clone(),
            name: self.name.clone(),
            labels: self.labels.clone().into_iter().collect(),
            schedule,
            time_zone: self.time_zone.clone(),
            start_at: time_pb("job.start_at", &self.start_at)?,
            end_at: time_pb("job.end_at", &self.end_at)?,
            paused: self.paused,
            executor,
            policies: Some(policies),
            node_selector: self.node_selector.clone().into_iter().collect(),
            exclude_calendars: self.exclude_calendars.clone(),
        })
    }

    /// The JSON form of a protobuf spec.
    pub fn from_pb(s: &pb::JobSpec) -> Self {
        let schedule = s
            .schedule
            .as_ref()
            .and_then(|s| s.kind.as_ref())
            .map(|k| match k {
                pb::schedule::Kind::Cron(c) => ScheduleJson::Cron(c.clone()),
                pb::schedule::Kind::Human(h) => ScheduleJson::Human(h.clone()),
                pb::schedule::Kind::Once(t) => {
                    ScheduleJson::Once(ts_text(&Some(*t)).unwrap_or_default())
                }
                pb::schedule::Kind::After(a) => ScheduleJson::After(AfterJson {
                    job_id: a.job_id.clone(),
                    on_finished: a.on_finished,
                }),
                pb::schedule::Kind::Calendar(c) => ScheduleJson::Calendar(CalendarJson {
                    year: c.year.clone(),
                    month: c.month.clone(),
                    day: c.day.clone(),
                    week: c.week.clone(),
                    day_of_week: c.day_of_week.clone(),
                    hour: c.hour.clone(),
                    minute: c.minute.clone(),
                    second: c.second.clone(),
                }),
                pb::schedule::Kind::Interval(i) => ScheduleJson::Interval(IntervalJson {
                    every: dur_text(&i.every).unwrap_or_default(),
                    every_max: dur_text(&i.every_max),
                    anchor: ts_text(&i.anchor),
                }),
            });
        let executor = s
            .executor
            .as_ref()
            .and_then(|e| e.kind.as_ref())
            .map(|k| match k {
                pb::executor::Kind::Shell(x) => ExecutorJson::Shell(ShellJson {
                    argv: x.argv.clone(),
                    command: x.command.clone(),
                    env: x.env.clone().into_iter().collect(),
                    working_dir: x.working_dir.clone(),
                }),
                pb::executor::Kind::Http(h) => ExecutorJson::Http(HttpJson {
                    method: h.method.clone(),
                    url: h.url.clone(),
                    headers: h
                        .headers
                        .iter()
                        .map(|h| HeaderJson {
                            name: h.name.clone(),
                            value: h.value.clone(),
                        })
                        .collect(),
                    body: String::from_utf8_lossy(&h.body).into_owned(),
                    success_codes: h.success_codes.clone(),
                }),
                pb::executor::Kind::Worker(w) => ExecutorJson::Worker(WorkerJson {
                    queue: w.queue.clone(),
                    function: w.function.clone(),
                    args: (!w.args.is_empty())
                        .then(|| serde_json::from_str(&w.args).ok())
                        .flatten(),
                }),
            });
        let policies = s
            .policies
            .as_ref()
            .map(|p| PoliciesJson {
                misfire_grace: dur_text(&p.misfire_grace),
                coalesce: match pb::Coalesce::try_from(p.coalesce) {
                    Ok(pb::Coalesce::Earliest) => Some(CoalesceJson::Earliest),
                    Ok(pb::Coalesce::All) => Some(CoalesceJson::All),
                    Ok(pb::Coalesce::Latest) => Some(CoalesceJson::Latest),
                    _ => None,
                },
                overlap: match pb::Overlap::try_from(p.overlap) {
                    Ok(pb::Overlap::Allow) => Some(OverlapJson::Allow),
                    Ok(pb::Overlap::Skip) => Some(OverlapJson::Skip),
                    Ok(pb::Overlap::BufferOne) => Some(OverlapJson::BufferOne),
                    Ok(pb::Overlap::Replace) => Some(OverlapJson::Replace),
                    _ => None,
                },
                max_instances: p.max_instances,
                retries: p.retries.as_ref().map(|r| RetryJson {
                    max_retries: r.max_retries,
                    initial_backoff: dur_text(&r.initial_backoff),
                    max_backoff: dur_text(&r.max_backoff),
                    multiplier: r.multiplier,
                }),
                timeout: dur_text(&p.timeout),
                jitter: dur_text(&p.jitter),
                max_runs: p.max_runs,
                pause_after_failures: p.pause_after_failures,
            })
            .unwrap_or_default();
        JobSpecJson {
            id: s.id.clone(),
            name: s.name.clone(),
            labels: s.labels.clone().into_iter().collect(),
            schedule,
            time_zone: s.time_zone.clone(),
            start_at: ts_text(&s.start_at),
            end_at: ts_text(&s.end_at),
            paused: s.paused,
            executor,
            policies,
            node_selector: s.node_selector.clone().into_iter().collect(),
            exclude_calendars: s.exclude_calendars.clone(),
        }
    }
}

// ------------------------------------------------------------ job, runs

/// A job's lifecycle state.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JobStateJson {
    Active,
    Paused,
    Finished,
}

/// A registered job as the cluster holds it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JobJson {
    /// The spec, with defaults filled in.
    pub spec: JobSpecJson,
    /// The schedule in words.
    pub schedule_text: String,
    /// Incremented by every change; pass as `expected_version` to update.
    pub version: u64,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// The next scheduled instant, before jitter; null when none.
    pub next_fire_at: Option<String>,
    /// Occurrences created so far.
    pub run_count: u64,
    pub state: JobStateJson,
    /// Why the job paused itself; empty otherwise.
    pub pause_reason: String,
    /// The occurrences that failed in a row so far.
    pub failing_occurrences: Vec<String>,
    /// Who created it (a token's name, or "anonymous").
    pub created_by: String,
    /// Who last changed it.
    pub updated_by: String,
}

impl JobJson {
    /// The JSON form of a protobuf job.
    pub fn from_pb(j: &pb::Job) -> Self {
        let spec = j.spec.clone().unwrap_or_default();
        JobJson {
            schedule_text: super::words::schedule_text(&spec),
            spec: JobSpecJson::from_pb(&spec),
            version: j.version,
            created_at: ts_text(&j.created_at),
            updated_at: ts_text(&j.updated_at),
            next_fire_at: ts_text(&j.next_fire_at),
            run_count: j.run_count,
            state: match pb::JobState::try_from(j.state) {
                Ok(pb::JobState::Paused) => JobStateJson::Paused,
                Ok(pb::JobState::Finished) => JobStateJson::Finished,
                _ => JobStateJson::Active,
            },
            pause_reason: j.pause_reason.clone(),
            failing_occurrences: j.failing_occurrences.clone(),
            created_by: j.created_by.clone(),
            updated_by: j.updated_by.clone(),
        }
    }
}

/// One page of jobs.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JobsPageJson {
    /// In id order.
    pub jobs: Vec<JobJson>,
    /// Pass as `page_token` for the next page; null on the last.
    pub next_page_token: Option<String>,
}

/// One attempt of an occurrence.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptJson {
    pub number: u32,
    pub fencing_token: u64,
    pub node_id: u64,
    /// armed, running, succeeded, failed, timed_out or superseded.
    pub state: String,
    pub due_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Exit code or HTTP status; null when there is none.
    pub exit_code: Option<i32>,
}

/// An occurrence with its latest attempt.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RunJson {
    pub job_id: String,
    /// `<job_id>@<scheduled_at>`.
    pub occurrence_id: String,
    pub scheduled_at: Option<String>,
    /// When it is due, jitter included.
    pub due_at: Option<String>,
    /// armed, running, succeeded, failed, timed_out, cancelled, missed or skipped.
    pub state: String,
    /// The latest attempt's number; 0 when none started.
    pub attempt: u32,
    pub fencing_token: u64,
    pub node_id: u64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Exit code or HTTP status; null when there is none.
    pub exit_code: Option<i32>,
    /// Why it was missed, skipped, cancelled or failed.
    pub reason: String,
    /// Why it did not run, as a word (misfire_grace, max_instances, ...); null otherwise.
    pub cause: Option<String>,
    /// At most 4 KiB of output.
    pub output_tail: String,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptJson>,
}

/// The word of an enum's value name (`RUN_STATE_TIMED_OUT` -> `timed_out`).
fn word(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// A not-run cause as a word (`misfire_grace`); `None` for none.
fn cause_word(cause: i32) -> Option<String> {
    match pb::NotRunCause::try_from(cause) {
        Ok(pb::NotRunCause::Unspecified) | Err(_) => None,
        Ok(c) => Some(word(c.as_str_name(), "NOT_RUN_CAUSE_")),
    }
}

impl RunJson {
    /// The JSON form of a protobuf run.
    pub fn from_pb(r: &pb::Run) -> Self {
        let state = pb::RunState::try_from(r.state)
            .map(|s| word(s.as_str_name(), "RUN_STATE_"))
            .unwrap_or_else(|_| "unknown".into());
        let cause = cause_word(r.cause);
        RunJson {
            job_id: r.job_id.clone(),
            occurrence_id: r.occurrence_id.clone(),
            scheduled_at: ts_text(&r.scheduled_at),
            due_at: ts_text(&r.due_at),
            state,
            attempt: r.attempt,
            fencing_token: r.fencing_token,
            node_id: r.node_id,
            started_at: ts_text(&r.started_at),
            finished_at: ts_text(&r.finished_at),
            exit_code: r.exit_code,
            reason: r.reason.clone(),
            cause,
            output_tail: r.output_tail.clone(),
            attempts: r
                .attempts
                .iter()
                .map(|a| AttemptJson {
                    number: a.number,
                    fencing_token: a.fencing_token,
                    node_id: a.node_id,
                    state: a.state.clone(),
                    due_at: ts_text(&a.due_at),
                    started_at: ts_text(&a.started_at),
                    finished_at: ts_text(&a.finished_at),
                    exit_code: a.exit_code,
                })
                .collect(),
        }
    }
}

/// Runs, oldest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RunsJson {
    pub runs: Vec<RunJson>,
    /// When the page is full: pass as `until` for the older runs. (It is
    /// 1 ms after the oldest run's instant, so runs of other jobs at that
    /// same instant are never skipped; they may appear on both pages.)
    pub next_until: Option<String>,
}

/// An event (the `data` of a server-sent event).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventJson {
    /// `<log index>-<position>`; also the SSE id. Empty for node-local events.
    pub id: String,
    /// job_added, occurrence_started, leader_changed, ...
    pub kind: String,
    pub at: String,
    pub job_id: String,
    pub occurrence_id: String,
    pub node_id: Option<u64>,
    /// The attempt's fencing token, when one is concerned.
    pub fencing_token: Option<u64>,
    pub detail: String,
    pub cause: Option<String>,
    /// Who caused it; empty for the cluster's own decisions.
    pub by: String,
}

impl EventJson {
    /// The JSON form of a numbered store event.
    pub fn from_event(id: &str, e: &store::state::Event) -> Self {
        let pbe = crate::api::events::event_to_pb(e);
        let kind = pb::EventKind::try_from(pbe.kind)
            .map(|k| word(k.as_str_name(), "EVENT_KIND_"))
            .unwrap_or_else(|_| "unknown".into());
        let cause = cause_word(pbe.cause);
        EventJson {
            id: id.to_string(),
            kind,
            at: rfc3339_ms(e.at),
            job_id: e.job_id.clone(),
            occurrence_id: pbe.occurrence_id,
            node_id: e.node_id,
            fencing_token: e.token,
            detail: e.detail.clone(),
            cause,
            by: e.by.clone(),
        }
    }
}

// ------------------------------------------------------------ cluster

/// One member of the cluster.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberJson {
    pub id: u64,
    pub addr: String,
    pub voter: bool,
    /// leader, follower, candidate, learner or unknown.
    pub state: String,
    pub last_log_index: u64,
    pub applied_index: u64,
    /// Entries behind the leader.
    pub lag: u64,
    pub healthy: bool,
}

/// The cluster as the leader (else the answering node) sees it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterJson {
    /// The leader's id; null when none is known.
    pub leader: Option<u64>,
    pub term: u64,
    pub members: Vec<MemberJson>,
    /// The node that answered.
    pub answered_by: u64,
    /// A membership change has not finished (two configurations in force,
    /// or the newest not committed yet); wait for false before stopping
    /// nodes.
    pub membership_changing: bool,
    /// Whether the whole scheduler is paused.
    pub scheduler_paused: bool,
}

impl ClusterJson {
    /// The JSON form of a protobuf status.
    pub fn from_pb(s: &pb::ClusterStatus, scheduler_paused: bool) -> Self {
        ClusterJson {
            leader: s.leader,
            term: s.term,
            members: s
                .members
                .iter()
                .map(|m| MemberJson {
                    id: m.id,
                    addr: m.addr.clone(),
                    voter: m.voter,
                    state: m.state.clone(),
                    last_log_index: m.last_log_index,
                    applied_index: m.applied_index,
                    lag: m.lag,
                    healthy: m.healthy,
                })
                .collect(),
            answered_by: s.answered_by,
            membership_changing: s.membership_changing,
            scheduler_paused,
        }
    }
}

// ------------------------------------------------------------ small bodies

/// How many jobs a pause or resume changed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AffectedJson {
    pub affected: u64,
}

/// The deleted job.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedJson {
    pub id: String,
}

/// A job's next fire instants.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NextJson {
    /// RFC 3339, before jitter, in order.
    pub times: Vec<String>,
}

/// A past range to backfill.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillJson {
    /// The first instant (inclusive), RFC 3339.
    pub from: String,
    /// The last instant (inclusive), not in the future.
    pub to: String,
}

/// What a backfill did.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BackfilledJson {
    /// Occurrences created.
    pub created: u32,
    /// Instants that had an occurrence already (nothing runs twice).
    pub existing: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_back_as_written() {
        for (ms, text) in [
            (0, "0s"),
            (250, "250ms"),
            (45_000, "45s"),
            (5_400_000, "1h30m"),
            (3_661_000, "1h1m1s"),
        ] {
            assert_eq!(duration_text(ms), text);
            if ms > 0 {
                assert_eq!(store::schedule::parse_go_duration(text), Ok(ms));
            }
        }
    }

    #[test]
    fn a_spec_round_trips_through_protobuf() {
        let json = serde_json::json!({
            "id": "nightly",
            "labels": {"team": "a"},
            "schedule": {"interval": {"every": "1h30m", "anchor": "2026-12-01T10:00:00.000Z"}},
            "time_zone": "Europe/Berlin",
            "executor": {"worker": {"queue": "q", "function": "f", "args": {"x": [1, 2]}}},
            "policies": {"misfire_grace": "30s", "coalesce": "all", "overlap": "skip",
                         "retries": {"max_retries": 3, "initial_backoff": "2s"}},
        });
        let spec: JobSpecJson = serde_json::from_value(json).expect("parses");
        let back = JobSpecJson::from_pb(&spec.to_pb().expect("converts"));
        let again = serde_json::to_value(&back).expect("serializes");
        assert_eq!(again["schedule"]["interval"]["every"], "1h30m");
        assert_eq!(again["executor"]["worker"]["args"]["x"][1], 2);
        assert_eq!(again["policies"]["coalesce"], "all");
        assert_eq!(again["policies"]["retries"]["initial_backoff"], "2s");
    }

    #[test]
    fn bad_times_and_durations_name_their_field() {
        let spec = JobSpecJson {
            start_at: Some("tomorrow".into()),
            ..Default::default()
        };
        let e = spec.to_pb().expect_err("not a time");
        assert!(
            matches!(&e, ApiError::Invalid { field, .. } if field == "job.start_at"),
            "{e}"
        );
        let spec = JobSpecJson {
            policies: PoliciesJson {
                timeout: Some("soon".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = spec.to_pb().expect_err("not a duration");
        assert!(
            matches!(&e, ApiError::Invalid { field, .. } if field == "job.policies.timeout"),
            "{e}"
        );
    }
}
