//! The workload of a chaos run: jobs with varied schedules (every second,
//! cron with seconds, calendar fields, intervals, phrases, one-shot,
//! max_runs) and policies, all calling the harness's sink, registered
//! through random nodes; some are updated, paused, resumed, backfilled or
//! deleted while the run goes on. Some name exclusion calendars (one that
//! excludes the run's days, one that excludes other days), and a few run
//! after another job (dependent jobs). Every request is logged with when
//! it was sent and answered, which is what the checker's windows are made
//! of.

use crate::pb::{dur, ts};
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use proto::v1 as pb;
use proto::v1::job_service_client::JobServiceClient;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use store::schedule::{CalendarFields, IntervalSpec, ScheduleSpec};

use crate::history::{BackfillRecord, CalendarRecord, JobRecord, Ms, Span, SpecVersion, Window};
use crate::observe::now_ms;

/// How long one request is retried (through other nodes) before its
/// outcome counts as unknown.
const OP_DEADLINE: Duration = Duration::from_secs(20);
/// Per-attempt deadline.
const RPC_TIMEOUT: Duration = Duration::from_secs(4);

/// One request of the workload, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct OpLog {
    pub sent_ms: Ms,
    pub answered_ms: Ms,
    pub op: &'static str,
    pub job_id: String,
    /// `ok`, `refused: ...` (a definite error) or `unknown: ...`.
    pub outcome: String,
    pub tries: u32,
}

enum Op {
    Create(pb::JobSpec),
    Update(pb::JobSpec),
    Delete(String),
    Pause(String),
    Resume(String),
    Backfill(String, Ms, Ms),
    PutCalendar(pb::CalendarSpec),
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Create(_) => "create",
            Op::Update(_) => "update",
            Op::Delete(_) => "delete",
            Op::Pause(_) => "pause",
            Op::Resume(_) => "resume",
            Op::Backfill(..) => "backfill",
            Op::PutCalendar(_) => "put-calendar",
        }
    }
}

enum Outcome {
    Ok,
    /// The cluster said no, definitely (nothing changed).
    Refused(tonic::Status),
    /// Maybe applied, maybe not.
    Unknown(String),
}

struct Live {
    rec: JobRecord,
    spec: pb::JobSpec,
    paused: bool,
    deleted: bool,
    /// Max-runs and one-shot jobs are left alone (their expectations stay simple).
    mutable: bool,
    /// Upstreams and dependents are never changed once paired: a
    /// dependent's expectations follow its upstream's runs.
    pinned: bool,
}

/// The workload's state.
pub struct Workload {
    rng: ChaCha8Rng,
    sink_url: String,
    addrs: Vec<String>,
    jobs: BTreeMap<String, Live>,
    next: u64,
    /// Every request, in order.
    pub ops: Vec<OpLog>,
    /// Whether worker processes serve the queue `chaos` (function
    /// `effect`): then some jobs run on workers instead of calling the sink.
    pub worker_jobs: bool,
    /// The exclusion calendars created (acknowledged) for the jobs to name.
    pub calendars: Vec<CalendarRecord>,
}

/// Dependent jobs per run, at most (each pins its upstream).
const MAX_DEPENDENTS: usize = 3;
/// A calendar that excludes the run's days: its jobs must never fire.
pub const CALENDAR_RUN_DAYS: &str = "chaos-run-days";
/// A calendar that excludes other days: its jobs fire as without it.
pub const CALENDAR_OTHER_DAYS: &str = "chaos-other-days";

/// The queue and function the chaos run's workers serve.
pub const WORKER_QUEUE: &str = "chaos";
/// See [`WORKER_QUEUE`].
pub const WORKER_FUNCTION: &str = "effect";

fn dt(ms: Ms) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

