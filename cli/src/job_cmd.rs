//! `clusterctl job ...`, `runs` and `events`.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use proto::prost_types::{Duration, Timestamp};
use proto::v1 as pb;
use store::schedule::{ScheduleSpec, parse_go_duration};

use crate::Output;
use crate::client::{Cluster, status_error};

/// Overlap policies as flags.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OverlapArg {
    Allow,
    Skip,
    BufferOne,
    Replace,
}

/// Coalesce policies as flags.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CoalesceArg {
    Earliest,
    Latest,
    All,
}

/// A job's definition as flags. `add` needs --schedule and an executor;
/// `update` changes only what is given.
#[derive(Args, Debug, Default)]
pub struct JobFlags {
    /// Cron string or human phrase ("*/5 * * * *", "every day at 10:30").
    #[arg(long, conflicts_with = "after")]
    schedule: Option<String>,
    /// Run once after each occurrence of another job: JOB (its successes),
    /// JOB:succeeded, or JOB:finished (any ending).
    #[arg(long, value_name = "JOB[:succeeded|:finished]")]
    after: Option<String>,
    /// IANA time zone of the schedule (default UTC).
    #[arg(long)]
    tz: Option<String>,
    /// Run this command with `sh -c` (needs --enable-shell-executor on the nodes).
    #[arg(long, conflicts_with_all = ["http", "worker"])]
    shell: Option<String>,
    /// Call this URL.
    #[arg(long, conflicts_with = "worker")]
    http: Option<String>,
    /// Run FUNCTION on a worker process that serves QUEUE (QUEUE:FUNCTION).
    #[arg(long, value_name = "QUEUE:FUNCTION")]
    worker: Option<String>,
    /// With --worker: the function's arguments, as JSON (at most 64 KiB).
    #[arg(long, requires = "worker")]
    args: Option<String>,
    /// HTTP method (default POST).
    #[arg(long)]
    method: Option<String>,
    /// HTTP header, NAME:VALUE. Repeatable.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// HTTP body.
    #[arg(long)]
    body: Option<String>,
    /// Label KEY=VALUE. Repeatable.
    #[arg(long = "label")]
    labels: Vec<String>,
    /// An exclusion calendar (`clusterctl calendar add`): no occurrence on
    /// the days it excludes. Repeatable; on update, replaces the list.
    #[arg(long = "exclude-calendar")]
    exclude_calendars: Vec<String>,
    /// What to do when runs overlap.
    #[arg(long, value_enum)]
    overlap: Option<OverlapArg>,
    /// With --overlap allow: runs in flight at once.
    #[arg(long)]
    max_instances: Option<u32>,
    /// How late a run may still start (e.g. 30s).
    #[arg(long)]
    misfire_grace: Option<String>,
    /// How a backlog is collapsed.
    #[arg(long, value_enum)]
    coalesce: Option<CoalesceArg>,
    /// Retries after a failed attempt.
    #[arg(long)]
    retries: Option<u32>,
    /// Kill an attempt after this long (e.g. 5m).
    #[arg(long)]
    timeout: Option<String>,
    /// Delay each run by up to this much, deterministically.
    #[arg(long)]
    jitter: Option<String>,
    /// Run this many times, then finish.
    #[arg(long)]
    max_runs: Option<u64>,
    /// Pause the job after this many failed occurrences in a row (0: never).
    #[arg(long)]
    pause_after_failures: Option<u32>,
    /// First instant that may fire (RFC 3339).
    #[arg(long)]
    start: Option<String>,
    /// Last instant that may fire (RFC 3339).
    #[arg(long)]
    end: Option<String>,
    /// Create paused.
    #[arg(long)]
    paused: bool,
}

