//! The exactly-once checker: a [`History`] in, violations and figures out.
//! Pure (no clock, no I/O), so its tests feed it hand-built histories.
//!
//! What each check asserts (docs/guarantees.md, "G1 to G5"), and what it
//! can catch:
//! - **Re-runs** (G2; `unexplained_rerun`): every delivery of an
//!   occurrence under a second token is a re-run, and each must be
//!   explained by a retry of a failed attempt within the job's policy or
//!   by a fault that hit the earlier attempt's node (and, when that node
//!   was only cut off, came a lease before the re-run); see
//!   [`check_reruns`] for the rules. This is the check that sees the
//!   scheduler start an occurrence twice without cause, whether or not
//!   the sink kept both effects.
//! - **Duplicates** (`duplicate_effect`, `duplicate_start`): at most one
//!   accepted effect per occurrence, and no attempt (token) delivered
//!   twice. The first re-applies the sink's own rule (the sink refuses a
//!   second effect), so it can only catch a sink that broke its rule; the
//!   second catches a node or worker that sent one attempt twice (a start
//!   repeated after a restart, say).
//! - **Fencing** (`stale_token_accepted`, `token_reused`): a job's accepted
//!   effects carry strictly increasing tokens, and no token serves two
//!   occurrences. The first, again, re-applies the sink's rule (a second
//!   line behind the sink); the second catches the store issuing a token
//!   twice.
//! - **Timing** (`early_start`): no attempt reaches the sink before its
//!   due instant (jitter included).
//! - **Schedule** (`missing_occurrence`, `unexpected_occurrence`,
//!   `over_max_runs`): every occurrence that the schedule engine says was
//!   due while the job was certainly active reached the sink or was
//!   recorded as not run with a reason (G3), or recorded as failed while a
//!   fault was on (a worker or node lost in mid-run, before the effect);
//!   and nothing reached it that the schedule never named, nor more than
//!   max_runs. The engine is the store's own, with the job's exclusion
//!   calendars: a job whose calendar excludes the run's days must never
//!   fire. So are every instant of an acknowledged backfill's range, and,
//!   for a dependent job (`after`), one occurrence per run of its upstream
//!   that ended while the dependent was active (on success only, unless it
//!   runs after any ending): `<dependent>@<upstream's instant>`, reaching
//!   the sink after the upstream's run did, never for an upstream instant
//!   that did not run.
//! - **Jobs** (`lost_job`): acknowledged jobs exist at the end,
//!   acknowledged deletes stay deleted (G4).
//! - **Leaders** (`two_leaders`): at most one leader per term, as sampled.
//!
//! The windows in which a job was active are only known up to the span of
//! the request that changed them, so expectations start `margin_after_ms`
//! after an activating request was answered and end `margin_before_ms`
//! before a deactivating one was sent: occurrences in between are allowed
//! but not required.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::model::time::rfc3339_ms;
use store::schedule::{Bounds, Schedule, jitter_ms};

use store::schedule::ScheduleSpec;
use store::schedule::exclude::Exclusion;

use crate::history::{
    Delivery, FaultSpan, FinalJob, History, JobRecord, Ms, Recorded, SpecVersion,
};

/// Margins of the checker, in milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CheckParams {
    /// Expectations start this long after an activating request's answer.
    pub margin_after_ms: Ms,
    /// And end this long before a deactivating request was sent, or
    /// before the run's end.
    pub margin_before_ms: Ms,
    /// An occurrence up to this far outside a job's lifetime is still
    /// plausible (commit times are uncertain, a node's clock may be off).
    pub slack_ms: Ms,
    /// The nodes' lease (`clock/lease.rs`: `LEASE_ELECTIONS` times the
    /// election timeout maximum). The leader moves an attempt off a silent
    /// node only once it has not heard from it for its lease plus 500 ms
    /// (`firing/leader.rs`, `reassignments`), so a re-run blamed on a node
    /// that was cut off or stopped comes at least this long after the
    /// fault began. Conservative: the 500 ms margin is not counted (it
    /// covers the age of the last heartbeat, 100 ms, and the harness's
    /// timing). Default: the harness's nodes' lease.
    pub lease_ms: Ms,
    /// A fault explains a re-run only if it had not been healed for longer
    /// than this when the earlier attempt reached the sink (a node
    /// SIGSTOPped in mid-start sends its request when continued).
    pub fault_slack_ms: Ms,
}

