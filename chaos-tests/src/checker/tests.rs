//! The checker must flag a single duplicate, gap, stale token, early
//! start, lost job and second leader, each with its occurrence id.

use super::*;
use crate::history::{FaultSpan, LeaderSample, Recorded, Span, Window};
use store::schedule::ScheduleSpec;

/// 2026-01-01T00:00:00Z.
const T0: Ms = 1_767_225_600_000;

fn every_second() -> SpecVersion {
    SpecVersion {
        schedule: ScheduleSpec::Cron("* * * * * *".into()),
        tz: "UTC".into(),
        start_ms: None,
        end_ms: None,
        jitter_ms: 0,
        max_runs: 0,
        max_retries: 0,
        worker: false,
        misfire_grace_ms: Some(1_000),
        overlap: "allow".into(),
        exclude_calendars: Vec::new(),
    }
}

fn job(id: &str) -> JobRecord {
    JobRecord {
        id: id.into(),
        versions: vec![every_second()],
        created: Some(Span {
            lo: T0,
            hi: T0 + 100,
        }),
        windows: vec![Window {
            version: 0,
            from: Span {
                lo: T0,
                hi: T0 + 100,
            },
            to: None,
        }],
        deleted: None,
        paused: Vec::new(),
        backfills: Vec::new(),
        uncertain_from: None,
    }
}

fn delivery(job: &str, at: Ms, token: u64, received: Ms) -> Delivery {
    let occ = occurrence_id(job, at);
    Delivery {
        job_id: job.into(),
        scheduled_at: occ
            .rsplit_once('@')
            .map(|(_, t)| t.to_string())
            .unwrap_or_default(),
        occurrence_id: occ,
        fencing_token: token,
        attempt: 1,
        node_id: 2,
        received_ms: received,
        accepted: true,
    }
}

/// Job `j`, every second for 20 s, each occurrence delivered 5 ms late
/// with increasing tokens; one leader per term.
fn clean() -> History {
    let deliveries = (1..20)
        .map(|k| delivery("j", T0 + k * 1000, 100 * k as u64, T0 + k * 1000 + 5))
        .collect();
    History {
        deliveries,
        jobs: vec![job("j")],
        recorded: Vec::new(),
        leaders: vec![
            LeaderSample {
                at_ms: T0,
                node: 1,
                term: 2,
                leader: 1,
            },
            LeaderSample {
                at_ms: T0,
                node: 2,
                term: 2,
                leader: 1,
            },
            LeaderSample {
                at_ms: T0 + 9000,
                node: 3,
                term: 3,
                leader: 2,
            },
        ],
        finals: [("j".to_string(), FinalJob::Present)].into(),
        heals: vec![T0 + 5_500],
        faults: Vec::new(),
        run_end_ms: T0 + 20_000,
        calendars: Vec::new(),
    }
}

fn at(k: i64) -> Ms {
    T0 + k * 1000
}

#[test]
fn a_clean_history_passes_with_its_figures() {
    let out = check(&clean(), &CheckParams::default());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    // Expected: instants in (T0+2.1 s, T0+16 s].
    assert_eq!(out.counts.expected, 14);
    assert_eq!(out.counts.expected_delivered, 14);
    assert_eq!(out.lateness.p50, Some(5));
    assert_eq!(out.lateness.max, Some(5));
    assert_eq!(out.recoveries[0].recovered_ms, Some(505));
}

#[test]
fn a_duplicate_effect_is_flagged_with_its_occurrence() {
    let mut h = clean();
    h.deliveries.push(delivery("j", at(7), 5000, at(19) + 50));
    let out = check(&h, &CheckParams::default());
    let v = out.of(Kind::DuplicateEffect);
    assert_eq!(v.len(), 1, "{:?}", out.violations);
    assert_eq!(
        v[0].occurrence_id.as_deref(),
        Some("j@2026-01-01T00:00:07.000Z")
    );
}