/// `clusterctl job ...`.
#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// Register a job.
    Add {
        /// Job id.
        id: String,
        #[command(flatten)]
        flags: JobFlags,
    },
    /// List jobs.
    List {
        /// Only jobs with this label (KEY=VALUE). Repeatable.
        #[arg(long = "label")]
        labels: Vec<String>,
    },
    /// Show one job.
    Get { id: String },
    /// Change a job (only the flags given).
    Update {
        id: String,
        #[command(flatten)]
        flags: JobFlags,
    },
    /// Delete a job.
    Delete { id: String },
    /// Pause a job, or the jobs with a label.
    Pause {
        id: Option<String>,
        #[arg(long = "label")]
        labels: Vec<String>,
    },
    /// Resume a job, or the jobs with a label.
    Resume {
        id: Option<String>,
        #[arg(long = "label")]
        labels: Vec<String>,
    },
    /// Run a job now, outside its schedule.
    Run { id: String },
    /// The dependency graph of `--after` jobs, as text or Graphviz DOT.
    Graph {
        /// Print Graphviz DOT instead of text.
        #[arg(long)]
        dot: bool,
    },
    /// Run the job's instants of a past range, in order, under its
    /// policies; instants that ran already are not run again.
    Backfill {
        /// Job id.
        id: String,
        /// First instant (RFC 3339), inclusive.
        #[arg(long)]
        from: String,
        /// Last instant (RFC 3339), inclusive; not in the future.
        #[arg(long)]
        to: String,
    },
}

fn kv(field: &str, s: &str, sep: char) -> anyhow::Result<(String, String)> {
    match s.split_once(sep) {
        Some((k, v)) if !k.is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => bail!("{field}: {s:?} is not KEY{sep}VALUE"),
    }
}

fn duration(field: &str, s: &str) -> anyhow::Result<Duration> {
    let ms = parse_go_duration(s).map_err(|e| anyhow!("{field}: {e}"))?;
    Ok(Duration {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    })
}

fn timestamp(field: &str, s: &str) -> anyhow::Result<Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| anyhow!("{field}: {s:?} is not RFC 3339: {e}"))?;
    Ok(Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    })
}