impl Default for CheckParams {
    fn default() -> Self {
        CheckParams {
            margin_after_ms: 2_000,
            margin_before_ms: 4_000,
            slack_ms: 10_000,
            lease_ms: crate::harness::LEASE_MS as Ms,
            fault_slack_ms: 2_000,
        }
    }
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Two accepted effects for one occurrence.
    DuplicateEffect,
    /// One attempt (token) reached the sink twice.
    DuplicateStart,
    /// An accepted effect whose token is not above the job's previous one.
    StaleTokenAccepted,
    /// One token on two occurrences.
    TokenReused,
    /// An attempt reached the sink before its due instant.
    EarlyStart,
    /// Due while the job was active, never delivered, no record why.
    MissingOccurrence,
    /// An occurrence the schedule never named (or of an unknown job).
    UnexpectedOccurrence,
    /// More occurrences than max_runs.
    OverMaxRuns,
    /// An acknowledged job (or delete) did not survive.
    LostJob,
    /// Two leaders in one term.
    TwoLeaders,
    /// An occurrence started again under a new token, with neither a
    /// retry nor a fault to explain it.
    UnexplainedRerun,
    /// An occurrence recorded as not run with no typed cause, or with one
    /// that the job's policy and the run's events do not allow.
    UnjustifiedRecord,
}

impl Kind {
    /// Safety (must never happen) rather than liveness (must happen in time).
    pub fn is_safety(self) -> bool {
        !matches!(self, Kind::MissingOccurrence | Kind::UnjustifiedRecord)
    }
}

/// One violation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Violation {
    pub kind: Kind,
    pub job_id: String,
    /// The occurrence concerned, when there is one.
    pub occurrence_id: Option<String>,
    pub detail: String,
}

/// Lateness percentiles, in ms (receive time minus due instant).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Lateness {
    pub count: usize,
    pub p50: Option<Ms>,
    pub p90: Option<Ms>,
    pub p99: Option<Ms>,
    pub p999: Option<Ms>,
    pub max: Option<Ms>,
}

/// Time to recover after one heal: until the first accepted effect of an
/// occurrence scheduled at or after the heal.
#[derive(Clone, Debug, Serialize)]
pub struct Recovery {
    pub healed_at_ms: Ms,
    pub recovered_ms: Option<Ms>,
}

/// Counts of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub deliveries: usize,
    pub accepted: usize,
    /// Refused: the occurrence already had its effect.
    pub refused_duplicate: usize,
    /// Refused: a token below the job's highest accepted one.
    pub refused_stale: usize,
    /// Occurrences whose every delivery was refused as stale: run by the
    /// scheduler, but without effect under the sink rule (a later
    /// occurrence's reassignment carried a higher token).
    pub refused_only_occurrences: usize,
    pub occurrences_delivered: usize,
    pub expected: usize,
    pub expected_delivered: usize,
    pub expected_recorded: usize,
    /// Expected, no effect at the sink, recorded failed or timed out while
    /// a fault was on (its worker or node lost in mid-run, no retry left).
    pub expected_failed: usize,
    pub recorded_not_run: usize,
    pub jobs: usize,
    pub leader_samples: usize,
    pub terms_seen: usize,
    /// Deliveries of an occurrence under a token after its first one
    /// (by token order): each is one re-run.
    pub reruns: usize,
    /// Re-runs explained, per cause: the name of the fault kind, or
    /// `retry` (a retry within the job's policy after the sink refused the
    /// earlier attempt, which the HTTP executor counts as a failure).
    pub reruns_explained: BTreeMap<String, usize>,
    /// Re-runs nothing explains (each is an `unexplained_rerun`).
    pub reruns_unexplained: usize,
}

/// The checker's answer.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub violations: Vec<Violation>,
    pub counts: Counts,
    pub lateness: Lateness,
    pub recoveries: Vec<Recovery>,
}

impl Outcome {
    /// Violations of one kind.
    pub fn of(&self, kind: Kind) -> Vec<&Violation> {
        self.violations.iter().filter(|v| v.kind == kind).collect()
    }

    /// Safety violations (everything but missing occurrences).
    pub fn safety(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(|v| v.kind.is_safety())
    }
}

/// `job@instant` split, with the instant in ms.
pub fn parse_occurrence(id: &str) -> Option<(&str, Ms)> {
    let (job, at) = id.rsplit_once('@')?;
    let t = DateTime::parse_from_rfc3339(at).ok()?;
    Some((job, t.timestamp_millis()))
}

/// The occurrence id of `job` at `at`, as docs/guarantees.md ("Words used
/// here") fixes it.
pub fn occurrence_id(job: &str, at: Ms) -> String {
    format!("{job}@{}", rfc3339_ms(at))
}

/// A backlog record's range: "... occurrences from A up to B were not created".
fn parse_backlog_range(reason: &str) -> Option<(Ms, Ms)> {
    let rest = reason.split_once("occurrences from ")?.1;
    let (a, rest) = rest.split_once(" up to ")?;
    let b = rest.split_whitespace().next()?;
    let a = DateTime::parse_from_rfc3339(a).ok()?.timestamp_millis();
    let b = DateTime::parse_from_rfc3339(b).ok()?.timestamp_millis();
    Some((a, b))
}

fn ms_to_dt(ms: Ms) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