#[test]
fn an_attempt_delivered_twice_is_a_duplicate_start() {
    let mut h = clean();
    let mut again = delivery("j", at(7), 700, at(7) + 30);
    again.accepted = false; // the sink refused it, but it started twice
    h.deliveries.push(again);
    let out = check(&h, &CheckParams::default());
    let v = out.of(Kind::DuplicateStart);
    assert_eq!(v.len(), 1, "{:?}", out.violations);
    assert_eq!(
        v[0].occurrence_id.as_deref(),
        Some("j@2026-01-01T00:00:07.000Z")
    );
    assert_eq!(out.of(Kind::DuplicateEffect).len(), 0);
}

#[test]
fn a_gap_is_flagged_unless_recorded_with_a_reason() {
    let mut h = clean();
    h.deliveries
        .retain(|d| d.occurrence_id != "j@2026-01-01T00:00:09.000Z");
    let out = check(&h, &CheckParams::default());
    let v = out.of(Kind::MissingOccurrence);
    assert_eq!(v.len(), 1, "{:?}", out.violations);
    assert_eq!(
        v[0].occurrence_id.as_deref(),
        Some("j@2026-01-01T00:00:09.000Z")
    );
    assert!(!v[0].kind.is_safety());

    h.recorded.push(Recorded {
        job_id: "j".into(),
        occurrence_id: "j@2026-01-01T00:00:09.000Z".into(),
        state: "missed".into(),
        reason: "misfire grace of 1000 ms exceeded: 2400 ms late".into(),
        cause: "misfire_grace".into(),
    });
    // A miss needs something that made the cluster late: here, a stop of
    // the leader just before the instant.
    h.faults = vec![span(
        crate::run::Fault::Stop,
        &[1],
        at(9) - 500,
        at(9) + 3_000,
    )];
    let out = check(&h, &CheckParams::default());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert_eq!(out.counts.expected_recorded, 1);
}

#[test]
fn a_record_that_nothing_justifies_is_flagged_and_only_it() {
    use crate::run::Fault;
    let missed = |cause: &str| Recorded {
        job_id: "j".into(),
        occurrence_id: "j@2026-01-01T00:00:09.000Z".into(),
        state: "missed".into(),
        reason: "whatever the text".into(),
        cause: cause.into(),
    };
    let mut h = clean();
    h.deliveries
        .retain(|d| d.occurrence_id != "j@2026-01-01T00:00:09.000Z");
    // A miss with no fault and no change near: recorded instead of run.
    h.recorded.push(missed("misfire_grace"));
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnjustifiedRecord],
        "{:?}",
        out.violations
    );
    assert!(
        out.violations[0].detail.contains("no fault"),
        "{:?}",
        out.violations
    );
    // No typed cause at all.
    h.recorded = vec![missed("")];
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnjustifiedRecord],
        "{:?}",
        out.violations
    );
    // A skip under a policy the job does not have (it allows instances).
    let mut skip = missed("overlap_skip");
    skip.state = "skipped".into();
    h.recorded = vec![skip];
    h.faults = vec![span(Fault::Stop, &[1], at(9) - 500, at(9) + 3_000)];
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnjustifiedRecord],
        "{:?}",
        out.violations
    );
    assert!(
        out.violations[0].detail.contains("overlap policy"),
        "{:?}",
        out.violations
    );
    // A cancel as deleted of a job never deleted.
    let mut gone = missed("deleted");
    gone.state = "cancelled".into();
    h.recorded = vec![gone];
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnjustifiedRecord],
        "{:?}",
        out.violations
    );
    // A miss as paused of a job never paused, then paused only before
    // the instant came due (it was never held across that pause).
    h.recorded = vec![missed("paused")];
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnjustifiedRecord],
        "{:?}",
        out.violations
    );
    h.jobs[0].paused = vec![Span {
        lo: at(9) - 5_000,
        hi: at(9) - 4_000,
    }];
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnjustifiedRecord],
        "{:?}",
        out.violations
    );
    // Paused after it came due: justified.
    h.jobs[0].paused = vec![Span {
        lo: at(9) + 500,
        hi: at(9) + 600,
    }];
    let out = check(&h, &params());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    h.jobs[0].paused.clear();
    // The same miss with a fault near is justified.
    h.recorded = vec![missed("misfire_grace")];
    let out = check(&h, &params());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
}