async fn send(addr: &str, op: &Op) -> Result<(), tonic::Status> {
    let ch = crate::secure::connect_with(addr, |e| {
        e.connect_timeout(Duration::from_secs(1))
            .timeout(RPC_TIMEOUT)
    })
    .await
    .map_err(|e| tonic::Status::unavailable(format!("connect {addr}: {e}")))?;
    let mut c = JobServiceClient::new(ch.clone());
    let job = |id: &str| Some(pb::pause_request::Target::JobId(id.to_string()));
    match op {
        Op::Create(spec) => c
            .create_job(pb::CreateJobRequest {
                job: Some(spec.clone()),
                // A retry of a create that did commit finds the job.
                on_conflict: pb::OnConflict::Keep as i32,
            })
            .await
            .map(|_| ()),
        Op::Update(spec) => c
            .update_job(pb::UpdateJobRequest {
                job: Some(spec.clone()),
                expected_version: 0,
            })
            .await
            .map(|_| ()),
        Op::Delete(id) => c
            .delete_job(pb::DeleteJobRequest {
                id: id.clone(),
                expected_version: 0,
            })
            .await
            .map(|_| ()),
        Op::Pause(id) => c
            .pause_jobs(pb::PauseRequest { target: job(id) })
            .await
            .map(|_| ()),
        Op::Backfill(id, from, to) => c
            .backfill_job(pb::BackfillJobRequest {
                id: id.clone(),
                from: Some(ts(*from)),
                to: Some(ts(*to)),
            })
            .await
            .map(|_| ()),
        Op::PutCalendar(spec) => proto::v1::calendar_service_client::CalendarServiceClient::new(ch)
            .put_calendar(pb::PutCalendarRequest {
                calendar: Some(spec.clone()),
                expected_version: 0,
                create_only: false,
            })
            .await
            .map(|_| ()),
        Op::Resume(id) => c
            .resume_jobs(pb::PauseRequest { target: job(id) })
            .await
            .map(|_| ()),
    }
}

impl Workload {
    /// A workload whose jobs call `sink_url`, sent to the nodes at `addrs`.
    pub fn new(rng: ChaCha8Rng, sink_url: String, addrs: Vec<String>) -> Workload {
        Workload {
            rng,
            sink_url,
            addrs,
            jobs: BTreeMap::new(),
            next: 0,
            ops: Vec::new(),
            worker_jobs: false,
            calendars: Vec::new(),
        }
    }

    /// Creates the run's two exclusion calendars: one excluding the UTC
    /// days the run may span (today, tomorrow), one excluding other days
    /// (a date long past, and the first of January by cron). A calendar
    /// whose create is not acknowledged is not used.
    pub async fn create_calendars(&mut self) {
        let today = Utc::now().date_naive();
        let fmt = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
        let tomorrow = today.succ_opt().unwrap_or(today);
        let cals = [
            CalendarRecord {
                name: CALENDAR_RUN_DAYS.into(),
                tz: "UTC".into(),
                dates: Vec::new(),
                ranges: vec![(fmt(today), fmt(tomorrow))],
                crons: Vec::new(),
            },
            CalendarRecord {
                name: CALENDAR_OTHER_DAYS.into(),
                tz: "Europe/Berlin".into(),
                dates: vec!["2001-02-03".into()],
                ranges: Vec::new(),
                crons: if today.format("%m-%d").to_string() == "01-01"
                    || tomorrow.format("%m-%d").to_string() == "01-01"
                {
                    Vec::new()
                } else {
                    vec!["0 0 1 1 *".into()]
                },
            },
        ];
        for cal in cals {
            let spec = pb::CalendarSpec {
                name: cal.name.clone(),
                description: "chaos run".into(),
                time_zone: cal.tz.clone(),
                dates: cal.dates.clone(),
                ranges: cal
                    .ranges
                    .iter()
                    .map(|(from, to)| pb::DateRange {
                        from: from.clone(),
                        to: to.clone(),
                    })
                    .collect(),
                crons: cal.crons.clone(),
            };
            let name = cal.name.clone();
            if let (_, Outcome::Ok) = self.run(Op::PutCalendar(spec), &name).await {
                self.calendars.push(cal);
            }
        }
    }