/// A compiled spec version.
struct Compiled<'a> {
    spec: &'a SpecVersion,
    schedule: Option<Schedule>,
    seed: u64,
}

/// The run's exclusion calendars, compiled, by name.
type Calendars = HashMap<String, std::sync::Arc<Exclusion>>;

fn compile_calendars(h: &History) -> Calendars {
    h.calendars
        .iter()
        .filter_map(|c| {
            Exclusion::compile(&c.tz, &c.dates, &c.ranges, &c.crons)
                .ok()
                .map(|x| (c.name.clone(), std::sync::Arc::new(x)))
        })
        .collect()
}

impl Compiled<'_> {
    /// A spec whose calendar is unknown compiles to no schedule: it
    /// expects nothing, and anything it delivers is flagged.
    fn new<'a>(job_id: &str, spec: &'a SpecVersion, calendars: &Calendars) -> Compiled<'a> {
        let bounds = Bounds {
            start: spec.start_ms.map(ms_to_dt),
            end: spec.end_ms.map(ms_to_dt),
        };
        let exclusions: Option<Vec<_>> = spec
            .exclude_calendars
            .iter()
            .map(|n| calendars.get(n).cloned())
            .collect();
        let schedule = Schedule::compile(&spec.schedule, &spec.tz, bounds)
            .ok()
            .zip(exclusions)
            .map(|(s, x)| s.with_exclusions(x));
        Compiled {
            spec,
            schedule,
            seed: store::schedule::job_seed(job_id),
        }
    }

    /// Instants in `(from, to]`.
    fn instants(&self, from: Ms, to: Ms) -> Vec<Ms> {
        let Some(s) = &self.schedule else {
            return Vec::new();
        };
        s.upcoming(ms_to_dt(from), self.seed)
            .map(|t| t.timestamp_millis())
            .take_while(|&t| t <= to)
            .take(1_000_000)
            .collect()
    }

    fn names(&self, at: Ms) -> bool {
        self.schedule
            .as_ref()
            .and_then(|s| s.next_after(ms_to_dt(at - 1), self.seed))
            .is_some_and(|t| t.timestamp_millis() == at)
    }
}

/// Runs every check over `h`.
pub fn check(h: &History, p: &CheckParams) -> Outcome {
    let mut out = Outcome::default();
    let jobs: HashMap<&str, &JobRecord> = h.jobs.iter().map(|j| (j.id.as_str(), j)).collect();
    let calendars = compile_calendars(h);
    let compiled: HashMap<&str, Vec<Compiled>> = h
        .jobs
        .iter()
        .map(|j| {
            let c = j
                .versions
                .iter()
                .map(|v| Compiled::new(&j.id, v, &calendars))
                .collect();
            (j.id.as_str(), c)
        })
        .collect();
    let mut by_occ: BTreeMap<&str, Vec<&Delivery>> = BTreeMap::new();
    for d in &h.deliveries {
        by_occ.entry(d.occurrence_id.as_str()).or_default().push(d);
    }

    check_effects(h, &by_occ, &mut out);
    check_reruns(h, &jobs, &by_occ, p, &mut out);
    records::check_records(h, &jobs, p, &mut out);
    check_tokens(h, &mut out);
    check_timing(h, &jobs, &compiled, &by_occ, p, &mut out);
    check_expected(h, &compiled, &by_occ, p, &mut out);
    check_jobs(h, &mut out);
    check_leaders(h, &mut out);
    stats(h, &jobs, &by_occ, &mut out);
    out.violations.sort();
    out
}

/// Duplicates: two accepted effects, or one token twice, per occurrence.
fn check_effects(h: &History, by_occ: &BTreeMap<&str, Vec<&Delivery>>, out: &mut Outcome) {
    let _ = h;
    for (occ, ds) in by_occ {
        let job = ds.first().map_or(String::new(), |d| d.job_id.clone());
        let accepted = ds.iter().filter(|d| d.accepted).count();
        if accepted > 1 {
            out.violations.push(Violation {
                kind: Kind::DuplicateEffect,
                job_id: job.clone(),
                occurrence_id: Some(occ.to_string()),
                detail: format!(
                    "{accepted} accepted effects, tokens {:?}",
                    ds.iter()
                        .filter(|d| d.accepted)
                        .map(|d| d.fencing_token)
                        .collect::<Vec<_>>()
                ),
            });
        }
        let mut seen = BTreeSet::new();
        for d in ds {
            if !seen.insert(d.fencing_token) {
                out.violations.push(Violation {
                    kind: Kind::DuplicateStart,
                    job_id: job.clone(),
                    occurrence_id: Some(occ.to_string()),
                    detail: format!(
                        "token {} (attempt {}, node {}) reached the sink twice",
                        d.fencing_token, d.attempt, d.node_id
                    ),
                });
            }
        }
    }
}