impl JobFlags {
    /// Applies the flags given to `spec`.
    fn apply(&self, spec: &mut pb::JobSpec) -> anyhow::Result<()> {
        if let Some(s) = &self.schedule {
            spec.schedule = Some(pb::Schedule {
                kind: Some(match ScheduleSpec::detect(s) {
                    ScheduleSpec::Human(h) => pb::schedule::Kind::Human(h),
                    _ => pb::schedule::Kind::Cron(s.clone()),
                }),
            });
        }
        if let Some(a) = &self.after {
            let (job_id, on_finished) = match a.split_once(':') {
                None => (a.as_str(), false),
                Some((j, "succeeded")) => (j, false),
                Some((j, "finished")) => (j, true),
                Some((_, other)) => {
                    bail!(
                        "--after: {other:?} is not succeeded or finished (JOB[:succeeded|:finished])"
                    )
                }
            };
            spec.schedule = Some(pb::Schedule {
                kind: Some(pb::schedule::Kind::After(pb::AfterJob {
                    job_id: job_id.to_string(),
                    on_finished,
                })),
            });
        }
        if let Some(tz) = &self.tz {
            spec.time_zone = tz.clone();
        }
        if let Some(cmd) = &self.shell {
            spec.executor = Some(pb::Executor {
                kind: Some(pb::executor::Kind::Shell(pb::ShellExecutor {
                    command: cmd.clone(),
                    ..Default::default()
                })),
            });
        }
        if let Some(url) = &self.http {
            let headers = self
                .headers
                .iter()
                .map(|h| kv("--header", h, ':').map(|(name, value)| pb::Header { name, value }))
                .collect::<anyhow::Result<_>>()?;
            spec.executor = Some(pb::Executor {
                kind: Some(pb::executor::Kind::Http(pb::HttpExecutor {
                    method: self.method.clone().unwrap_or_default(),
                    url: url.clone(),
                    headers,
                    body: self.body.clone().unwrap_or_default().into_bytes(),
                    success_codes: Vec::new(),
                })),
            });
        }
        if let Some(w) = &self.worker {
            let Some((queue, function)) = w.split_once(':') else {
                bail!("--worker: {w:?} is not QUEUE:FUNCTION");
            };
            if let Some(a) = &self.args
                && let Err(e) = serde_json::from_str::<serde_json::Value>(a)
            {
                bail!("--args: not JSON: {e}");
            }
            spec.executor = Some(pb::Executor {
                kind: Some(pb::executor::Kind::Worker(pb::WorkerExecutor {
                    queue: queue.to_string(),
                    function: function.to_string(),
                    args: self.args.clone().unwrap_or_default(),
                })),
            });
        }
        for l in &self.labels {
            let (k, v) = kv("--label", l, '=')?;
            spec.labels.insert(k, v);
        }
        if !self.exclude_calendars.is_empty() {
            spec.exclude_calendars = self.exclude_calendars.clone();
        }
        let p = spec.policies.get_or_insert_with(Default::default);
        if let Some(o) = self.overlap {
            p.overlap = match o {
                OverlapArg::Allow => pb::Overlap::Allow,
                OverlapArg::Skip => pb::Overlap::Skip,
                OverlapArg::BufferOne => pb::Overlap::BufferOne,
                OverlapArg::Replace => pb::Overlap::Replace,
            } as i32;
        }
        if let Some(c) = self.coalesce {
            p.coalesce = match c {
                CoalesceArg::Earliest => pb::Coalesce::Earliest,
                CoalesceArg::Latest => pb::Coalesce::Latest,
                CoalesceArg::All => pb::Coalesce::All,
            } as i32;
        }
        if let Some(n) = self.max_instances {
            p.max_instances = n;
        }
        if let Some(d) = &self.misfire_grace {
            p.misfire_grace = Some(duration("--misfire-grace", d)?);
        }
        if let Some(n) = self.retries {
            p.retries.get_or_insert_with(Default::default).max_retries = n;
        }
        if let Some(d) = &self.timeout {
            p.timeout = Some(duration("--timeout", d)?);
        }
        if let Some(d) = &self.jitter {
            p.jitter = Some(duration("--jitter", d)?);
        }
        if let Some(n) = self.max_runs {
            p.max_runs = n;
        }
        if let Some(n) = self.pause_after_failures {
            p.pause_after_failures = n;
        }
        if let Some(t) = &self.start {
            spec.start_at = Some(timestamp("--start", t)?);
        }
        if let Some(t) = &self.end {
            spec.end_at = Some(timestamp("--end", t)?);
        }
        if self.paused {
            spec.paused = true;
        }
        Ok(())
    }
}

fn ts_json(t: &Option<Timestamp>) -> serde_json::Value {
    t.as_ref()
        .and_then(proto::time::millis)
        .map_or(serde_json::Value::Null, |ms| {
            serde_json::Value::String(store::model::time::rfc3339_ms(ms))
        })
}

fn schedule_text(spec: &pb::JobSpec) -> String {
    match spec.schedule.as_ref().and_then(|s| s.kind.as_ref()) {
        Some(pb::schedule::Kind::Cron(s)) | Some(pb::schedule::Kind::Human(s)) => s.clone(),
        Some(pb::schedule::Kind::Interval(_)) => "interval".into(),
        Some(pb::schedule::Kind::Once(t)) => format!("once {}", ts_json(&Some(*t))),
        Some(pb::schedule::Kind::Calendar(_)) => "calendar".into(),
        Some(pb::schedule::Kind::After(a)) => format!(
            "after {}:{}",
            a.job_id,
            if a.on_finished {
                "finished"
            } else {
                "succeeded"
            }
        ),
        None => "-".into(),
    }
}