    /// The calendars a new job names: now and then the one that excludes
    /// the run's days or the one that excludes others.
    fn exclude_calendars(&mut self) -> Vec<String> {
        let pick = match self.rng.gen_range(0..10) {
            0 => CALENDAR_RUN_DAYS,
            1 | 2 => CALENDAR_OTHER_DAYS,
            _ => return Vec::new(),
        };
        if self.calendars.iter().any(|c| c.name == pick) {
            vec![pick.to_string()]
        } else {
            Vec::new()
        }
    }

    /// Jobs not deleted.
    pub fn live_jobs(&self) -> usize {
        self.jobs.values().filter(|j| !j.deleted).count()
    }

    /// What of the scheduling features the run used (created jobs only).
    pub fn features(&self) -> crate::report::Features {
        let created = || self.jobs.values().filter(|j| j.rec.created.is_some());
        let naming = |cal: &str| {
            created()
                .filter(|j| j.rec.versions[0].exclude_calendars.iter().any(|c| c == cal))
                .count()
        };
        crate::report::Features {
            calendars: self.calendars.len(),
            jobs_excluded_today: naming(CALENDAR_RUN_DAYS),
            jobs_excluded_other_days: naming(CALENDAR_OTHER_DAYS),
            dependents: created()
                .filter(|j| matches!(j.rec.versions[0].schedule, ScheduleSpec::After { .. }))
                .count(),
            backfills: self
                .jobs
                .values()
                .flat_map(|j| &j.rec.backfills)
                .filter(|b| b.acknowledged)
                .count(),
        }
    }

    /// The records for the checker.
    pub fn records(&self) -> Vec<JobRecord> {
        self.jobs.values().map(|j| j.rec.clone()).collect()
    }

    /// Sends `op` through random nodes until it is answered for sure or
    /// the deadline passes. Deletes, pauses and resumes are idempotent, a
    /// create retries with ON_CONFLICT_KEEP, an update with the same spec.
    async fn run(&mut self, op: Op, job_id: &str) -> (Span, Outcome) {
        let lo = now_ms();
        let start = std::time::Instant::now();
        let mut tries = 0;
        let mut addrs = self.addrs.clone();
        addrs.shuffle(&mut self.rng);
        let outcome = loop {
            let addr = &addrs[tries as usize % addrs.len()];
            tries += 1;
            match send(addr, &op).await {
                Ok(()) => break Outcome::Ok,
                Err(s) => match s.code() {
                    // After an unknown first try, NOT_FOUND on a delete
                    // means that try did it.
                    tonic::Code::NotFound if tries > 1 && matches!(op, Op::Delete(_)) => {
                        break Outcome::Ok;
                    }
                    tonic::Code::InvalidArgument
                    | tonic::Code::NotFound
                    | tonic::Code::AlreadyExists
                    | tonic::Code::FailedPrecondition
                        if tries == 1 =>
                    {
                        break Outcome::Refused(s);
                    }
                    _ if start.elapsed() > OP_DEADLINE => {
                        break Outcome::Unknown(format!("{}: {}", s.code(), s.message()));
                    }
                    _ => tokio::time::sleep(Duration::from_millis(250)).await,
                },
            }
        };
        let span = Span { lo, hi: now_ms() };
        self.ops.push(OpLog {
            sent_ms: span.lo,
            answered_ms: span.hi,
            op: op.name(),
            job_id: job_id.to_string(),
            outcome: match &outcome {
                Outcome::Ok => "ok".into(),
                Outcome::Refused(s) => format!("refused: {}: {}", s.code(), s.message()),
                Outcome::Unknown(why) => format!("unknown: {why}"),
            },
            tries,
        });
        (span, outcome)
    }