#[test]
fn a_backlog_range_record_covers_its_instants() {
    let mut h = clean();
    h.deliveries.retain(|d| {
        !(at(5)..=at(8)).contains(&parse_occurrence(&d.occurrence_id).map_or(0, |o| o.1))
    });
    h.recorded.push(Recorded {
        job_id: "j".into(),
        occurrence_id: String::new(),
        state: "missed".into(),
        reason: "backlog over 1000: occurrences from 2026-01-01T00:00:05.000Z up to 2026-01-01T00:00:08.000Z were not created".into(),
        cause: String::new(),
    });
    let out = check(&h, &CheckParams::default());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
}

#[test]
fn a_stale_token_is_flagged() {
    let mut h = clean();
    // Occurrence 12 accepted with a token below occurrence 11's.
    for d in &mut h.deliveries {
        if d.occurrence_id == "j@2026-01-01T00:00:12.000Z" {
            d.fencing_token = 1050;
        }
    }
    let out = check(&h, &CheckParams::default());
    let v = out.of(Kind::StaleTokenAccepted);
    assert_eq!(v.len(), 1, "{:?}", out.violations);
    assert_eq!(
        v[0].occurrence_id.as_deref(),
        Some("j@2026-01-01T00:00:12.000Z")
    );
}

#[test]
fn a_token_on_two_occurrences_is_flagged() {
    let mut h = clean();
    for d in &mut h.deliveries {
        if d.occurrence_id == "j@2026-01-01T00:00:12.000Z" {
            d.fencing_token = 1100; // occurrence 11's
            d.accepted = false;
        }
    }
    let out = check(&h, &CheckParams::default());
    let v = out.of(Kind::TokenReused);
    assert_eq!(v.len(), 1, "{:?}", out.violations);
    assert_eq!(
        v[0].occurrence_id.as_deref(),
        Some("j@2026-01-01T00:00:12.000Z")
    );
}

#[test]
fn an_early_start_is_flagged_and_jitter_moves_the_due_instant() {
    let mut h = clean();
    for d in &mut h.deliveries {
        if d.occurrence_id == "j@2026-01-01T00:00:04.000Z" {
            d.received_ms = at(4) - 1;
        }
    }
    let out = check(&h, &CheckParams::default());
    let v = out.of(Kind::EarlyStart);
    assert_eq!(v.len(), 1, "{:?}", out.violations);
    assert_eq!(
        v[0].occurrence_id.as_deref(),
        Some("j@2026-01-01T00:00:04.000Z")
    );

    // With 900 ms of jitter, 5 ms after the instant is early for most.
    let mut h = clean();
    h.jobs[0].versions[0].jitter_ms = 900;
    let out = check(&h, &CheckParams::default());
    let early = out.of(Kind::EarlyStart).len();
    let expect = h
        .deliveries
        .iter()
        .filter(|d| jitter_ms(&d.occurrence_id, 900) > 5)
        .count();
    assert_eq!(early, expect);
    assert!(early > 0);
}

#[test]
fn an_occurrence_the_schedule_never_named_is_flagged() {
    let mut h = clean();
    h.deliveries
        .push(delivery("j", at(3) + 500, 10_000, at(19) + 600));
    h.deliveries
        .push(delivery("ghost", at(3), 10_001, at(19) + 700));
    let out = check(&h, &CheckParams::default());
    let v: Vec<_> = out
        .of(Kind::UnexpectedOccurrence)
        .iter()
        .filter_map(|v| v.occurrence_id.clone())
        .collect();
    assert_eq!(
        v,
        [
            "ghost@2026-01-01T00:00:03.000Z",
            "j@2026-01-01T00:00:03.500Z"
        ],
        "{:?}",
        out.violations
    );
}

#[test]
fn a_lost_acknowledged_job_and_a_resurrected_delete_are_flagged() {
    let mut h = clean();
    h.finals.insert("j".into(), FinalJob::Absent);
    let mut gone = job("gone");
    gone.windows[0].to = Some(Span {
        lo: T0 + 500,
        hi: T0 + 600,
    });
    gone.deleted = Some(Span {
        lo: T0 + 500,
        hi: T0 + 600,
    });
    h.jobs.push(gone);
    h.finals.insert("gone".into(), FinalJob::Present);
    let out = check(&h, &CheckParams::default());
    let v: Vec<_> = out
        .of(Kind::LostJob)
        .iter()
        .map(|v| v.job_id.clone())
        .collect();
    assert_eq!(v, ["gone", "j"], "{:?}", out.violations);
}