/// The schedule with every field, for scripts that compare specs.
fn schedule_json(spec: &pb::JobSpec) -> serde_json::Value {
    match spec.schedule.as_ref().and_then(|s| s.kind.as_ref()) {
        Some(pb::schedule::Kind::Cron(c)) => serde_json::json!({"cron": c}),
        Some(pb::schedule::Kind::Human(h)) => serde_json::json!({"human": h}),
        Some(pb::schedule::Kind::After(a)) => serde_json::json!({"after": {
            "job_id": a.job_id, "on": if a.on_finished { "finished" } else { "succeeded" },
        }}),
        Some(pb::schedule::Kind::Once(t)) => serde_json::json!({"once": ts_json(&Some(*t))}),
        Some(pb::schedule::Kind::Interval(i)) => serde_json::json!({"interval": {
            "every_ms": dur_ms(&i.every),
            "every_max_ms": dur_ms(&i.every_max),
            "anchor": ts_json(&i.anchor),
        }}),
        Some(pb::schedule::Kind::Calendar(c)) => serde_json::json!({"calendar": {
            "year": c.year, "month": c.month, "day": c.day, "week": c.week,
            "day_of_week": c.day_of_week, "hour": c.hour, "minute": c.minute, "second": c.second,
        }}),
        None => serde_json::Value::Null,
    }
}

fn job_json(j: &pb::Job) -> serde_json::Value {
    let spec = j.spec.clone().unwrap_or_default();
    serde_json::json!({
        "schedule_spec": schedule_json(&spec),
        "id": spec.id,
        "name": spec.name,
        "schedule": schedule_text(&spec),
        "time_zone": spec.time_zone,
        "labels": spec.labels,
        "state": pb::JobState::try_from(j.state).map(|s| s.as_str_name().trim_start_matches("JOB_STATE_").to_lowercase()).unwrap_or_default(),
        "version": j.version,
        "next_fire_at": ts_json(&j.next_fire_at),
        "run_count": j.run_count,
        "start_at": ts_json(&spec.start_at),
        "end_at": ts_json(&spec.end_at),
        "paused": spec.paused,
        "node_selector": spec.node_selector,
        "exclude_calendars": spec.exclude_calendars,
        "executor": executor_json(spec.executor.as_ref()),
        "policies": policies_json(spec.policies.as_ref()),
        "pause_reason": (!j.pause_reason.is_empty()).then(|| j.pause_reason.clone()),
        "created_by": j.created_by,
        "updated_by": j.updated_by,
    })
}

fn dur_ms(d: &Option<Duration>) -> serde_json::Value {
    d.as_ref().map_or(serde_json::Value::Null, |d| {
        serde_json::json!(d.seconds * 1000 + i64::from(d.nanos / 1_000_000))
    })
}

fn executor_json(e: Option<&pb::Executor>) -> serde_json::Value {
    match e.and_then(|e| e.kind.as_ref()) {
        Some(pb::executor::Kind::Shell(s)) => serde_json::json!({
            "kind": "shell", "command": s.command, "argv": s.argv,
        }),
        Some(pb::executor::Kind::Http(h)) => serde_json::json!({
            "kind": "http", "method": h.method, "url": h.url,
        }),
        Some(pb::executor::Kind::Worker(w)) => serde_json::json!({
            "kind": "worker", "queue": w.queue, "function": w.function,
            "args": if w.args.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_str(&w.args).unwrap_or(serde_json::Value::Null)
            },
        }),
        None => serde_json::Value::Null,
    }
}

fn policies_json(p: Option<&pb::Policies>) -> serde_json::Value {
    let p = p.cloned().unwrap_or_default();
    let name = |s: &str, prefix: &str| s.trim_start_matches(prefix).to_lowercase();
    let retries = p.retries.unwrap_or_default();
    serde_json::json!({
        "misfire_grace_ms": dur_ms(&p.misfire_grace),
        "coalesce": pb::Coalesce::try_from(p.coalesce).map(|c| name(c.as_str_name(), "COALESCE_")).unwrap_or_default(),
        "overlap": pb::Overlap::try_from(p.overlap).map(|o| name(o.as_str_name(), "OVERLAP_")).unwrap_or_default(),
        "max_instances": p.max_instances,
        "max_retries": retries.max_retries,
        "timeout_ms": dur_ms(&p.timeout),
        "jitter_ms": dur_ms(&p.jitter),
        "max_runs": p.max_runs,
        "pause_after_failures": p.pause_after_failures,
    })
}

