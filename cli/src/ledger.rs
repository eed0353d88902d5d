//! The ledger: every occurrence with its attempts, exported as JSON lines
//! (`clusterctl runs export`), and checked against itself and the schedule
//! engine (`clusterctl ledger verify FILE`), which needs no cluster: an
//! auditor can run it on the file alone.
//!
//! Lines, each a JSON object with a `type`:
//! - `export`: `since`, `until`, `exported_at` (Unix ms);
//! - `job`: `id`, `schedule` (the store's schedule spec), `time_zone`,
//!   `start_at`, `end_at`, `jitter_ms`, `version`, `state`, `created_at`,
//!   `exclude_calendars`;
//! - `calendar`: `name`, `time_zone`, `dates`, `ranges`, `crons`, `version`
//!   (the days the jobs that name it do not fire on);
//! - `occurrence`: `job_id`, `occurrence_id`, `scheduled_at` (ms), `state`,
//!   `reason`, `cause`, `attempts` (`number`, `fencing_token`, `node_id`, `state`,
//!   `due_at`, `started_at`, `finished_at`, `exit_code`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

use anyhow::{Context, bail};
use proto::time::millis;
use proto::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::client::Cluster;

/// Runs fetched per page.
const PAGE: u32 = 500;
/// Instants nearer the export than this are not expected yet (a run may be
/// on its way).
const SETTLE_MS: i64 = 5_000;
/// Most violations printed.
const SHOWN: usize = 20;

#[derive(Debug, Serialize, Deserialize)]
struct ExportLine {
    since: Option<i64>,
    until: i64,
    exported_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct JobLine {
    id: String,
    schedule: store::schedule::ScheduleSpec,
    time_zone: String,
    start_at: Option<i64>,
    end_at: Option<i64>,
    jitter_ms: u64,
    version: u64,
    state: String,
    created_at: i64,
    /// Older ledgers have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    exclude_calendars: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CalendarLine {
    name: String,
    time_zone: String,
    dates: Vec<String>,
    ranges: Vec<(String, String)>,
    crons: Vec<String>,
    version: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct AttemptLine {
    number: u32,
    fencing_token: u64,
    node_id: u64,
    state: String,
    due_at: Option<i64>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    exit_code: Option<i32>,
}

#[derive(Debug, Serialize, Deserialize)]
struct OccurrenceLine {
    job_id: String,
    occurrence_id: String,
    scheduled_at: i64,
    state: String,
    reason: String,
    /// The typed not-run cause (`misfire_grace`, `max_instances`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cause: Option<String>,
    attempts: Vec<AttemptLine>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Export(ExportLine),
    Job(JobLine),
    Calendar(CalendarLine),
    Occurrence(OccurrenceLine),
}

fn ms(t: &Option<proto::prost_types::Timestamp>) -> Option<i64> {
    t.as_ref().and_then(millis)
}

fn state_name(v: i32) -> String {
    pb::RunState::try_from(v)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("RUN_STATE_")
                .to_lowercase()
        })
        .unwrap_or_default()
}