/// One attempt as a violation's detail names it.
fn attempt_desc(d: &Delivery) -> String {
    format!(
        "token {} (attempt {}, node {}, received {} = {} ms, {})",
        d.fencing_token,
        d.attempt,
        d.node_id,
        rfc3339_ms(d.received_ms),
        d.received_ms,
        if d.accepted { "accepted" } else { "refused" }
    )
}

/// What explains one re-run.
enum Cause<'a> {
    /// A retry after the sink refused the earlier attempt.
    Retry,
    Fault(&'a FaultSpan),
}

/// Re-runs: every occurrence's deliveries under distinct tokens, taken in
/// token order (the order in which the store made the attempts; a stale
/// attempt may reach the sink after its successor), one delivery per token
/// (a token delivered twice is `duplicate_start`'s). Each attempt after the
/// first is a re-run of the one before it, `prev`, and is explained when:
///
/// - **retry**: the job's policy has retries left (`max_retries` counts
///   the re-runs explained as retries so far), the re-run came after
///   `prev` and carries a higher attempt number, and `prev` failed as the
///   sink saw it: it was refused, and an HTTP job counts the sink's 409 as
///   a failure. The test worker reports success whatever the sink said, and
///   the workload's jobs fail in no other way (no timeouts, no failing
///   functions, the sink always answers), so any other retry needs a fault
///   (below);
/// - **a fault on `prev`'s node**: a node fault (not a worker fault) whose
///   `nodes` include `prev.node_id`, which began before the re-run reached
///   the sink and was healed no earlier than `fault_slack_ms` before `prev`
///   did, and either
///   - the re-run came at least `lease_ms` after the fault began: the
///     leader reassigns (under a new token) only the attempts of a node
///     silent past its lease, and fails a running one, which its policy may
///     retry (`store/src/state/attempts.rs`, `reassign`); or
///   - the fault ends the node's process (`Fault::crashes_node`), the job
///     has retries left and the attempt number is higher: the restarted
///     node reports its unfinished attempt failed (`Runner::recover`) and
///     the retry may come well within a lease;
/// - **a worker fault**, for a worker job: a kill-worker or stop-worker
///   whose worker held its session with `prev`'s node, or whose node the
///   harness could not tell (then it explains a re-run of any worker job,
///   which is weaker), with the same timing. Its node fails the lost
///   attempt after the worker's lease (retried under the policy) or moves
///   an armed one to a node that still has a worker.
///
/// A fault on the node that led when `prev` ran counts as one on `prev`'s
/// node when it cuts the leader's links without ending its process (see
/// `on_node` below).
///
/// Attempt numbers (`SCHEDULER_ATTEMPT`) are 1-based and count every
/// attempt of the occurrence, whatever made it: a reassignment takes the
/// moved attempt's number + 1, a retry the number of attempts so far + 1.
/// So a re-run always carries a higher number, and a higher number alone
/// does not tell a retry from a reassignment; only the retry rules need it.
fn check_reruns(
    h: &History,
    jobs: &HashMap<&str, &JobRecord>,
    by_occ: &BTreeMap<&str, Vec<&Delivery>>,
    p: &CheckParams,
    out: &mut Outcome,
) {
    for (occ, ds) in by_occ {
        let mut attempts: BTreeMap<u64, &Delivery> = BTreeMap::new();
        for d in ds {
            attempts
                .entry(d.fencing_token)
                .and_modify(|e| {
                    if d.received_ms < e.received_ms {
                        *e = d;
                    }
                })
                .or_insert(d);
        }
        if attempts.len() < 2 {
            continue;
        }
        let job_id = ds.first().map_or("", |d| d.job_id.as_str());
        let rec = jobs.get(job_id);
        let versions = rec.map_or(&[][..], |r| r.versions.as_slice());
        let max_retries = versions.iter().map(|v| v.max_retries).max().unwrap_or(0);
        let worker = versions.iter().any(|v| v.worker);
        let mut retries = 0u32;
        let attempts: Vec<&Delivery> = attempts.into_values().collect();
        for pair in attempts.windows(2) {
            let (prev, next) = (pair[0], pair[1]);
            out.counts.reruns += 1;
            let retry_left = retries < max_retries && next.attempt > prev.attempt;
            // The faults that may have disturbed prev's node while it ran.
            let in_time = |f: &&FaultSpan| {
                f.from_ms < next.received_ms && f.to_ms >= prev.received_ms - p.fault_slack_ms
            };
            // The leader when prev ran: a fault that cuts the leader's links
            // without ending it (delay, partition, blackhole, one-way, stop)
            // cuts every assignee off from it, as a cut of the assignee
            // would: its start report cannot commit, and the leader counts
            // it silent. (A killed leader's successor hears the assignee.)
            let leader = leader_at(h, prev.received_ms);
            let on_node = |f: &&FaultSpan| {
                f.kind.hits_node()
                    && (f.nodes.contains(&prev.node_id)
                        || (!f.kind.crashes_node() && leader.is_some_and(|l| f.nodes.contains(&l))))
            };
            let on_worker = |f: &&FaultSpan| {
                worker
                    && f.kind.hits_worker()
                    && (f.nodes.is_empty() || f.nodes.contains(&prev.node_id))
            };
            let lease_out = |f: &&FaultSpan| next.received_ms >= f.from_ms + p.lease_ms;
            let cause =
                if retry_left && !worker && !prev.accepted && next.received_ms > prev.received_ms {
                    Some(Cause::Retry)
                } else {
                    // The latest fault that explains it.
                    h.faults
                        .iter()
                        .rev()
                        .filter(in_time)
                        .find(|f| {
                            (on_node(f) && (lease_out(f) || (f.kind.crashes_node() && retry_left)))
                                || on_worker(f)
                        })
                        .map(Cause::Fault)
                };
            let label = match cause {
                Some(Cause::Retry) => {
                    retries += 1;
                    "retry"
                }
                Some(Cause::Fault(f)) => {
                    if f.kind.hits_node() && !lease_out(&f) {
                        retries += 1; // a crash, then a retry
                    }
                    f.kind.name()
                }
                None => {
                    out.counts.reruns_unexplained += 1;
                    // The faults of that time, and why none counts.
                    let near: Vec<String> = h
                        .faults
                        .iter()
                        .filter(in_time)
                        .map(|f| {
                            let why = if f.kind.hits_worker() && !worker {
                                "a worker fault, and this is not a worker job".to_string()
                            } else if !on_node(&f) && !on_worker(&f) {
                                format!("not on node {}", prev.node_id)
                            } else {
                                format!(
                                    "the re-run came {} ms after it began, within the lease ({} ms){}",
                                    next.received_ms - f.from_ms,
                                    p.lease_ms,
                                    if f.kind.crashes_node() {
                                        ", and no retry was left"
                                    } else {
                                        ""
                                    }
                                )
                            };
                            format!(
                                "{} of nodes {:?} from {} to {} ms: {why}",
                                f.kind.name(),
                                f.nodes,
                                f.from_ms,
                                f.to_ms
                            )
                        })
                        .collect();
                    out.violations.push(Violation {
                        kind: Kind::UnexplainedRerun,
                        job_id: job_id.to_string(),
                        occurrence_id: Some(occ.to_string()),
                        detail: format!(
                            "{} re-ran {}; no fault on node {} explains it, nor a retry (max_retries {}, {} used, {} job){}",
                            attempt_desc(next),
                            attempt_desc(prev),
                            prev.node_id,
                            max_retries,
                            retries,
                            if worker { "worker" } else { "http" },
                            if near.is_empty() {
                                String::new()
                            } else {
                                format!("; faults of that time: {}", near.join("; "))
                            }
                        ),
                    });
                    continue;
                }
            };
            *out.counts
                .reruns_explained
                .entry(label.to_string())
                .or_default() += 1;
        }
    }
}