#[test]
fn two_leaders_in_one_term_are_flagged() {
    let mut h = clean();
    h.leaders.push(LeaderSample {
        at_ms: T0 + 9100,
        node: 1,
        term: 3,
        leader: 1,
    });
    let out = check(&h, &CheckParams::default());
    let v = out.of(Kind::TwoLeaders);
    assert_eq!(v.len(), 1, "{:?}", out.violations);
    assert!(v[0].detail.contains("term 3"), "{}", v[0].detail);
}

#[test]
fn a_paused_stretch_and_max_runs_are_respected() {
    let mut h = clean();
    // Paused from 6 s to 12 s: nothing expected in between.
    h.jobs[0].windows = vec![
        Window {
            version: 0,
            from: Span {
                lo: T0,
                hi: T0 + 100,
            },
            to: Some(Span {
                lo: at(6),
                hi: at(6) + 50,
            }),
        },
        Window {
            version: 0,
            from: Span {
                lo: at(12),
                hi: at(12) + 50,
            },
            to: None,
        },
    ];
    h.deliveries.retain(|d| {
        let t = parse_occurrence(&d.occurrence_id).map_or(0, |o| o.1);
        !(at(6) < t && t <= at(12))
    });
    let out = check(&h, &CheckParams::default());
    assert!(out.violations.is_empty(), "{:?}", out.violations);

    // max_runs 3: a fourth occurrence is one too many; none are missing.
    let mut h = clean();
    h.jobs[0].versions[0].max_runs = 3;
    h.deliveries.truncate(4);
    let out = check(&h, &CheckParams::default());
    let kinds: Vec<Kind> = out.violations.iter().map(|v| v.kind).collect();
    assert_eq!(kinds, [Kind::OverMaxRuns], "{:?}", out.violations);
}

/// Occurrence 7 of [`clean`] (token 700 on node 2, accepted 5 ms late)
/// again: token `token`, attempt 2, node 3, received `after` ms past its
/// instant, refused by the sink as a duplicate.
fn rerun_of_7(token: u64, after: Ms) -> Delivery {
    let mut d = delivery("j", at(7), token, at(7) + after);
    d.attempt = 2;
    d.node_id = 3;
    d.accepted = false;
    d
}

fn span(kind: crate::run::Fault, nodes: &[u64], from: Ms, to: Ms) -> FaultSpan {
    FaultSpan {
        kind,
        nodes: nodes.to_vec(),
        from_ms: from,
        to_ms: to,
    }
}

/// The lease the re-run tests assume (not the default, so they do not
/// move with the harness's timing).
fn params() -> CheckParams {
    CheckParams {
        lease_ms: 3_000,
        fault_slack_ms: 2_000,
        ..CheckParams::default()
    }
}

fn kinds(out: &Outcome) -> Vec<Kind> {
    out.violations.iter().map(|v| v.kind).collect()
}

#[test]
fn an_unexplained_rerun_is_flagged_with_both_attempts_and_nothing_else() {
    let mut h = clean();
    h.deliveries.push(rerun_of_7(5_000, 4_500));
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnexplainedRerun],
        "{:?}",
        out.violations
    );
    let v = &out.violations[0];
    assert_eq!(
        v.occurrence_id.as_deref(),
        Some("j@2026-01-01T00:00:07.000Z")
    );
    assert!(v.kind.is_safety());
    for part in [
        "token 5000 (attempt 2, node 3, received 2026-01-01T00:00:11.500Z",
        "token 700 (attempt 1, node 2, received 2026-01-01T00:00:07.005Z",
    ] {
        assert!(v.detail.contains(part), "{part:?} not in {}", v.detail);
    }
    assert_eq!(out.counts.reruns, 1);
    assert_eq!(out.counts.reruns_unexplained, 1);
    assert!(out.counts.reruns_explained.is_empty());
    // The sink refused it: the old counts see only a refused duplicate.
    assert_eq!(out.counts.refused_duplicate, 1);
}

