//! `unjustified_record`: every occurrence the cluster recorded as not run
//! (missed, skipped, cancelled) must say why with a typed cause, and the
//! cause must be one the job's policy and the run's events allow. A bug
//! that records an occurrence instead of running it thus fails the check,
//! even though the record "accounts for" the occurrence.
//!
//! The rules, by cause (`store::model::NotRunCause`):
//! - `misfire_grace`, `coalesced`, `backlog_cut`, `backlog_full`,
//!   `job_removed`: the cluster was late, which in a chaos run needs a
//!   fault near the instant (from a lease before it to its misfire grace
//!   and `slack_ms` after), or a change of the job then (created, paused,
//!   resumed, updated, deleted: within the checker's margins);
//! - `no_worker`: the same, and the job runs on a worker;
//! - `max_instances`, `overlap_skip`, `buffer_full`: the job's overlap
//!   policy is `allow`, `skip`, `buffer_one` respectively, and a fault or a
//!   change was near (the workload's runs are quick: only a fault makes one
//!   overlap the next instant), or an earlier occurrence of the job reached
//!   the sink at or after this instant (it really ran across it);
//! - `deleted`: the job was deleted (acknowledged or not);
//! - `updated`: the job was updated;
//! - `paused`: a pause of the job was answered after the instant came due
//!   (the leader held the instant, and the pause recorded it);
//! - `replaced`: the job's overlap policy is `replace`.
//!
//! A `max_instances_reached` event carries no cause; the occurrence's
//! `OccurrenceSkipped` record does, and is the one judged.

use std::collections::BTreeMap;

use crate::history::{History, JobRecord, Ms, Recorded};

use super::{CheckParams, Kind, Outcome, Violation, parse_occurrence};

/// The longest a job with no misfire grace is taken to run late after a
/// fault (a backlog after the whole cluster stopped).
const NO_GRACE_WINDOW_MS: Ms = 60_000;

pub(super) fn check_records(
    h: &History,
    jobs: &std::collections::HashMap<&str, &JobRecord>,
    p: &CheckParams,
    out: &mut Outcome,
) {
    // One verdict per occurrence: the record with a cause wins.
    let mut by_occ: BTreeMap<&str, Vec<&Recorded>> = BTreeMap::new();
    for r in &h.recorded {
        if r.occurrence_id.is_empty()
            || !matches!(r.state.as_str(), "missed" | "skipped" | "cancelled")
        {
            continue;
        }
        by_occ.entry(r.occurrence_id.as_str()).or_default().push(r);
    }
    for (occ, records) in by_occ {
        let Some(r) = records
            .iter()
            .find(|r| !r.cause.is_empty())
            .or_else(|| records.first())
        else {
            continue;
        };
        let Some(job) = jobs.get(r.job_id.as_str()) else {
            continue; // an unknown job: check_expected's
        };
        let Some((_, due)) = parse_occurrence(occ) else {
            continue;
        };
        if let Some(why) = unjustified(h, job, r, due, p) {
            out.violations.push(Violation {
                kind: Kind::UnjustifiedRecord,
                job_id: r.job_id.clone(),
                occurrence_id: Some(occ.to_string()),
                detail: format!(
                    "recorded {} (cause {:?}, reason {:?}): {why}",
                    r.state, r.cause, r.reason
                ),
            });
        }
    }
}

/// Why record `r` of `job` at instant `due` is not justified, if it is not.
fn unjustified(
    h: &History,
    job: &JobRecord,
    r: &Recorded,
    due: Ms,
    p: &CheckParams,
) -> Option<String> {
    let v = job.versions.first()?;
    let grace = v
        .misfire_grace_ms
        .map_or(NO_GRACE_WINDOW_MS, |g| g as Ms)
        .max(1_000);
    let from = due - p.lease_ms - p.margin_after_ms;
    let to = due + grace + p.slack_ms;
    let fault = h
        .faults
        .iter()
        .any(|f| f.from_ms <= to && f.to_ms + p.slack_ms >= from);
    let change =
        changes(job).any(|t| t >= due - p.margin_before_ms && t <= due + p.margin_after_ms);
    let late = fault || change;
    let ran_across = h.deliveries.iter().any(|d| {
        d.job_id == job.id
            && d.received_ms >= due
            && parse_occurrence(&d.occurrence_id).is_some_and(|(_, at)| at < due)
    });
    let needs = |ok: bool, what: &str| (!ok).then(|| what.to_string());
    let policy = |want: &str| {
        needs(
            v.overlap.is_empty() || v.overlap == want,
            &format!("the job's overlap policy is {:?}, not {want:?}", v.overlap),
        )
    };
    let nothing_late = "no fault and no change of the job near the instant made the cluster late";
    match r.cause.as_str() {
        "" => Some("no typed cause".into()),
        "misfire_grace" | "coalesced" | "backlog_cut" | "backlog_full" | "job_removed" => {
            needs(late, nothing_late)
        }
        "no_worker" => needs(v.worker, "not a worker job").or_else(|| needs(late, nothing_late)),
        "max_instances" | "overlap_skip" | "buffer_full" => {
            let want = match r.cause.as_str() {
                "max_instances" => "allow",
                "overlap_skip" => "skip",
                _ => "buffer_one",
            };
            policy(want).or_else(|| {
                needs(
                    late || ran_across,
                    "no earlier run ran across the instant, and no fault or change was near",
                )
            })
        }
        "deleted" => needs(
            job.deleted.is_some() || job.uncertain_from.is_some(),
            "the job was never deleted",
        ),
        "updated" => needs(
            job.versions.len() > 1 || job.uncertain_from.is_some(),
            "the job was never updated",
        ),
        "paused" => needs(
            job.uncertain_from.is_some()
                || job.paused.iter().any(|s| due <= s.hi + p.margin_after_ms),
            "no pause of the job was answered after the instant came due",
        ),
        "replaced" => policy("replace"),
        other => Some(format!("unknown cause {other:?}")),
    }
}

/// The instants at which requests changed the job (answered), as the
/// workload saw them.
fn changes(job: &JobRecord) -> impl Iterator<Item = Ms> + '_ {
    job.windows
        .iter()
        .flat_map(|w| [Some(w.from), w.to])
        .flatten()
        .flat_map(|s| [s.lo, s.hi])
        .chain(job.created.iter().flat_map(|s| [s.lo, s.hi]))
        .chain(job.deleted.iter().flat_map(|s| [s.lo, s.hi]))
        .chain(job.uncertain_from)
}