/// Fencing: accepted tokens increase per job; a token names one occurrence.
fn check_tokens(h: &History, out: &mut Outcome) {
    let mut highest: HashMap<&str, (u64, &str)> = HashMap::new();
    let mut owner: HashMap<u64, &str> = HashMap::new();
    let mut ordered: Vec<&Delivery> = h.deliveries.iter().collect();
    // Stable: deliveries received in the same ms keep the sink's order.
    ordered.sort_by_key(|d| d.received_ms);
    for d in ordered {
        if let Some(prev) = owner.insert(d.fencing_token, &d.occurrence_id)
            && prev != d.occurrence_id
        {
            out.violations.push(Violation {
                kind: Kind::TokenReused,
                job_id: d.job_id.clone(),
                occurrence_id: Some(d.occurrence_id.clone()),
                detail: format!("token {} also carried {prev}", d.fencing_token),
            });
        }
        if !d.accepted {
            continue;
        }
        if let Some((top, top_occ)) = highest.get(d.job_id.as_str())
            && d.fencing_token <= *top
        {
            out.violations.push(Violation {
                kind: Kind::StaleTokenAccepted,
                job_id: d.job_id.clone(),
                occurrence_id: Some(d.occurrence_id.clone()),
                detail: format!(
                    "token {} accepted after {top} (of {top_occ})",
                    d.fencing_token
                ),
            });
            continue;
        }
        highest.insert(&d.job_id, (d.fencing_token, &d.occurrence_id));
    }
}