fn print_job(j: &pb::Job, out: Output) {
    match out {
        Output::Json | Output::Jsonl => println!("{}", job_json(j)),
        Output::Text => {
            let v = job_json(j);
            println!(
                "{}  [{}]  {}  ({})  next: {}  runs: {}  version {}",
                v["id"].as_str().unwrap_or(""),
                v["state"].as_str().unwrap_or(""),
                v["schedule"].as_str().unwrap_or(""),
                v["time_zone"].as_str().unwrap_or(""),
                v["next_fire_at"].as_str().unwrap_or("-"),
                j.run_count,
                j.version
            );
        }
    }
}

fn selector(labels: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    labels.iter().map(|l| kv("--label", l, '=')).collect()
}

/// Every job whose labels contain `labels`, page by page, in id order.
pub async fn all_jobs(
    cluster: &Cluster,
    labels: BTreeMap<String, String>,
) -> anyhow::Result<Vec<pb::Job>> {
    let mut token = String::new();
    let mut all = Vec::new();
    loop {
        let req = pb::ListJobsRequest {
            labels: labels.clone(),
            page_size: 1000,
            page_token: token.clone(),
        };
        let page = cluster
            .with_jobs(|mut c| {
                let r = req.clone();
                async move { c.list_jobs(r).await }
            })
            .await?
            .into_inner();
        all.extend(page.jobs);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        token = page.next_page_token;
    }
}