#[test]
fn a_rerun_after_a_kill_of_the_first_node_past_its_lease_is_explained() {
    use crate::run::Fault;
    let mut h = clean();
    // Node 2 killed 100 ms after it delivered occurrence 7, down 5 s; the
    // leader moved the attempt to node 3 past the lease.
    h.faults = vec![span(Fault::Kill, &[2], at(7) + 100, at(12) + 100)];
    h.deliveries.push(rerun_of_7(5_000, 3_400));
    let out = check(&h, &params());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert_eq!(out.counts.reruns, 1);
    assert_eq!(out.counts.reruns_unexplained, 0);
    assert_eq!(
        out.counts.reruns_explained,
        [("kill".to_string(), 1)].into()
    );
}

#[test]
fn a_fault_on_another_node_explains_nothing() {
    use crate::run::Fault;
    let mut h = clean();
    h.faults = vec![
        span(Fault::Kill, &[1], at(7) + 100, at(12) + 100),
        // A worker fault does not explain an HTTP job's re-run.
        span(Fault::StopWorker, &[2], at(7) + 100, at(12) + 100),
    ];
    h.deliveries.push(rerun_of_7(5_000, 3_400));
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnexplainedRerun],
        "{:?}",
        out.violations
    );
    let d = &out.violations[0].detail;
    assert!(
        d.contains("kill of nodes [1]") && d.contains("not on node 2"),
        "{d}"
    );
    assert!(d.contains("not a worker job"), "{d}");
}

#[test]
fn a_rerun_within_the_lease_is_flagged() {
    use crate::run::Fault;
    // Cut off at 7.1 s, re-run at 9.1 s: 2 s, within the 3 s lease, so
    // node 2 may still have been starting runs.
    for fault in [Fault::Partition, Fault::Kill, Fault::Stop] {
        let mut h = clean();
        h.faults = vec![span(fault, &[2], at(7) + 100, at(12) + 100)];
        h.deliveries.push(rerun_of_7(5_000, 2_100));
        let out = check(&h, &params());
        assert_eq!(
            kinds(&out),
            [Kind::UnexplainedRerun],
            "{fault:?}: {:?}",
            out.violations
        );
        assert!(
            out.violations[0]
                .detail
                .contains("within the lease (3000 ms)"),
            "{}",
            out.violations[0].detail
        );
    }
    // A partition fails nothing by itself, so retries do not help it; a
    // kill does (the restarted node reports its attempt failed, retried
    // at once).
    for (fault, flagged) in [(Fault::Partition, true), (Fault::Kill, false)] {
        let mut h = clean();
        h.jobs[0].versions[0].max_retries = 2;
        h.faults = vec![span(fault, &[2], at(7) + 100, at(12) + 100)];
        h.deliveries.push(rerun_of_7(5_000, 2_100));
        let out = check(&h, &params());
        assert_eq!(
            out.of(Kind::UnexplainedRerun).len(),
            usize::from(flagged),
            "{fault:?}: {:?}",
            out.violations
        );
    }
    // A fault healed long before the first attempt ran explains nothing.
    let mut h = clean();
    h.faults = vec![span(Fault::Kill, &[2], at(1), at(4))];
    h.deliveries.push(rerun_of_7(5_000, 9_000));
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnexplainedRerun],
        "{:?}",
        out.violations
    );
}