/// Early starts, occurrences the schedule never named, and max_runs.
fn check_timing(
    h: &History,
    jobs: &HashMap<&str, &JobRecord>,
    compiled: &HashMap<&str, Vec<Compiled>>,
    by_occ: &BTreeMap<&str, Vec<&Delivery>>,
    p: &CheckParams,
    out: &mut Outcome,
) {
    let mut per_job: BTreeMap<&str, usize> = BTreeMap::new();
    let failed: BTreeSet<&str> = h
        .recorded
        .iter()
        .filter(|r| ran_and_failed(r))
        .map(|r| r.occurrence_id.as_str())
        .collect();
    for (occ, ds) in by_occ {
        let Some(first) = ds.first() else { continue };
        let unexpected = |detail: String| Violation {
            kind: Kind::UnexpectedOccurrence,
            job_id: first.job_id.clone(),
            occurrence_id: Some(occ.to_string()),
            detail,
        };
        let Some((job, at)) = parse_occurrence(occ).filter(|(j, _)| *j == first.job_id) else {
            out.violations.push(unexpected(format!(
                "malformed occurrence id for job {:?}",
                first.job_id
            )));
            continue;
        };
        let (Some(rec), Some(versions)) = (jobs.get(job), compiled.get(job)) else {
            out.violations
                .push(unexpected(format!("job {job:?} was never registered")));
            continue;
        };
        *per_job.entry(job).or_default() += 1;
        // Due instant: jitter is per occurrence; with several spec
        // versions, the smallest is the earliest allowed start.
        let due = at
            + versions
                .iter()
                .map(|c| jitter_ms(occ, c.spec.jitter_ms) as Ms)
                .min()
                .unwrap_or(0);
        // A dependent's occurrence is due when its upstream's run ends
        // (its instant is the upstream's; no jitter): judged below.
        let dependent = upstream(rec).is_some();
        for d in ds.iter().filter(|_| !dependent) {
            if d.received_ms < due {
                out.violations.push(Violation {
                    kind: Kind::EarlyStart,
                    job_id: job.to_string(),
                    occurrence_id: Some(occ.to_string()),
                    detail: format!(
                        "received {} ms before its due instant (token {}, node {})",
                        due - d.received_ms,
                        d.fencing_token,
                        d.node_id
                    ),
                });
            }
        }
        let born = rec
            .created
            .map(|s| s.lo)
            .or_else(|| rec.windows.first().map(|w| w.from.lo))
            .unwrap_or(Ms::MIN / 2);
        let died = rec.deleted.map_or(Ms::MAX / 2, |s| s.hi);
        let backfilled = rec
            .backfills
            .iter()
            .any(|b| b.from_ms <= at && at <= b.to_ms);
        let plausible = backfilled || (at >= born - p.slack_ms && at <= died + p.slack_ms);
        if let Some((up, _)) = upstream(rec) {
            // A dependent's occurrence follows a run of its upstream at the
            // same instant, and reaches the sink after it.
            let up_occ = occurrence_id(up, at);
            let up_first = by_occ
                .get(up_occ.as_str())
                .and_then(|ds| ds.iter().map(|d| d.received_ms).min());
            if !plausible {
                out.violations.push(unexpected(format!(
                    "scheduled outside the job's lifetime [{born}, {died}] ms"
                )));
            } else if up_first.is_none() && !failed.contains(up_occ.as_str()) {
                out.violations.push(unexpected(format!(
                    "its upstream's occurrence {up_occ} never ran"
                )));
            } else if let Some(first) = up_first
                && let Some(d) = ds.iter().find(|d| d.received_ms < first)
            {
                out.violations.push(Violation {
                    kind: Kind::EarlyStart,
                    job_id: job.to_string(),
                    occurrence_id: Some(occ.to_string()),
                    detail: format!(
                        "received {} ms before its upstream's run {up_occ} reached the sink (token {})",
                        first - d.received_ms,
                        d.fencing_token
                    ),
                });
            }
            continue;
        }
        if !plausible {
            out.violations.push(unexpected(format!(
                "scheduled outside the job's lifetime [{born}, {died}] ms"
            )));
        } else if !versions.iter().any(|c| c.names(at)) {
            out.violations.push(unexpected(
                "no version of the job's schedule names this instant".into(),
            ));
        }
    }
    for rec in &h.jobs {
        let max = rec.versions.first().map_or(0, |v| v.max_runs);
        let n = per_job.get(rec.id.as_str()).copied().unwrap_or(0);
        if rec.versions.len() == 1 && max > 0 && n as u64 > max {
            out.violations.push(Violation {
                kind: Kind::OverMaxRuns,
                job_id: rec.id.clone(),
                occurrence_id: None,
                detail: format!("{n} occurrences reached the sink, max_runs is {max}"),
            });
        }
    }
}

/// A dependent job's upstream and whether it runs after any ending (not
/// only success).
fn upstream(rec: &JobRecord) -> Option<(&str, bool)> {
    match &rec.versions.first()?.schedule {
        ScheduleSpec::After {
            job_id,
            on_finished,
        } => Some((job_id.as_str(), *on_finished)),
        _ => None,
    }
}