/// `clusterctl runs export [JOB] --since T1 --until T2`: JSON lines on stdout.
pub async fn export(
    cluster: &Cluster,
    job: Option<String>,
    since: Option<proto::prost_types::Timestamp>,
    until: Option<proto::prost_types::Timestamp>,
) -> anyhow::Result<()> {
    let exported_at = proto::time::now_ms();
    let until_ms = ms(&until).unwrap_or(exported_at).min(exported_at);
    let print = |line: &Line| -> anyhow::Result<()> {
        println!("{}", serde_json::to_string(line)?);
        Ok(())
    };
    print(&Line::Export(ExportLine {
        since: ms(&since),
        until: until_ms,
        exported_at,
    }))?;
    // The jobs, with their schedules in the store's own form.
    for j in crate::job_cmd::all_jobs(cluster, Default::default()).await? {
        let Some(spec) = j.spec.as_ref() else {
            continue;
        };
        if job.as_ref().is_some_and(|id| id != &spec.id) {
            continue;
        }
        let model = node::api::convert::job_spec_from_pb(spec)
            .with_context(|| format!("job {}: its spec", spec.id))?;
        print(&Line::Job(JobLine {
            id: spec.id.clone(),
            schedule: model.schedule,
            time_zone: model.time_zone,
            start_at: model.start_at,
            end_at: model.end_at,
            jitter_ms: model.policies.jitter_ms,
            version: j.version,
            state: pb::JobState::try_from(j.state)
                .map(|s| {
                    s.as_str_name()
                        .trim_start_matches("JOB_STATE_")
                        .to_lowercase()
                })
                .unwrap_or_default(),
            created_at: ms(&j.created_at).unwrap_or(0),
            exclude_calendars: model.exclude_calendars.into(),
        }))?;
    }
    // The calendars, so that the gaps are judged on the days they exclude.
    let calendars = cluster
        .with_calendars(|mut c| async move {
            c.list_calendars(pb::ListCalendarsRequest {})
                .await
                .map(tonic::Response::into_inner)
        })
        .await?;
    for c in calendars.calendars {
        let s = c.spec.unwrap_or_default();
        print(&Line::Calendar(CalendarLine {
            name: s.name,
            time_zone: s.time_zone,
            dates: s.dates,
            ranges: s.ranges.into_iter().map(|r| (r.from, r.to)).collect(),
            crons: s.crons,
            version: c.version,
        }))?;
    }
    // The occurrences, a page at a time, by scheduled instant.
    let mut from = since;
    let mut seen = BTreeSet::new();
    loop {
        let req = pb::ListRunsRequest {
            job_id: job.clone().unwrap_or_default(),
            since: from,
            until: Some(proto::time::timestamp(until_ms + 1)),
            state: 0,
            limit: PAGE,
        };
        let runs = cluster
            .with_jobs(|mut c| {
                let r = req.clone();
                async move { c.list_runs(r).await }
            })
            .await?
            .into_inner()
            .runs;
        let mut new = 0;
        for r in &runs {
            if !seen.insert(r.occurrence_id.clone()) {
                continue;
            }
            new += 1;
            print(&Line::Occurrence(OccurrenceLine {
                job_id: r.job_id.clone(),
                occurrence_id: r.occurrence_id.clone(),
                scheduled_at: ms(&r.scheduled_at).unwrap_or(0),
                state: state_name(r.state),
                reason: r.reason.clone(),
                cause: crate::job_cmd::cause_name(r.cause),
                attempts: r
                    .attempts
                    .iter()
                    .map(|a| AttemptLine {
                        number: a.number,
                        fencing_token: a.fencing_token,
                        node_id: a.node_id,
                        state: a.state.clone(),
                        due_at: ms(&a.due_at),
                        started_at: ms(&a.started_at),
                        finished_at: ms(&a.finished_at),
                        exit_code: a.exit_code,
                    })
                    .collect(),
            }))?;
        }
        // A short page is the last; a page of nothing new cannot advance.
        if (runs.len() as u32) < PAGE || new == 0 {
            break;
        }
        from = runs.last().and_then(|r| r.scheduled_at);
    }
    Ok(())
}

/// What `verify` found.
pub struct Verdict {
    /// Occurrences read.
    pub occurrences: usize,
    /// Jobs read.
    pub jobs: usize,
    /// Jobs whose gaps were checked (never changed since creation).
    pub gap_checked: usize,
    /// What is wrong, one line each.
    pub violations: Vec<String>,
}