    /// A random schedule (both as the API takes it and as the engine
    /// reads it). `now` places one-shots and interval anchors.
    fn schedule(
        &mut self,
        now: Ms,
        allow_once: bool,
    ) -> (pb::Schedule, ScheduleSpec, &'static str) {
        use pb::schedule::Kind as K;
        let pick = self.rng.gen_range(0..if allow_once { 8 } else { 7 });
        let (kind, spec, name) = match pick {
            0 => {
                let c = "* * * * * *";
                (
                    K::Cron(c.into()),
                    ScheduleSpec::Cron(c.into()),
                    "cron every second",
                )
            }
            1 => {
                let c = ["*/2 * * * * *", "*/3 * * * * *", "5,20,35,50 * * * * *"]
                    [self.rng.gen_range(0..3)];
                (
                    K::Cron(c.into()),
                    ScheduleSpec::Cron(c.into()),
                    "cron with seconds",
                )
            }
            2 => {
                let f = CalendarFields {
                    second: Some("*/4".into()),
                    ..Default::default()
                };
                (
                    K::Calendar(pb::CalendarFields {
                        second: "*/4".into(),
                        ..Default::default()
                    }),
                    ScheduleSpec::Calendar(Box::new(f)),
                    "calendar fields",
                )
            }
            3 | 4 => {
                let every = self.rng.gen_range(1..=4) * 1000 + self.rng.gen_range(0..2) * 500;
                let anchor = now - self.rng.gen_range(0..60_000);
                (
                    K::Interval(pb::IntervalSchedule {
                        every: Some(dur(every)),
                        every_max: None,
                        anchor: Some(ts(anchor)),
                    }),
                    ScheduleSpec::Interval(IntervalSpec {
                        every_ms: every,
                        every_max_ms: None,
                        anchor: Some(dt(anchor)),
                    }),
                    "interval",
                )
            }
            5 => {
                let h = ["@every 2s", "every 3 seconds"][self.rng.gen_range(0..2)];
                (K::Human(h.into()), ScheduleSpec::Human(h.into()), "phrase")
            }
            6 => {
                let c = "* * * * * *";
                (K::Cron(c.into()), ScheduleSpec::Cron(c.into()), "max_runs")
            }
            _ => {
                let at =
                    (now / 1000 + self.rng.gen_range(4..40)) * 1000 + self.rng.gen_range(0..1000);
                (K::Once(ts(at)), ScheduleSpec::Once(dt(at)), "one-shot")
            }
        };
        (pb::Schedule { kind: Some(kind) }, spec, name)
    }

    fn policies(&mut self, max_runs: u64) -> pb::Policies {
        let r = &mut self.rng;
        pb::Policies {
            misfire_grace: [None, Some(dur(1_000)), Some(dur(10_000))][r.gen_range(0..3)],
            coalesce: [
                pb::Coalesce::Latest,
                pb::Coalesce::Earliest,
                pb::Coalesce::All,
            ][r.gen_range(0..3)] as i32,
            overlap: [
                pb::Overlap::Allow,
                pb::Overlap::Skip,
                pb::Overlap::BufferOne,
                pb::Overlap::Allow,
            ][r.gen_range(0..4)] as i32,
            max_instances: r.gen_range(0..3),
            retries: r.gen_bool(0.3).then(|| pb::RetryPolicy {
                max_retries: 2,
                initial_backoff: Some(dur(500)),
                max_backoff: Some(dur(2_000)),
                multiplier: 2.0,
            }),
            timeout: None,
            jitter: r.gen_bool(0.2).then(|| dur(300)),
            max_runs,
            // The workload's jobs must keep firing for the checker to
            // count their occurrences; a job that paused itself would look
            // like lost occurrences.
            pause_after_failures: 0,
        }
    }