/// Whether a record says the occurrence ran and did not succeed (rather
/// than that it did not run).
fn ran_and_failed(r: &Recorded) -> bool {
    matches!(r.state.as_str(), "failed" | "timed_out")
}

/// Every occurrence due while the job was certainly active was delivered
/// or recorded as not run (or as failed, during a fault).
fn check_expected(
    h: &History,
    compiled: &HashMap<&str, Vec<Compiled>>,
    by_occ: &BTreeMap<&str, Vec<&Delivery>>,
    p: &CheckParams,
    out: &mut Outcome,
) {
    let recorded: BTreeSet<&str> = h
        .recorded
        .iter()
        .filter(|r| !r.occurrence_id.is_empty() && !ran_and_failed(r))
        .map(|r| r.occurrence_id.as_str())
        .collect();
    let failed: BTreeMap<&str, &Recorded> = h
        .recorded
        .iter()
        .filter(|r| ran_and_failed(r))
        .map(|r| (r.occurrence_id.as_str(), r))
        .collect();
    let ranges: Vec<(&str, Ms, Ms)> = h
        .recorded
        .iter()
        .filter(|r| r.occurrence_id.is_empty())
        .filter_map(|r| parse_backlog_range(&r.reason).map(|(a, b)| (r.job_id.as_str(), a, b)))
        .collect();
    let judge = |rec: &JobRecord, at: Ms, out: &mut Outcome| {
        let occ = occurrence_id(&rec.id, at);
        out.counts.expected += 1;
        if by_occ.contains_key(occ.as_str()) {
            out.counts.expected_delivered += 1;
        } else if recorded.contains(occ.as_str())
            || ranges
                .iter()
                .any(|(j, a, b)| *j == rec.id && *a <= at && at <= *b)
        {
            out.counts.expected_recorded += 1;
        } else if failed.contains_key(occ.as_str())
            && h.faults
                .iter()
                .any(|s| s.from_ms <= at + p.slack_ms && s.to_ms >= at - p.fault_slack_ms)
        {
            // It ran and failed before its effect reached the sink:
            // its node or worker died or was stopped in mid-run
            // (kill-worker, stop-worker, a crash), with no retry
            // left. Not silently dropped (the cluster recorded why),
            // but accepted only while a fault was on: the workload's
            // jobs fail in no other way.
            out.counts.expected_failed += 1;
        } else {
            let detail = match failed.get(occ.as_str()) {
                Some(f) => format!(
                    "due while the job was active; recorded {} ({:?}) with no effect at the sink, and no fault was on within {} ms before to {} ms after its instant",
                    f.state, f.reason, p.fault_slack_ms, p.slack_ms
                ),
                None => "due while the job was active; never reached the sink and was not recorded as missed or skipped".into(),
            };
            out.violations.push(Violation {
                kind: Kind::MissingOccurrence,
                job_id: rec.id.clone(),
                occurrence_id: Some(occ),
                detail,
            });
        }
    };
    for rec in &h.jobs {
        let Some(created) = rec.created else { continue };
        let Some(versions) = compiled.get(rec.id.as_str()) else {
            continue;
        };
        let cut = rec.uncertain_from.unwrap_or(Ms::MAX / 2).min(h.run_end_ms);
        // Each instant judged once, though windows and backfills overlap.
        let mut expected: BTreeSet<Ms> = BTreeSet::new();
        let upstream = upstream(rec);
        for w in &rec.windows {
            let Some(c) = versions.get(w.version) else {
                continue;
            };
            let from = w.from.hi + p.margin_after_ms;
            let to = w.to.map_or(cut, |t| t.lo.min(cut)) - p.margin_before_ms;
            if to <= from {
                continue;
            }
            if let Some((up, on_finished)) = upstream {
                // One per upstream run that reached the sink while this
                // job was certainly active (its run ended just after), on
                // success only unless any ending counts.
                let prefix = format!("{up}@");
                for (occ, ds) in by_occ.range(prefix.as_str()..) {
                    let Some((job, at)) = parse_occurrence(occ) else {
                        continue;
                    };
                    if job != up {
                        break;
                    }
                    let first = ds.iter().map(|d| d.received_ms).min().unwrap_or(Ms::MAX);
                    if first >= from && first <= to && (on_finished || !failed.contains_key(*occ)) {
                        expected.insert(at);
                    }
                }
                continue;
            }
            let mut instants = c.instants(from, to);
            if c.spec.max_runs > 0 {
                // Certainly run: fewer than max_runs instants lie between
                // the create request's send and it.
                let first = c.instants(created.lo - 1, to);
                instants.retain(|t| {
                    (first.iter().filter(|&&u| u < *t).count() as u64) < c.spec.max_runs
                });
            }
            expected.extend(instants);
        }
        for b in rec.backfills.iter().filter(|b| b.acknowledged) {
            if let Some(c) = versions.get(b.version) {
                expected.extend(c.instants(b.from_ms - 1, b.to_ms));
            }
        }
        for at in expected {
            judge(rec, at, out);
        }
    }
}