/// Runs a `job` subcommand.
pub async fn run(cluster: &Cluster, cmd: JobCommand, out: Output) -> anyhow::Result<()> {
    match cmd {
        JobCommand::Add { id, flags } => {
            if flags.schedule.is_none() && flags.after.is_none() {
                bail!("--schedule (or --after JOB) is required");
            }
            if flags.shell.is_none() && flags.http.is_none() && flags.worker.is_none() {
                bail!("give --shell CMD, --http URL or --worker QUEUE:FUNCTION");
            }
            let mut spec = pb::JobSpec {
                id,
                ..Default::default()
            };
            flags.apply(&mut spec)?;
            let req = pb::CreateJobRequest {
                job: Some(spec),
                on_conflict: pb::OnConflict::Fail as i32,
            };
            let job = cluster
                .with_jobs(|mut c| {
                    let r = req.clone();
                    async move { c.create_job(r).await }
                })
                .await?;
            print_job(&job.into_inner(), out);
        }
        JobCommand::List { labels } => {
            let all = all_jobs(cluster, selector(&labels)?).await?;
            match out {
                Output::Json | Output::Jsonl => println!(
                    "{}",
                    serde_json::Value::Array(all.iter().map(job_json).collect())
                ),
                Output::Text => all.iter().for_each(|j| print_job(j, out)),
            }
        }
        JobCommand::Get { id } => {
            let job = cluster
                .with_jobs(|mut c| {
                    let id = id.clone();
                    async move { c.get_job(pb::GetJobRequest { id }).await }
                })
                .await?;
            print_job(&job.into_inner(), out);
        }
        JobCommand::Update { id, flags } => {
            let current = cluster
                .with_jobs(|mut c| {
                    let id = id.clone();
                    async move { c.get_job(pb::GetJobRequest { id }).await }
                })
                .await?
                .into_inner();
            let mut spec = current.spec.clone().context("job has no spec")?;
            flags.apply(&mut spec)?;
            let req = pb::UpdateJobRequest {
                job: Some(spec),
                expected_version: current.version,
            };
            let job = cluster
                .with_jobs(|mut c| {
                    let r = req.clone();
                    async move { c.update_job(r).await }
                })
                .await?;
            print_job(&job.into_inner(), out);
        }
        JobCommand::Delete { id } => {
            cluster
                .with_jobs(|mut c| {
                    let id = id.clone();
                    async move {
                        c.delete_job(pb::DeleteJobRequest {
                            id,
                            expected_version: 0,
                        })
                        .await
                    }
                })
                .await?;
            match out {
                Output::Json | Output::Jsonl => println!("{}", serde_json::json!({"deleted": id})),
                Output::Text => println!("deleted {id}"),
            }
        }
        JobCommand::Pause { id, labels } | JobCommand::Resume { id, labels }
            if id.is_some() != labels.is_empty() =>
        {
            let _ = (id, labels);
            bail!("give a job id or --label KEY=VALUE (one of them)");
        }
        JobCommand::Pause { id, labels } => pause(cluster, id, labels, true, out).await?,
        JobCommand::Resume { id, labels } => pause(cluster, id, labels, false, out).await?,
        JobCommand::Run { id } => {
            let run = cluster
                .with_jobs(|mut c| {
                    let id = id.clone();
                    async move { c.run_job_now(pb::RunJobNowRequest { id }).await }
                })
                .await?;
            print_runs(&[run.into_inner()], out);
        }
        JobCommand::Graph { dot } => {
            let edges: Vec<(String, String, bool)> = all_jobs(cluster, BTreeMap::new())
                .await?
                .iter()
                .filter_map(|j| {
                    let spec = j.spec.as_ref()?;
                    match spec.schedule.as_ref()?.kind.as_ref()? {
                        pb::schedule::Kind::After(a) => {
                            Some((a.job_id.clone(), spec.id.clone(), a.on_finished))
                        }
                        _ => None,
                    }
                })
                .collect();
            let on = |f: bool| if f { "finished" } else { "succeeded" };
            if dot {
                println!("digraph jobs {{");
                for (up, down, f) in &edges {
                    println!("  \"{up}\" -> \"{down}\" [label=\"{}\"];", on(*f));
                }
                println!("}}");
            } else if edges.is_empty() {
                println!("no dependent jobs");
            } else {
                for (up, down, f) in &edges {
                    println!("{up} -> {down} (on {})", on(*f));
                }
            }
        }
        JobCommand::Backfill { id, from, to } => {
            let req = pb::BackfillJobRequest {
                id,
                from: Some(timestamp("--from", &from)?),
                to: Some(timestamp("--to", &to)?),
            };
            let r = cluster
                .with_jobs(|mut c| {
                    let r = req.clone();
                    async move { c.backfill_job(r).await }
                })
                .await?
                .into_inner();
            match out {
                Output::Json | Output::Jsonl => println!(
                    "{}",
                    serde_json::json!({"created": r.created, "existing": r.existing})
                ),
                Output::Text => println!(
                    "{} occurrences created, {} existed already",
                    r.created, r.existing
                ),
            }
        }
    }
    Ok(())
}

async fn pause(
    cluster: &Cluster,
    id: Option<String>,
    labels: Vec<String>,
    paused: bool,
    out: Output,
) -> anyhow::Result<()> {
    let target = match id {
        Some(id) => pb::pause_request::Target::JobId(id),
        None => pb::pause_request::Target::Labels(pb::LabelSelector {
            r#match: selector(&labels)?,
        }),
    };
    let req = pb::PauseRequest {
        target: Some(target),
    };
    let r = cluster
        .with_jobs(|mut c| {
            let r = req.clone();
            async move {
                if paused {
                    c.pause_jobs(r).await
                } else {
                    c.resume_jobs(r).await
                }
            }
        })
        .await?
        .into_inner();
    match out {
        Output::Json | Output::Jsonl => println!("{}", serde_json::json!({"affected": r.affected})),
        Output::Text => println!(
            "{} job(s) {}",
            r.affected,
            if paused { "paused" } else { "resumed" }
        ),
    }
    Ok(())
}

fn run_json(r: &pb::Run) -> serde_json::Value {
    serde_json::json!({
        "job_id": r.job_id,
        "occurrence_id": r.occurrence_id,
        "scheduled_at": ts_json(&r.scheduled_at),
        "attempt": r.attempt,
        "fencing_token": r.fencing_token,
        "node_id": r.node_id,
        "state": pb::RunState::try_from(r.state).map(|s| s.as_str_name().trim_start_matches("RUN_STATE_").to_lowercase()).unwrap_or_default(),
        "started_at": ts_json(&r.started_at),
        "finished_at": ts_json(&r.finished_at),
        "exit_code": r.exit_code,
        "reason": r.reason,
        "cause": cause_name(r.cause),
    })
}