#[test]
fn a_retry_within_the_policy_after_a_refusal_is_explained() {
    // The sink refused occurrence 7's first attempt (a 409, which the HTTP
    // executor counts as failed); the retry, attempt 2, came 600 ms later.
    let history = |max_retries: u32, retries: u64| {
        let mut h = clean();
        h.jobs[0].versions[0].max_retries = max_retries;
        for d in &mut h.deliveries {
            if d.occurrence_id == "j@2026-01-01T00:00:07.000Z" {
                d.accepted = false;
            }
        }
        for k in 1..=retries {
            let mut d = delivery("j", at(7), 700 + 10 * k, at(7) + 300 * k as Ms);
            d.attempt = 1 + k as u32;
            d.accepted = k == retries;
            h.deliveries.push(d);
        }
        h
    };
    let out = check(&history(2, 1), &params());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert_eq!(
        out.counts.reruns_explained,
        [("retry".to_string(), 1)].into()
    );
    let out = check(&history(2, 2), &params());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert_eq!(
        out.counts.reruns_explained,
        [("retry".to_string(), 2)].into()
    );

    // Beyond the policy: flagged.
    let out = check(&history(0, 1), &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnexplainedRerun],
        "{:?}",
        out.violations
    );
    let out = check(&history(1, 2), &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnexplainedRerun],
        "{:?}",
        out.violations
    );
    assert_eq!(
        out.counts.reruns_explained,
        [("retry".to_string(), 1)].into()
    );

    // The test worker reports success whatever the sink said: a worker
    // job's refused attempt did not fail, so its retry needs a fault.
    let mut h = history(2, 1);
    h.jobs[0].versions[0].worker = true;
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnexplainedRerun],
        "{:?}",
        out.violations
    );
}

#[test]
fn a_worker_fault_explains_a_worker_jobs_rerun_on_its_node() {
    use crate::run::Fault;
    let history = |nodes: &[u64]| {
        let mut h = clean();
        h.jobs[0].versions[0].worker = true;
        h.jobs[0].versions[0].max_retries = 1;
        h.faults = vec![span(Fault::KillWorker, nodes, at(7) + 50, at(12))];
        h.deliveries.push(rerun_of_7(5_000, 4_100));
        h
    };
    for nodes in [&[2][..], &[]] {
        let out = check(&history(nodes), &params());
        assert!(out.violations.is_empty(), "{nodes:?}: {:?}", out.violations);
        assert_eq!(
            out.counts.reruns_explained,
            [("kill-worker".to_string(), 1)].into()
        );
    }
    let out = check(&history(&[1]), &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnexplainedRerun],
        "{:?}",
        out.violations
    );
}

#[test]
fn a_stopped_nodes_late_attempt_is_judged_in_token_order() {
    use crate::run::Fault;
    // Node 2 was SIGSTOPped in mid-start of occurrence 7 (token 700) at
    // 6.99 s; the leader moved it to node 3 (token 1050, accepted at
    // 11 s); node 2, continued at 12 s, sent its start then, refused.
    let mut h = clean();
    h.faults = vec![span(Fault::Stop, &[2], at(7) - 10, at(12))];
    for d in &mut h.deliveries {
        if d.occurrence_id == "j@2026-01-01T00:00:07.000Z" {
            d.received_ms = at(12) + 20;
            d.accepted = false;
        }
    }
    let mut moved = rerun_of_7(1_050, 4_000);
    moved.accepted = true;
    h.deliveries.push(moved);
    let out = check(&h, &params());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert_eq!(
        out.counts.reruns_explained,
        [("stop".to_string(), 1)].into()
    );

    // Continued 3 s before it sent that start: not the stop's doing.
    h.faults[0].to_ms = at(12) + 20 - 3_000;
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnexplainedRerun],
        "{:?}",
        out.violations
    );
}

#[test]
fn a_history_written_before_faults_and_retries_were_recorded_still_reads() {
    let mut json = serde_json::to_value(clean()).expect("serialize");
    json.as_object_mut().expect("object").remove("faults");
    for job in json["jobs"].as_array_mut().expect("jobs") {
        for v in job["versions"].as_array_mut().expect("versions") {
            let v = v.as_object_mut().expect("version");
            v.remove("max_retries");
            v.remove("worker");
        }
    }
    let h: History = serde_json::from_value(json).expect("an older history reads");
    assert!(h.faults.is_empty());
    assert_eq!(h.jobs[0].versions[0], every_second());
    assert!(check(&h, &params()).violations.is_empty());
}