/// Acknowledged creates survive; acknowledged deletes stay done (G4).
fn check_jobs(h: &History, out: &mut Outcome) {
    for rec in &h.jobs {
        if rec.created.is_none() || rec.uncertain_from.is_some() {
            continue;
        }
        let want = if rec.deleted.is_some() {
            FinalJob::Absent
        } else {
            FinalJob::Present
        };
        match h.finals.get(&rec.id) {
            Some(got) if *got == want || *got == FinalJob::Unknown => {}
            got => out.violations.push(Violation {
                kind: Kind::LostJob,
                job_id: rec.id.clone(),
                occurrence_id: None,
                detail: format!(
                    "acknowledged {}, but at the end the job is {got:?}",
                    if want == FinalJob::Absent {
                        "delete"
                    } else {
                        "create"
                    }
                ),
            }),
        }
    }
}

/// At most one leader per term, over every node's answers.
fn check_leaders(h: &History, out: &mut Outcome) {
    let mut per_term: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for s in &h.leaders {
        per_term.entry(s.term).or_default().insert(s.leader);
    }
    for (term, leaders) in &per_term {
        if leaders.len() > 1 {
            out.violations.push(Violation {
                kind: Kind::TwoLeaders,
                job_id: String::new(),
                occurrence_id: None,
                detail: format!("term {term}: leaders {leaders:?}"),
            });
        }
    }
    out.counts.terms_seen = per_term.len();
}

fn percentile(sorted: &[Ms], q: f64) -> Option<Ms> {
    if sorted.is_empty() {
        return None;
    }
    sorted
        .get(((sorted.len() - 1) as f64 * q).round() as usize)
        .copied()
}

fn stats(
    h: &History,
    jobs: &HashMap<&str, &JobRecord>,
    by_occ: &BTreeMap<&str, Vec<&Delivery>>,
    out: &mut Outcome,
) {
    let c = &mut out.counts;
    c.deliveries = h.deliveries.len();
    c.accepted = h.deliveries.iter().filter(|d| d.accepted).count();
    c.occurrences_delivered = by_occ.len();
    c.recorded_not_run = h.recorded.iter().filter(|r| !ran_and_failed(r)).count();
    c.jobs = h.jobs.len();
    c.leader_samples = h.leaders.len();
    // Refusals, re-judged by the sink rule in receive order.
    let mut highest: HashMap<&str, u64> = HashMap::new();
    let mut effect: BTreeSet<&str> = BTreeSet::new();
    let mut ordered: Vec<&Delivery> = h.deliveries.iter().collect();
    ordered.sort_by_key(|d| d.received_ms);
    for d in &ordered {
        if d.accepted {
            effect.insert(&d.occurrence_id);
            highest.insert(&d.job_id, d.fencing_token);
        } else if effect.contains(d.occurrence_id.as_str()) {
            c.refused_duplicate += 1;
        } else {
            c.refused_stale += 1;
        }
    }
    c.refused_only_occurrences = by_occ
        .iter()
        .filter(|(_, ds)| ds.iter().all(|d| !d.accepted))
        .count();
    let mut late: Vec<Ms> = Vec::new();
    let mut firsts: Vec<(Ms, Ms)> = Vec::new(); // (scheduled, received) of effects
    for d in h.deliveries.iter().filter(|d| d.accepted) {
        let Some((job, at)) = parse_occurrence(&d.occurrence_id) else {
            continue;
        };
        let jitter = jobs
            .get(job)
            .and_then(|r| r.versions.iter().map(|v| v.jitter_ms).min())
            .map_or(0, |j| jitter_ms(&d.occurrence_id, j) as Ms);
        late.push(d.received_ms - (at + jitter));
        firsts.push((at, d.received_ms));
    }
    late.sort_unstable();
    out.lateness = Lateness {
        count: late.len(),
        p50: percentile(&late, 0.5),
        p90: percentile(&late, 0.9),
        p99: percentile(&late, 0.99),
        p999: percentile(&late, 0.999),
        max: late.last().copied(),
    };
    out.recoveries = h
        .heals
        .iter()
        .map(|&heal| Recovery {
            healed_at_ms: heal,
            recovered_ms: firsts
                .iter()
                .filter(|(at, _)| *at >= heal)
                .map(|(_, recv)| recv - heal)
                .min(),
        })
        .collect();
}

mod records;
#[cfg(test)]
mod tests;

/// The node that led at `t`, by the latest leader sample at or before it
/// (the highest term among equals).
fn leader_at(h: &History, t: Ms) -> Option<u64> {
    h.leaders
        .iter()
        .filter(|s| s.at_ms <= t && s.leader != 0)
        .max_by_key(|s| (s.at_ms, s.term))
        .map(|s| s.leader)
}