/// The snake-case name of a run's typed not-run cause (`null` when none).
pub(crate) fn cause_name(cause: i32) -> Option<String> {
    pb::NotRunCause::try_from(cause)
        .ok()
        .filter(|c| *c != pb::NotRunCause::Unspecified)
        .map(|c| {
            c.as_str_name()
                .trim_start_matches("NOT_RUN_CAUSE_")
                .to_lowercase()
        })
}

fn print_runs(runs: &[pb::Run], out: Output) {
    match out {
        Output::Json | Output::Jsonl => println!(
            "{}",
            serde_json::Value::Array(runs.iter().map(run_json).collect())
        ),
        Output::Text => {
            for r in runs {
                let v = run_json(r);
                println!(
                    "{}  {:<10} attempt {} token {} node {}  exit {}  {}",
                    r.occurrence_id,
                    v["state"].as_str().unwrap_or(""),
                    r.attempt,
                    r.fencing_token,
                    r.node_id,
                    v["exit_code"],
                    r.reason
                );
            }
        }
    }
}

/// `runs [JOB_ID] [--since] [--state]`.
pub async fn runs(
    cluster: &Cluster,
    job: Option<String>,
    since: Option<String>,
    state: Option<String>,
    out: Output,
) -> anyhow::Result<()> {
    let state = match state.as_deref() {
        None => 0,
        Some(s) => match store::model::RunState::parse(s) {
            Some(st) => node::api::convert::run_state_to_pb(st) as i32,
            None => bail!(
                "--state: {s:?} is not one of armed, running, succeeded, failed, timed_out, cancelled, missed, skipped"
            ),
        },
    };
    let req = pb::ListRunsRequest {
        job_id: job.unwrap_or_default(),
        since: since
            .as_deref()
            .map(|s| timestamp("--since", s))
            .transpose()?,
        until: None,
        state,
        limit: 0,
    };
    let r = cluster
        .with_jobs(|mut c| {
            let r = req.clone();
            async move { c.list_runs(r).await }
        })
        .await?
        .into_inner();
    print_runs(&r.runs, out);
    Ok(())
}

/// `events [--follow]`: events are a live stream, not stored; without
/// --follow, prints what arrives within `wait`.
pub async fn events(
    cluster: &Cluster,
    follow: bool,
    wait: std::time::Duration,
    out: Output,
) -> anyhow::Result<()> {
    let ch = cluster.channel().await?;
    let mut c = proto::v1::job_service_client::JobServiceClient::new(ch);
    let mut stream = c
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .map_err(status_error)?
        .into_inner();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let next = if follow {
            stream.message().await
        } else {
            match tokio::time::timeout_at(deadline, stream.message()).await {
                Ok(m) => m,
                Err(_) => return Ok(()),
            }
        };
        let Some(e) = next.map_err(status_error)? else {
            return Ok(());
        };
        let kind = pb::EventKind::try_from(e.kind)
            .map(|k| {
                k.as_str_name()
                    .trim_start_matches("EVENT_KIND_")
                    .to_lowercase()
            })
            .unwrap_or_default();
        match out {
            Output::Json | Output::Jsonl => println!(
                "{}",
                serde_json::json!({"kind": kind, "at": ts_json(&e.at), "job_id": e.job_id, "occurrence_id": e.occurrence_id,
                                   "node_id": e.node_id, "log_index": e.log_index, "detail": e.detail})
            ),
            Output::Text => println!(
                "{} {:<22} {} {} {}",
                ts_json(&e.at).as_str().unwrap_or(""),
                kind,
                e.job_id,
                e.occurrence_id,
                e.detail
            ),
        }
    }
}