#[test]
fn an_occurrence_that_failed_without_effect_counts_only_during_a_fault() {
    use crate::run::Fault;
    let mut h = clean();
    h.deliveries
        .retain(|d| d.occurrence_id != "j@2026-01-01T00:00:09.000Z");
    h.recorded.push(Recorded {
        job_id: "j".into(),
        occurrence_id: "j@2026-01-01T00:00:09.000Z".into(),
        state: "failed".into(),
        reason: "worker lost: silent for 4000 ms".into(),
        cause: String::new(),
    });
    // No fault: a failure the workload cannot cause.
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::MissingOccurrence],
        "{:?}",
        out.violations
    );
    assert!(
        out.violations[0].detail.contains("recorded failed"),
        "{}",
        out.violations[0].detail
    );
    // Its worker stopped 30 ms after the instant: accepted, and counted.
    h.faults = vec![span(Fault::StopWorker, &[2], at(9) + 30, at(14))];
    let out = check(&h, &params());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert_eq!(out.counts.expected_failed, 1);
    assert_eq!(out.counts.recorded_not_run, 0);
}

#[test]
fn a_cut_of_the_leaders_links_explains_a_rerun_of_any_nodes_attempt_but_its_kill_does_not() {
    use crate::run::Fault;
    // Node 1 leads (clean()); node 2 ran occurrence 7; the leader's links
    // were delayed past its append timeout, so node 2 went silent to it.
    let mut h = clean();
    h.faults = vec![span(Fault::Delay, &[1], at(7) - 200, at(12))];
    h.deliveries.push(rerun_of_7(5_000, 5_200));
    let out = check(&h, &params());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert_eq!(
        out.counts.reruns_explained,
        [("delay".to_string(), 1)].into()
    );
    // A kill of the leader does not cut node 2 off from its successor.
    let mut h = clean();
    h.faults = vec![span(Fault::KillLeader, &[1], at(7) - 200, at(12))];
    h.deliveries.push(rerun_of_7(5_000, 5_200));
    let out = check(&h, &params());
    assert_eq!(
        kinds(&out),
        [Kind::UnexplainedRerun],
        "{:?}",
        out.violations
    );
}

fn calendar(name: &str, dates: &[&str]) -> crate::history::CalendarRecord {
    crate::history::CalendarRecord {
        name: name.into(),
        tz: "UTC".into(),
        dates: dates.iter().map(|d| d.to_string()).collect(),
        ranges: Vec::new(),
        crons: Vec::new(),
    }
}

#[test]
fn a_job_whose_calendar_excludes_the_day_must_not_fire_and_owes_nothing() {
    // Excluding another day changes nothing.
    let mut h = clean();
    h.calendars = vec![
        calendar("other", &["2026-01-02"]),
        calendar("today", &["2026-01-01"]),
    ];
    h.jobs[0].versions[0].exclude_calendars = vec!["other".into()];
    let out = check(&h, &params());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert_eq!(out.counts.expected, 14);
    // Excluding the day: every delivery is unexpected, none is owed.
    h.jobs[0].versions[0].exclude_calendars = vec!["today".into()];
    let out = check(&h, &params());
    assert_eq!(out.counts.expected, 0);
    assert_eq!(
        out.of(Kind::UnexpectedOccurrence).len(),
        19,
        "{:?}",
        out.violations
    );
    assert_eq!(out.of(Kind::MissingOccurrence).len(), 0);
    // Without its deliveries, it is clean.
    h.deliveries.clear();
    let out = check(&h, &params());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
}