    /// An HTTP call of the sink, or (a third of the jobs, when workers run)
    /// a worker function that posts to the sink from inside the function,
    /// after up to 300 ms of work.
    fn executor(&mut self) -> pb::Executor {
        if self.worker_jobs && self.rng.gen_bool(0.33) {
            let sleep_ms = self.rng.gen_range(0..300);
            return pb::Executor {
                kind: Some(pb::executor::Kind::Worker(pb::WorkerExecutor {
                    queue: WORKER_QUEUE.into(),
                    function: WORKER_FUNCTION.into(),
                    args: format!(r#"{{"sleep_ms": {sleep_ms}}}"#),
                })),
            };
        }
        pb::Executor {
            kind: Some(pb::executor::Kind::Http(pb::HttpExecutor {
                url: self.sink_url.clone(),
                ..Default::default()
            })),
        }
    }

    /// An upstream for a new dependent job: a live job that fires on its
    /// own schedule, not a one-shot or max-runs job, with no unknown
    /// outcome; `None` when no dependent is due (by chance, or the cap).
    fn pick_upstream(&mut self) -> Option<String> {
        let dependents = self
            .jobs
            .values()
            .filter(|j| matches!(j.rec.versions[0].schedule, ScheduleSpec::After { .. }))
            .count();
        // The first as soon as there is an upstream (a short run must have
        // one), later ones now and then.
        if dependents >= MAX_DEPENDENTS || (dependents > 0 && !self.rng.gen_bool(0.15)) {
            return None;
        }
        let ups: Vec<String> = self
            .jobs
            .iter()
            .filter(|(_, j)| {
                !j.deleted
                    && j.mutable
                    && j.rec.uncertain_from.is_none()
                    && !matches!(j.rec.versions[0].schedule, ScheduleSpec::After { .. })
            })
            .map(|(id, _)| id.clone())
            .collect();
        (!ups.is_empty()).then(|| ups[self.rng.gen_range(0..ups.len())].clone())
    }

    /// Registers one new job.
    pub async fn create(&mut self, allow_once: bool) {
        let now = now_ms();
        self.next += 1;
        let id = format!("job-{:03}", self.next);
        let upstream = self.pick_upstream();
        let (schedule, engine, name) = match &upstream {
            Some(up) => {
                let on_finished = self.rng.gen_bool(0.5);
                (
                    pb::Schedule {
                        kind: Some(pb::schedule::Kind::After(pb::AfterJob {
                            job_id: up.clone(),
                            on_finished,
                        })),
                    },
                    ScheduleSpec::After {
                        job_id: up.clone(),
                        on_finished,
                    },
                    "after",
                )
            }
            None => self.schedule(now, allow_once),
        };
        let exclude_calendars = if upstream.is_some() {
            Vec::new()
        } else {
            self.exclude_calendars()
        };
        let max_runs = if name == "max_runs" { 5 } else { 0 };
        let tz = ["UTC", "Europe/Berlin", "America/New_York"][self.rng.gen_range(0..3)];
        let spec = pb::JobSpec {
            id: id.clone(),
            name: format!("{name} ({id})"),
            labels: [("chaos".to_string(), name.replace(' ', "-"))].into(),
            schedule: Some(schedule),
            time_zone: tz.into(),
            executor: Some(self.executor()),
            policies: Some(self.policies(max_runs)),
            exclude_calendars: exclude_calendars.clone(),
            ..Default::default()
        };
        let version = SpecVersion {
            schedule: engine,
            tz: tz.into(),
            start_ms: None,
            end_ms: None,
            jitter_ms: spec
                .policies
                .as_ref()
                .and_then(|p| p.jitter)
                .map_or(0, |d| d.seconds as u64 * 1000 + d.nanos as u64 / 1_000_000),
            max_runs,
            max_retries: spec
                .policies
                .as_ref()
                .and_then(|p| p.retries.as_ref())
                .map_or(0, |r| r.max_retries),
            worker: matches!(
                spec.executor.as_ref().and_then(|e| e.kind.as_ref()),
                Some(pb::executor::Kind::Worker(_))
            ),
            misfire_grace_ms: spec
                .policies
                .as_ref()
                .and_then(|p| p.misfire_grace)
                .map(|d| d.seconds as u64 * 1000 + d.nanos as u64 / 1_000_000),
            overlap: spec
                .policies
                .as_ref()
                .and_then(|p| pb::Overlap::try_from(p.overlap).ok())
                .map(|o| {
                    o.as_str_name()
                        .trim_start_matches("OVERLAP_")
                        .to_lowercase()
                })
                .unwrap_or_default(),
            exclude_calendars,
        };
        let (span, outcome) = self.run(Op::Create(spec.clone()), &id).await;
        let mut rec = JobRecord {
            id: id.clone(),
            versions: vec![version],
            created: None,
            windows: Vec::new(),
            deleted: None,
            paused: Vec::new(),
            backfills: Vec::new(),
            uncertain_from: None,
        };
        match outcome {
            Outcome::Ok => {
                rec.created = Some(span);
                rec.windows.push(Window {
                    version: 0,
                    from: span,
                    to: None,
                });
            }
            Outcome::Refused(_) => {}
            Outcome::Unknown(_) => rec.uncertain_from = Some(span.lo),
        }
        let ok = rec.created.is_some();
        if ok && let Some(up) = upstream.as_ref().and_then(|u| self.jobs.get_mut(u)) {
            up.pinned = true;
        }
        self.jobs.insert(
            id,
            Live {
                rec,
                spec,
                paused: false,
                deleted: !ok,
                mutable: ok && max_runs == 0 && name != "one-shot",
                pinned: upstream.is_some(),
            },
        );
    }

    /// Updates, pauses, resumes or deletes a random job.
    pub async fn mutate(&mut self) {
        // Max-runs and one-shot jobs are only ever deleted (their
        // expectations stay simple), but they must be deleted now and then:
        // finished, they still count as live, and a long run whose live
        // slots all held finished jobs stopped creating, so firing stopped
        // (seen from minute 15 of a 30-minute run).
        let ids: Vec<String> = self
            .jobs
            .iter()
            .filter(|(_, j)| !j.deleted && !j.pinned && j.rec.uncertain_from.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        if ids.is_empty() {
            return;
        }
        let id = ids[self.rng.gen_range(0..ids.len())].clone();
        let paused = self.jobs[&id].paused;
        let roll = if self.jobs[&id].mutable {
            self.rng.gen_range(0..12)
        } else {
            9 // delete
        };
        let now = now_ms();
        let (op, new_version) = match roll {
            0..=3 => {
                let (schedule, engine, _) = self.schedule(now, false);
                let mut spec = self.jobs[&id].spec.clone();
                spec.schedule = Some(schedule);
                spec.paused = paused; // an update must not resume the job
                let mut v = self.jobs[&id].rec.versions[0].clone();
                v.schedule = engine;
                (Op::Update(spec), Some(v))
            }
            4..=6 if !paused => (Op::Pause(id.clone()), None),
            4..=6 => (Op::Resume(id.clone()), None),
            10 | 11 if !paused => {
                // A past range of up to 20 s, ending at least half a second
                // ago; now and then the job's last range again (nothing may
                // run twice).
                let again = self.jobs[&id]
                    .rec
                    .backfills
                    .last()
                    .filter(|_| self.rng.gen_bool(0.3))
                    .map(|b| (b.from_ms, b.to_ms));
                let (from, to) = again.unwrap_or_else(|| {
                    let to = now - 500 - self.rng.gen_range(0..5_000);
                    (to - self.rng.gen_range(1_000..20_000), to)
                });
                (Op::Backfill(id.clone(), from, to), None)
            }
            10 | 11 => (Op::Resume(id.clone()), None),
            _ => (Op::Delete(id.clone()), None),
        };
        let backfill = match &op {
            Op::Backfill(_, from, to) => Some((*from, *to)),
            _ => None,
        };
        let kind = op.name();
        let update_spec = match &op {
            Op::Update(s) => Some(s.clone()),
            _ => None,
        };
        let (span, outcome) = self.run(op, &id).await;
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let close = |job: &mut Live| {
            if let Some(w) = job.rec.windows.last_mut()
                && w.to.is_none()
            {
                w.to = Some(span);
            }
        };
        if let Some((from_ms, to_ms)) = backfill {
            // An unknown outcome leaves the job's expectations as they
            // were: the backfill may have run, once.
            if !matches!(outcome, Outcome::Refused(_)) {
                job.rec.backfills.push(BackfillRecord {
                    from_ms,
                    to_ms,
                    version: job.rec.versions.len() - 1,
                    span,
                    acknowledged: matches!(outcome, Outcome::Ok),
                });
            }
            return;
        }
        match outcome {
            Outcome::Refused(_) => {}
            Outcome::Unknown(_) => job.rec.uncertain_from = Some(span.lo),
            Outcome::Ok => match kind {
                "update" => {
                    close(job);
                    if let (Some(v), Some(s)) = (new_version, update_spec) {
                        job.rec.versions.push(v);
                        job.spec = s;
                    }
                    if !job.paused {
                        job.rec.windows.push(Window {
                            version: job.rec.versions.len() - 1,
                            from: span,
                            to: None,
                        });
                    }
                }
                "pause" => {
                    close(job);
                    job.paused = true;
                    job.rec.paused.push(span);
                }
                "resume" => {
                    job.paused = false;
                    job.rec.windows.push(Window {
                        version: job.rec.versions.len() - 1,
                        from: span,
                        to: None,
                    });
                }
                _ => {
                    close(job);
                    job.deleted = true;
                    job.rec.deleted = Some(span);
                }
            },
        }
    }

    /// The next step: a create while below `max_live` jobs (or by chance),
    /// else a mutation.
    pub async fn step(&mut self, max_live: usize) {
        if self.live_jobs() < max_live && self.rng.gen_bool(0.5) {
            self.create(true).await;
        } else {
            self.mutate().await;
        }
    }

    /// A random pause between steps.
    pub fn pace(&mut self) -> Duration {
        Duration::from_millis(self.rng.gen_range(800..2500))
    }

    /// Whether each job exists now, asked of any node.
    pub async fn finals(&self) -> BTreeMap<String, crate::history::FinalJob> {
        use crate::history::FinalJob;
        let mut out = BTreeMap::new();
        // Ask the leader first: a lagging follower may not have applied
        // the last create or delete yet.
        let mut addrs = self.addrs.clone();
        for a in &self.addrs {
            if let Some(s) = crate::harness::status(a).await {
                if let Some(l) = s.leader.and_then(|l| s.members.iter().find(|m| m.id == l)) {
                    addrs.retain(|x| *x != l.addr);
                    addrs.insert(0, l.addr.clone());
                }
                break;
            }
        }
        for id in self.jobs.keys() {
            let mut seen = FinalJob::Unknown;
            'nodes: for _round in 0..5 {
                for addr in &addrs {
                    let Ok(ch) = crate::secure::connect_with(addr, |e| {
                        e.connect_timeout(Duration::from_secs(1))
                            .timeout(RPC_TIMEOUT)
                    })
                    .await
                    else {
                        continue;
                    };
                    match JobServiceClient::new(ch)
                        .get_job(pb::GetJobRequest { id: id.clone() })
                        .await
                    {
                        Ok(_) => {
                            seen = FinalJob::Present;
                            break 'nodes;
                        }
                        Err(s) if s.code() == tonic::Code::NotFound => {
                            seen = FinalJob::Absent;
                            break 'nodes;
                        }
                        Err(_) => {}
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            out.insert(id.clone(), seen);
        }
        out
    }
}