/// Checks a ledger: one occurrence per instant, tokens rising within an
/// occurrence and never reused, no attempt started before it was due, and
/// every instant of a job that never changed, in the exported range,
/// delivered or recorded with a reason.
pub fn check(input: impl BufRead) -> anyhow::Result<Verdict> {
    let mut export = None;
    let mut jobs = BTreeMap::new();
    let mut calendars: BTreeMap<String, CalendarLine> = BTreeMap::new();
    let mut occurrences = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(&line).with_context(|| format!("line {}", n + 1))? {
            Line::Export(e) => export = Some(e),
            Line::Job(j) => {
                jobs.insert(j.id.clone(), j);
            }
            Line::Calendar(c) => {
                calendars.insert(c.name.clone(), c);
            }
            Line::Occurrence(o) => occurrences.push(o),
        }
    }
    let Some(export) = export else {
        bail!("no export line: not a ledger written by `clusterctl runs export`");
    };
    let mut v = Vec::new();
    let mut by_instant: BTreeMap<(String, i64), usize> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    let mut tokens: BTreeMap<u64, String> = BTreeMap::new();
    for o in &occurrences {
        if !ids.insert(o.occurrence_id.clone()) {
            v.push(format!(
                "duplicate: occurrence {} appears twice",
                o.occurrence_id
            ));
        }
        let n = by_instant
            .entry((o.job_id.clone(), o.scheduled_at))
            .or_default();
        *n += 1;
        if *n == 2 {
            v.push(format!(
                "duplicate: job {} has two occurrences at {}",
                o.job_id,
                store::model::time::rfc3339_ms(o.scheduled_at)
            ));
        }
        let mut last = None;
        for a in &o.attempts {
            if let Some(prev) = last
                && a.fencing_token <= prev
            {
                v.push(format!(
                    "stale token: {} attempt {} has token {} after {prev}",
                    o.occurrence_id, a.number, a.fencing_token
                ));
            }
            last = Some(a.fencing_token);
            if let Some(other) = tokens.insert(a.fencing_token, o.occurrence_id.clone())
                && other != o.occurrence_id
            {
                v.push(format!(
                    "reused token: {} on {} and {}",
                    a.fencing_token, other, o.occurrence_id
                ));
            }
            if let (Some(started), Some(due)) = (a.started_at, a.due_at)
                && started < due
            {
                v.push(format!(
                    "early: {} attempt {} started {} ms before it was due",
                    o.occurrence_id,
                    a.number,
                    due - started
                ));
            }
        }
        if matches!(o.state.as_str(), "missed" | "skipped")
            && (o.reason.is_empty() || o.cause.is_none())
        {
            v.push(format!(
                "{} is {} without a reason (and its typed cause)",
                o.occurrence_id, o.state
            ));
        }
    }
    // Gaps, against the schedule engine, for jobs that never changed.
    let end = export.until.min(export.exported_at - SETTLE_MS);
    let mut gap_checked = 0;
    for j in jobs.values() {
        if j.version != 1 || j.state == "paused" {
            continue;
        }
        let bounds = store::schedule::Bounds {
            start: j.start_at.map(store::model::time::to_datetime),
            end: j.end_at.map(store::model::time::to_datetime),
        };
        let Ok(schedule) = store::schedule::Schedule::compile(&j.schedule, &j.time_zone, bounds)
        else {
            v.push(format!("job {}: its schedule does not compile", j.id));
            continue;
        };
        // Its calendars' days are not expected. A calendar that changed
        // (version above 1) may have excluded other days earlier in the
        // range: such a job is not checked for gaps, as a changed job is not.
        let mut exclusions = Vec::new();
        let mut judgeable = true;
        for name in &j.exclude_calendars {
            let Some(c) = calendars.get(name) else {
                v.push(format!(
                    "job {} names calendar {name:?}, which the ledger does not hold",
                    j.id
                ));
                judgeable = false;
                continue;
            };
            if c.version != 1 {
                judgeable = false;
                continue;
            }
            match store::schedule::exclude::Exclusion::compile(
                &c.time_zone,
                &c.dates,
                &c.ranges,
                &c.crons,
            ) {
                Ok(x) => exclusions.push(std::sync::Arc::new(x)),
                Err(e) => {
                    v.push(format!("calendar {name}: {}: {}", e.field, e.message));
                    judgeable = false;
                }
            }
        }
        if !judgeable {
            continue;
        }
        let schedule = schedule.with_exclusions(exclusions);
        gap_checked += 1;
        let from = export.since.unwrap_or(i64::MIN).max(j.created_at + 1_000);
        let seed = store::schedule::job_seed(&j.id);
        let mut at = schedule
            .next_after(store::model::time::to_datetime(from - 1), seed)
            .map(store::model::time::from_datetime);
        while let Some(t) = at {
            if t + j.jitter_ms as i64 > end {
                break;
            }
            if !by_instant.contains_key(&(j.id.clone(), t)) {
                v.push(format!(
                    "gap: job {} has no occurrence at {}",
                    j.id,
                    store::model::time::rfc3339_ms(t)
                ));
            }
            at = schedule
                .next_after(store::model::time::to_datetime(t), seed)
                .map(store::model::time::from_datetime);
        }
    }
    Ok(Verdict {
        occurrences: occurrences.len(),
        jobs: jobs.len(),
        gap_checked,
        violations: v,
    })
}

/// `clusterctl ledger verify FILE`: prints the verdict; `Ok(false)` when
/// the ledger is not clean.
pub fn verify(path: &std::path::Path) -> anyhow::Result<bool> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let verdict = check(std::io::BufReader::new(file))?;
    let ok = verdict.violations.is_empty();
    println!(
        "ledger: {} ({} occurrences, {} jobs, {} checked for gaps; jobs changed since creation are not)",
        if ok { "OK" } else { "FAILED" },
        verdict.occurrences,
        verdict.jobs,
        verdict.gap_checked
    );
    for line in verdict.violations.iter().take(SHOWN) {
        println!("  {line}");
    }
    if verdict.violations.len() > SHOWN {
        println!("  ... and {} more", verdict.violations.len() - SHOWN);
    }
    Ok(ok)
}