#[test]
fn a_backfilled_range_must_run_once_each_and_may_lie_before_the_job() {
    use crate::history::BackfillRecord;
    let mut h = clean();
    // A backfill, acknowledged, of the 5 instants 30-26 s before T0.
    h.jobs[0].backfills = vec![BackfillRecord {
        from_ms: T0 - 30_000,
        to_ms: T0 - 26_000,
        version: 0,
        span: Span {
            lo: at(3),
            hi: at(3) + 50,
        },
        acknowledged: true,
    }];
    for (k, t) in (-30..=-26).enumerate() {
        h.deliveries.push(delivery(
            "j",
            at(t),
            10_000 + k as u64,
            at(3) + 100 + k as i64,
        ));
    }
    let out = check(&h, &params());
    assert!(
        out.violations
            .iter()
            .all(|v| v.kind == Kind::StaleTokenAccepted),
        "{:?}",
        out.violations
    );
    assert_eq!(out.counts.expected, 14 + 5);
    // One of them missing is flagged.
    h.deliveries
        .retain(|d| d.occurrence_id != occurrence_id("j", at(-28)));
    let out = check(&h, &params());
    let v = out.of(Kind::MissingOccurrence);
    assert_eq!(v.len(), 1, "{:?}", out.violations);
    assert_eq!(v[0].occurrence_id, Some(occurrence_id("j", at(-28))));
    // Not acknowledged: allowed, not owed.
    h.jobs[0].backfills[0].acknowledged = false;
    let out = check(&h, &params());
    assert_eq!(
        out.of(Kind::MissingOccurrence).len(),
        0,
        "{:?}",
        out.violations
    );
    assert_eq!(
        out.of(Kind::UnexpectedOccurrence).len(),
        0,
        "{:?}",
        out.violations
    );
    // No backfill at all: they are outside the job's life.
    h.jobs[0].backfills.clear();
    let out = check(&h, &params());
    assert_eq!(
        out.of(Kind::UnexpectedOccurrence).len(),
        4,
        "{:?}",
        out.violations
    );
}

#[test]
fn a_dependent_job_runs_once_after_each_upstream_run_and_never_without_one() {
    let mut h = clean();
    let mut d = job("d");
    d.versions[0].schedule = ScheduleSpec::After {
        job_id: "j".into(),
        on_finished: true,
    };
    // Due when the upstream's run ends: its jitter does not apply.
    d.versions[0].jitter_ms = 300;
    h.jobs.push(d);
    h.finals.insert("d".into(), FinalJob::Present);
    // d@t for every j@t, 50 ms after it.
    for k in 1..20 {
        h.deliveries
            .push(delivery("d", at(k), 5_000 + k as u64, at(k) + 55));
    }
    let out = check(&h, &params());
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    // j's runs that reached the sink in d's window (T0+2.1 s to 16 s): 13.
    assert_eq!(out.counts.expected, 14 + 13);
    // One missing: flagged.
    h.deliveries
        .retain(|d| d.occurrence_id != occurrence_id("d", at(8)));
    let out = check(&h, &params());
    let v = out.of(Kind::MissingOccurrence);
    assert_eq!(v.len(), 1, "{:?}", out.violations);
    assert_eq!(v[0].occurrence_id, Some(occurrence_id("d", at(8))));
    // One for an upstream instant that never ran: unexpected (and j's gap
    // is missing).
    h.deliveries
        .retain(|d| d.occurrence_id != occurrence_id("j", at(5)));
    let out = check(&h, &params());
    assert!(
        out.of(Kind::UnexpectedOccurrence)
            .iter()
            .any(|v| v.occurrence_id == Some(occurrence_id("d", at(5)))),
        "{:?}",
        out.violations
    );
    // One that reached the sink before its upstream's run: early.
    let mut h = clean();
    let mut d = job("d");
    d.versions[0].schedule = ScheduleSpec::After {
        job_id: "j".into(),
        on_finished: false,
    };
    h.jobs.push(d);
    h.finals.insert("d".into(), FinalJob::Present);
    h.deliveries.push(delivery("d", at(6), 5_006, at(6) + 1));
    let out = check(&h, &params());
    let early = out.of(Kind::EarlyStart);
    assert_eq!(early.len(), 1, "{:?}", out.violations);
    assert!(early[0].detail.contains("upstream"), "{:?}", early);
    // On success only: an upstream run recorded failed owes nothing.
    h.recorded.push(Recorded {
        job_id: "j".into(),
        occurrence_id: occurrence_id("j", at(9)),
        state: "failed".into(),
        reason: "exit 1".into(),
        cause: String::new(),
    });
    let out = check(&h, &params());
    assert!(
        !out.of(Kind::MissingOccurrence)
            .iter()
            .any(|v| v.occurrence_id == Some(occurrence_id("d", at(9)))),
        "{:?}",
        out.violations
    );
}
