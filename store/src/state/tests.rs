//! Unit and property tests of `apply`: policies, fencing, idempotence,
//! determinism and snapshot replay.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::command::*;
use crate::model::*;
use crate::schedule::{IntervalSpec, ScheduleSpec};

const T0: UnixMs = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn every(id: &str, secs: u64) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: id.into(),
        labels: Labels::from_iter([("team".into(), "a".into())]),
        schedule: ScheduleSpec::Interval(IntervalSpec {
            every_ms: secs * 1000,
            every_max_ms: None,
            anchor: Some(time::to_datetime(T0)),
        }),
        time_zone: "UTC".into(),
        start_at: None,
        end_at: None,
        paused: false,
        executor: ExecutorSpec::Http(HttpSpec {
            method: "POST".into(),
            url: "http://127.0.0.1:9/hook".into(),
            ..HttpSpec::default()
        }),
        policies: Default::default(),
        node_selector: BTreeMap::new(),
        exclude_calendars: Default::default(),
    }
}

/// A state machine with its own log index.
struct Log {
    state: State,
    index: u64,
}

impl Log {
    fn new() -> Self {
        Log {
            state: State::default(),
            index: 0,
        }
    }
    fn apply(&mut self, cmd: Command) -> Response {
        self.index += 1;
        self.state.apply(self.index, &cmd)
    }
    fn create(&mut self, spec: JobSpec) -> Job {
        match self.apply(Command::CreateJob {
            spec,
            on_conflict: OnConflict::Fail,
            now: T0 - 500,
        }) {
            Response::Job(j) => *j,
            other => panic!("create failed: {other:?}"),
        }
    }
    fn fire(&mut self, job: &str, now: UnixMs, through: UnixMs) -> Response {
        self.apply(Command::Fire {
            now,
            advances: vec![Advance {
                job_id: job.into(),
                through,
                assignee: 2,
                on_time: false,
            }],
        })
    }
    fn occ(&self, job: &str, at: UnixMs) -> &Occurrence {
        self.state
            .occurrence(&OccKey {
                job_id: job.into(),
                scheduled_at: at,
            })
            .expect("occurrence exists")
    }
    fn report(&mut self, job: &str, at: UnixMs, outcome: AttemptOutcome) -> ReportFate {
        let key = OccKey {
            job_id: job.into(),
            scheduled_at: at,
        };
        let a = self.occ(job, at).current().expect("attempt").clone();
        self.report_token(key, a.token, a.node_id, outcome)
    }
    fn report_token(
        &mut self,
        key: OccKey,
        token: u64,
        node_id: NodeId,
        outcome: AttemptOutcome,
    ) -> ReportFate {
        match self.apply(Command::Report {
            now: T0 + 100_000,
            reports: vec![Report {
                key,
                token,
                node_id,
                outcome,
            }],
        }) {
            Response::Reported(f) => f[0],
            other => panic!("{other:?}"),
        }
    }
}

fn finished(state: AttemptState, at: UnixMs) -> AttemptOutcome {
    AttemptOutcome::Finished {
        at,
        state,
        exit_code: Some(0),
        output_tail: String::new(),
    }
}

#[test]
fn create_sets_first_fire_and_refuses_duplicates_without_change() {
    let mut log = Log::new();
    let job = log.create(every("a", 1));
    assert_eq!(job.next_fire_at, Some(T0));
    assert_eq!(job.version, 1);
    let before = log.state.encode().expect("encode");
    let r = log.apply(Command::CreateJob {
        spec: every("a", 5),
        on_conflict: OnConflict::Fail,
        now: T0,
    });
    assert_eq!(r, Response::Error(CommandError::AlreadyExists("a".into())));
    let r = log.apply(Command::CreateJob {
        spec: every("a", 5),
        on_conflict: OnConflict::Keep,
        now: T0,
    });
    assert!(matches!(r, Response::Job(j) if j.version == 1));
    assert_eq!(
        log.state.encode().expect("encode"),
        before,
        "a refused create changed the state"
    );
}

#[test]
fn invalid_spec_is_refused_with_its_field_and_changes_nothing() {
    let mut log = Log::new();
    let mut spec = every("a", 1);
    spec.time_zone = "Mars/Olympus".into();
    let r = log.apply(Command::CreateJob {
        spec,
        on_conflict: OnConflict::Fail,
        now: T0,
    });
    match r {
        Response::Error(CommandError::Invalid(e)) => assert_eq!(e.field, "job.time_zone"),
        other => panic!("{other:?}"),
    }
    assert_eq!(log.state.job_count(), 0);
}

#[test]
fn update_checks_the_version() {
    let mut log = Log::new();
    log.create(every("a", 1));
    let r = log.apply(Command::UpdateJob {
        spec: every("a", 2),
        expected_version: 7,
        now: T0,
    });
    assert_eq!(
        r,
        Response::Error(CommandError::VersionConflict {
            id: "a".into(),
            expected: 7,
            actual: 1
        })
    );
    let r = log.apply(Command::UpdateJob {
        spec: every("a", 2),
        expected_version: 1,
        now: T0,
    });
    assert!(matches!(r, Response::Job(j) if j.version == 2));
}

#[test]
fn fire_arms_ahead_with_tokens_from_the_log_position() {
    let mut log = Log::new();
    let mut a = every("a", 1);
    a.policies.max_instances = 5;
    log.create(a);
    log.create(every("b", 1));
    let r = log.apply(Command::Fire {
        now: T0 - 1500,
        advances: vec![
            Advance {
                job_id: "a".into(),
                through: T0 + 1000,
                assignee: 2,
                on_time: false,
            },
            Advance {
                job_id: "b".into(),
                through: T0,
                assignee: 3,
                on_time: false,
            },
        ],
    });
    assert!(
        matches!(
            r,
            Response::Fired {
                armed: 3,
                missed: 0,
                skipped: 0,
                ..
            }
        ),
        "{r:?}"
    );
    let idx = log.index;
    assert_eq!(log.occ("a", T0).attempts[0].token, idx << 16);
    assert_eq!(log.occ("a", T0 + 1000).attempts[0].token, (idx << 16) | 1);
    assert_eq!(log.occ("b", T0).attempts[0].token, (idx << 16) | 2);
    assert_eq!(log.occ("b", T0).attempts[0].node_id, 3);
    assert_eq!(
        log.state.job("a").and_then(|j| j.next_fire_at),
        Some(T0 + 2000)
    );
    // The same proposal again creates nothing.
    let before = log.state.encode().expect("encode");
    log.fire("a", T0 - 1500, T0 + 1000);
    assert_eq!(log.state.encode().expect("encode"), before);
}

#[test]
fn misfire_grace_and_coalesce_all() {
    let mut log = Log::new();
    let mut spec = every("a", 1);
    spec.policies.misfire_grace_ms = Some(2_500);
    spec.policies.coalesce = Coalesce::All;
    spec.policies.max_instances = 10;
    log.create(spec);
    // The leader comes back 10 s late.
    let r = log.fire("a", T0 + 10_000, T0 + 10_000);
    // T0..=T0+10s is 11 instants; T0+8s, +9s, +10s are within 2.5 s.
    assert!(
        matches!(
            r,
            Response::Fired {
                armed: 3,
                missed: 8,
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(log.occ("a", T0 + 7_000).state, RunState::Missed);
    assert!(
        log.occ("a", T0)
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("misfire grace"))
    );
    assert_eq!(log.occ("a", T0 + 8_000).state, RunState::Armed);
}

#[test]
fn a_coalesce_all_backlog_drains_in_order_under_rising_tokens() {
    let mut log = Log::new();
    let mut spec = every("a", 1);
    spec.policies.coalesce = Coalesce::All;
    log.create(spec); // max_instances 1
    // Back 3 s late: 4 instants, one in flight, three queued (not skipped).
    let r = log.fire("a", T0 + 3_000, T0 + 3_000);
    assert!(
        matches!(
            r,
            Response::Fired {
                armed: 4,
                missed: 0,
                ..
            }
        ),
        "{r:?}"
    );
    let queued = |log: &Log, at| log.occ("a", at).buffered;
    assert!(!queued(&log, T0));
    assert!(queued(&log, T0 + 1_000) && queued(&log, T0 + 2_000) && queued(&log, T0 + 3_000));
    // A new instant joins the tail of the queue instead of being skipped.
    log.fire("a", T0 + 4_000, T0 + 4_000);
    assert!(queued(&log, T0 + 4_000), "{:?}", log.occ("a", T0 + 4_000));
    // Each end releases the next instant, with a token above every earlier one.
    let mut last_token = log.occ("a", T0).current().expect("attempt").token;
    for i in 0..4 {
        let at = T0 + i * 1_000;
        let fate = log.report("a", at, finished(AttemptState::Succeeded, T0 + 5_000));
        assert_eq!(fate, ReportFate::Accepted);
        let next = log.occ("a", at + 1_000);
        assert!(!next.buffered, "instant {} not released", i + 1);
        let token = next.current().expect("released attempt").token;
        assert!(token > last_token, "tokens must rise in run order");
        last_token = token;
        assert!(
            i == 3 || queued(&log, at + 2_000),
            "only one released at a time"
        );
    }
    log.state.check_invariants();
}

#[test]
fn coalesce_latest_and_earliest_run_one() {
    for (coalesce, runs_at) in [(Coalesce::Latest, T0 + 4_000), (Coalesce::Earliest, T0)] {
        let mut log = Log::new();
        let mut spec = every("a", 1);
        spec.policies.coalesce = coalesce;
        spec.policies.max_instances = 10;
        log.create(spec);
        let r = log.fire("a", T0 + 4_000, T0 + 4_000);
        assert!(
            matches!(
                r,
                Response::Fired {
                    armed: 1,
                    missed: 4,
                    ..
                }
            ),
            "{coalesce:?}: {r:?}"
        );
        assert_eq!(log.occ("a", runs_at).state, RunState::Armed, "{coalesce:?}");
        let missed = log.state.runs(&RunFilter {
            state: Some(RunState::Missed),
            ..RunFilter::default()
        });
        assert!(missed.iter().all(|o| o.reason.as_deref()
            == Some(&format!("coalesced ({coalesce:?})").to_lowercase()[..])));
        assert!(
            missed
                .iter()
                .all(|o| o.cause == Some(crate::model::NotRunCause::Coalesced)),
            "{missed:?}"
        );
    }
}

#[test]
fn overlap_skip_is_judged_when_due_not_ahead() {
    let mut log = Log::new();
    let mut spec = every("a", 1);
    spec.policies.overlap = Overlap::Skip;
    log.create(spec);
    // Ahead of time only the first is armed: the second waits.
    let r = log.fire("a", T0 - 1500, T0 + 1000);
    assert!(matches!(r, Response::Fired { armed: 1, .. }), "{r:?}");
    assert_eq!(
        log.state.job("a").and_then(|j| j.next_fire_at),
        Some(T0 + 1000)
    );
    assert_eq!(
        log.report("a", T0, AttemptOutcome::Started { at: T0 }),
        ReportFate::Accepted
    );
    // When due and the first still runs, the second is skipped, with a reason.
    let r = log.fire("a", T0 + 1000, T0 + 1000);
    assert!(matches!(r, Response::Fired { skipped: 1, .. }), "{r:?}");
    let skipped = log.occ("a", T0 + 1000);
    assert_eq!(skipped.state, RunState::Skipped);
    assert_eq!(skipped.cause, Some(crate::model::NotRunCause::OverlapSkip));
    // The reason names the run in flight, its state and its node.
    let running = log.occ("a", T0);
    let a = running.current().expect("an attempt");
    assert_eq!(
        skipped.reason.as_deref(),
        Some(
            format!(
                "an earlier occurrence is still in flight (overlap: skip); in flight: {} \
                 (attempt 1 running on node {}, token {})",
                running.key.id(),
                a.node_id,
                a.token
            )
            .as_str()
        )
    );
}

/// The leader may judge an instant a little after it was due (it holds it
/// for a result on its way): the judgement is what was in flight *at the
/// due instant*, whatever ended since.
#[test]
fn an_instant_judged_late_counts_runs_in_flight_when_it_was_due() {
    // (started, finished, whether the next instant runs): ended before
    // it was due; running across it; late itself (started after it was
    // due, as after a failover), so it did not overlap it; late and short,
    // ending just after the next instant (the failover bench's case); late
    // but long enough to have overlapped it on the schedule's timeline.
    for (started_at, finished_at, runs) in [
        (T0, T0 + 900, true),
        (T0, T0 + 1_200, false),
        (T0 + 1_100, T0 + 1_150, true),
        (T0 + 998, T0 + 1_002, true),
        (T0 + 900, T0 + 2_000, false),
    ] {
        let mut log = Log::new();
        let mut spec = every("a", 1);
        spec.policies.overlap = Overlap::Skip;
        log.create(spec);
        log.fire("a", T0, T0);
        log.report("a", T0, AttemptOutcome::Started { at: started_at });
        log.report("a", T0, finished(AttemptState::Succeeded, finished_at));
        // Judged 300 ms after the next instant was due.
        log.fire("a", T0 + 1_300, T0 + 1_300);
        let next = log.occ("a", T0 + 1_000);
        if runs {
            assert_eq!(next.state, RunState::Armed, "{next:?}");
        } else {
            assert_eq!(next.state, RunState::Skipped, "{next:?}");
            let reason = next.reason.as_deref().unwrap_or_default();
            assert!(
                reason.contains(&log.occ("a", T0).key.id()) && reason.contains("succeeded at 2"),
                "the reason names the run that overlapped the due instant: {reason}"
            );
        }
    }
}

/// A `Ran` report (a start and its finish merged by the reporter) leaves
/// the same occurrence and the same events as the two reports apart,
/// whether or not its start was already applied; again, it is a duplicate.
#[test]
fn a_ran_report_applies_as_its_start_then_its_finish() {
    let ran = |state| AttemptOutcome::Ran {
        started_at: T0 + 3,
        at: T0 + 40,
        state,
        exit_code: Some(0),
        output_tail: "out".into(),
    };
    let finish = |state| AttemptOutcome::Finished {
        at: T0 + 40,
        state,
        exit_code: Some(0),
        output_tail: "out".into(),
    };
    for state in [AttemptState::Succeeded, AttemptState::Failed] {
        let run = |reports: Vec<AttemptOutcome>| {
            let mut log = Log::new();
            log.create(every("a", 1));
            log.fire("a", T0, T0);
            log.state.drain_events();
            let fates: Vec<ReportFate> = reports
                .into_iter()
                .map(|o| log.report("a", T0, o))
                .collect();
            let kinds: Vec<EventKind> = log.state.drain_events().iter().map(|e| e.kind).collect();
            (log.occ("a", T0).clone(), fates, kinds)
        };
        let (apart, fates, kinds) =
            run(vec![AttemptOutcome::Started { at: T0 + 3 }, finish(state)]);
        assert_eq!(fates, vec![ReportFate::Accepted, ReportFate::Accepted]);
        assert!(kinds.contains(&EventKind::OccurrenceStarted), "{kinds:?}");
        let (merged, fates, merged_kinds) = run(vec![ran(state)]);
        assert_eq!(fates, vec![ReportFate::Accepted]);
        assert_eq!(merged, apart, "{state:?}");
        assert_eq!(merged_kinds, kinds, "{state:?}");
        assert_eq!(merged.attempts[0].started_at, Some(T0 + 3));
        // Its start already applied: the finish still lands.
        let (after_start, fates, _) = run(vec![AttemptOutcome::Started { at: T0 + 3 }, ran(state)]);
        assert_eq!(fates, vec![ReportFate::Accepted, ReportFate::Accepted]);
        assert_eq!(after_start, apart, "{state:?}");
        // Sent again (a re-send after a lost answer): a duplicate, no change.
        let (twice, fates, _) = run(vec![ran(state), ran(state)]);
        assert_eq!(fates[1], ReportFate::Duplicate);
        assert_eq!(twice.attempts[0], apart.attempts[0]);
    }
}

#[test]
fn max_instances_skips_with_an_event() {
    let mut log = Log::new();
    let mut spec = every("a", 1);
    spec.policies.max_instances = 2;
    log.create(spec);
    log.fire("a", T0 + 2_000, T0 + 2_000);
    // Coalesce latest: only T0+2s ran; fire two more when due.
    log.fire("a", T0 + 3_000, T0 + 3_000);
    log.state.drain_events();
    let r = log.fire("a", T0 + 4_000, T0 + 4_000);
    assert!(matches!(r, Response::Fired { skipped: 1, .. }), "{r:?}");
    assert!(
        log.state
            .drain_events()
            .iter()
            .any(|e| e.kind == EventKind::MaxInstancesReached)
    );
}

#[test]
fn buffer_one_releases_when_the_running_one_ends() {
    let mut log = Log::new();
    let mut spec = every("a", 1);
    spec.policies.overlap = Overlap::BufferOne;
    log.create(spec);
    log.fire("a", T0, T0);
    log.report("a", T0, AttemptOutcome::Started { at: T0 });
    log.fire("a", T0 + 1000, T0 + 1000);
    assert!(log.occ("a", T0 + 1000).buffered);
    log.fire("a", T0 + 2000, T0 + 2000);
    assert_eq!(log.occ("a", T0 + 2000).state, RunState::Skipped);
    log.report("a", T0, finished(AttemptState::Succeeded, T0 + 2500));
    let released = log.occ("a", T0 + 1000);
    assert!(!released.buffered);
    assert_eq!(released.attempts.len(), 1);
}

#[test]
fn overlap_replace_cancels_the_running_one() {
    let mut log = Log::new();
    let mut spec = every("a", 1);
    spec.policies.overlap = Overlap::Replace;
    log.create(spec);
    log.fire("a", T0, T0);
    log.report("a", T0, AttemptOutcome::Started { at: T0 });
    log.fire("a", T0 + 1000, T0 + 1000);
    assert_eq!(log.occ("a", T0).state, RunState::Cancelled);
    assert_eq!(log.occ("a", T0 + 1000).state, RunState::Armed);
    let events = log.state.drain_events();
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::OccurrenceCancelled && e.token.is_some())
    );
}

#[test]
fn retries_get_higher_tokens_and_backoff_then_fail() {
    let mut log = Log::new();
    let mut spec = every("a", 60);
    spec.policies.retry = RetryPolicy {
        max_retries: 2,
        initial_backoff_ms: 1000,
        max_backoff_ms: 10_000,
        multiplier_milli: 2000,
    };
    log.create(spec);
    log.fire("a", T0, T0);
    let mut last_token = log.occ("a", T0).attempts[0].token;
    for n in 1..=2 {
        log.report("a", T0, AttemptOutcome::Started { at: T0 });
        log.report("a", T0, finished(AttemptState::Failed, T0 + 10));
        let occ = log.occ("a", T0);
        assert_eq!(occ.state, RunState::Armed, "retry {n}");
        let next = occ.current().expect("retry attempt");
        assert_eq!(next.number, n + 1);
        assert!(next.token > last_token);
        assert_eq!(next.due_at, T0 + 100_000 + 1000 * (1 << (n - 1)));
        last_token = next.token;
    }
    log.report("a", T0, finished(AttemptState::TimedOut, T0 + 10));
    assert_eq!(log.occ("a", T0).state, RunState::TimedOut);
}

#[test]
fn reassignment_makes_the_old_token_stale() {
    let mut log = Log::new();
    log.create(every("a", 60));
    log.fire("a", T0 - 1000, T0);
    let key = OccKey {
        job_id: "a".into(),
        scheduled_at: T0,
    };
    let old = log.occ("a", T0).attempts[0].clone();
    let r = log.apply(Command::Reassign {
        now: T0,
        items: vec![Reassign {
            key: key.clone(),
            token: old.token,
            assignee: 3,
            reason: "lease expired".into(),
        }],
    });
    assert_eq!(r, Response::Affected(1));
    let new = log.occ("a", T0).current().expect("new attempt").clone();
    assert!(new.token > old.token);
    assert_eq!(new.node_id, 3);
    // The old assignee wakes up and reports: refused.
    let fate = log.report_token(
        key.clone(),
        old.token,
        old.node_id,
        AttemptOutcome::Started { at: T0 },
    );
    assert_eq!(fate, ReportFate::Stale);
    // A report from the wrong node with the new token: refused too.
    assert_eq!(
        log.report_token(
            key.clone(),
            new.token,
            2,
            AttemptOutcome::Started { at: T0 }
        ),
        ReportFate::Stale
    );
    assert_eq!(
        log.report_token(
            key.clone(),
            new.token,
            3,
            AttemptOutcome::Started { at: T0 }
        ),
        ReportFate::Accepted
    );
    assert_eq!(
        log.report_token(key, new.token, 3, AttemptOutcome::Started { at: T0 }),
        ReportFate::Duplicate
    );
}

#[test]
fn max_runs_finishes_the_job() {
    let mut log = Log::new();
    let mut spec = every("a", 1);
    spec.policies.max_runs = 2;
    spec.policies.max_instances = 5;
    log.create(spec);
    log.fire("a", T0 - 1000, T0 + 5000);
    let job = log.state.job("a").expect("job");
    assert_eq!(job.run_count, 2);
    assert_eq!(job.state, JobState::Finished);
    assert_eq!(log.state.next_due(), None);
}

#[test]
fn pause_by_label_and_resume_from_now() {
    let mut log = Log::new();
    log.create(every("a", 1));
    log.create(every("b", 1));
    let mut other = every("c", 1);
    other.labels.clear();
    log.create(other);
    let sel = BTreeMap::from([("team".to_string(), "a".to_string())]);
    let r = log.apply(Command::SetPaused {
        target: PauseTarget::Labels(sel.clone()),
        paused: true,
        now: T0,
    });
    assert_eq!(r, Response::Affected(2));
    assert_eq!(log.state.due_through(T0 + 10_000).count(), 1);
    let r = log.apply(Command::SetPaused {
        target: PauseTarget::Labels(sel),
        paused: false,
        now: T0 + 5_500,
    });
    assert_eq!(r, Response::Affected(2));
    assert_eq!(
        log.state.job("a").and_then(|j| j.next_fire_at),
        Some(T0 + 6_000)
    );
}

#[test]
fn scheduler_pause_stops_firing() {
    let mut log = Log::new();
    log.create(every("a", 1));
    log.apply(Command::SetPaused {
        target: PauseTarget::Scheduler,
        paused: true,
        now: T0,
    });
    let r = log.fire("a", T0, T0 + 1000);
    assert!(matches!(r, Response::Fired { armed: 0, .. }));
    log.apply(Command::SetPaused {
        target: PauseTarget::Scheduler,
        paused: false,
        now: T0 + 3_000,
    });
    assert_eq!(
        log.state.job("a").and_then(|j| j.next_fire_at),
        Some(T0 + 3_000)
    );
}

#[test]
fn delete_cancels_open_occurrences() {
    let mut log = Log::new();
    log.create(every("a", 1));
    log.fire("a", T0 - 1000, T0);
    log.state.drain_events();
    assert_eq!(
        log.apply(Command::DeleteJob {
            id: "a".into(),
            expected_version: 0,
            now: T0
        }),
        Response::Ok
    );
    assert_eq!(log.state.open_count(), 0);
    let kinds: Vec<_> = log.state.drain_events().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![EventKind::OccurrenceCancelled, EventKind::JobRemoved]
    );
    let r = log.apply(Command::DeleteJob {
        id: "a".into(),
        expected_version: 0,
        now: T0,
    });
    assert_eq!(r, Response::Error(CommandError::NotFound("a".into())));
}

#[test]
fn retention_keeps_the_newest_finished() {
    let mut log = Log::new();
    log.apply(Command::SetRetention { per_job: 3 });
    let mut spec = every("a", 1);
    spec.policies.coalesce = Coalesce::All;
    spec.policies.max_instances = 100;
    log.create(spec);
    log.fire("a", T0 + 9_000, T0 + 9_000);
    for i in 0..10 {
        log.report(
            "a",
            T0 + i * 1000,
            finished(AttemptState::Succeeded, T0 + 9_500),
        );
    }
    let kept: Vec<UnixMs> = log
        .state
        .occurrences_of("a")
        .map(|(k, _)| k.scheduled_at)
        .collect();
    assert_eq!(kept, vec![T0 + 7_000, T0 + 8_000, T0 + 9_000]);
}

#[test]
fn snapshot_round_trip_rebuilds_indexes() {
    let mut log = Log::new();
    log.create(every("a", 1));
    log.create(every("b", 2));
    log.fire("a", T0, T0 + 3000);
    let bytes = log.state.encode().expect("encode");
    let back = State::decode(&bytes).expect("decode");
    back.check_invariants();
    assert_eq!(back.encode().expect("encode"), bytes);
    assert_eq!(back.open_count(), log.state.open_count());
    assert_eq!(
        back.jobs_matching(&BTreeMap::from([("team".into(), "a".into())]))
            .len(),
        2
    );
}

/// A batch applies its commands in order, as separate entries would, and
/// its run-now attempts get distinct tokens from the one entry; a batch
/// inside a batch is refused and changes nothing.
#[test]
fn a_batch_applies_in_order_with_distinct_tokens() {
    let mut log = Log::new();
    let create = |id: &str| Command::CreateJob {
        spec: every(id, 60),
        on_conflict: OnConflict::Fail,
        now: T0,
    };
    let run_now = |id: &str, now: i64| Command::RunNow {
        job_id: id.into(),
        assignee: 1,
        now,
    };
    let r = log.apply(Command::Batch(vec![
        create("a"),
        create("b"),
        create("a"),
        run_now("a", T0 + 1),
        run_now("b", T0 + 2),
        Command::Batch(vec![create("c")]),
    ]));
    let Response::Batch(rs) = r else {
        panic!("not a batch response: {r:?}")
    };
    assert_eq!(rs.len(), 6);
    assert!(matches!(rs[0], Response::Job(_)) && matches!(rs[1], Response::Job(_)));
    assert_eq!(
        rs[2],
        Response::Error(CommandError::AlreadyExists("a".into()))
    );
    assert_eq!(rs[5], Response::Error(CommandError::NestedBatch));
    assert!(
        log.state.job("c").is_none(),
        "the nested batch changed nothing"
    );
    let tokens: Vec<u64> = log
        .state
        .open_occurrences()
        .filter_map(|o| o.current().map(|a| a.token))
        .collect();
    assert_eq!(tokens.len(), 2, "{rs:?}");
    assert_ne!(tokens[0], tokens[1], "one entry, two attempts, two tokens");
    assert!(tokens.iter().all(|t| t >> 16 == log.index));
}

fn worker_job(id: &str, grace_ms: Option<u64>) -> JobSpec {
    let mut spec = every(id, 1);
    spec.executor = ExecutorSpec::Worker(WorkerSpec {
        queue: "reports".into(),
        function: "build".into(),
        args: None,
    });
    spec.policies.misfire_grace_ms = grace_ms;
    spec.policies.coalesce = Coalesce::All;
    spec
}

#[test]
fn unserved_worker_instants_are_missed_with_the_reason_only_past_grace() {
    let mut log = Log::new();
    log.create(worker_job("w", Some(2_000)));
    // At T0 + 3.5 s, instants T0 and T0 + 1 s are past the 2 s grace;
    // T0 + 2 s and T0 + 3 s are within it and wait for a worker.
    let r = log.apply(Command::Unserved {
        now: T0 + 3_500,
        job_ids: vec!["w".into()],
    });
    let Response::Fired { missed, armed, .. } = r else {
        panic!("{r:?}")
    };
    assert_eq!((missed, armed), (2, 0));
    for at in [T0, T0 + 1_000] {
        let o = log.occ("w", at);
        assert_eq!(o.state, RunState::Missed);
        let reason = o.reason.as_deref().unwrap_or_default();
        assert!(
            reason.starts_with("no worker for queue reports (function build)"),
            "{reason}"
        );
    }
    assert!(
        log.state
            .occurrence(&OccKey {
                job_id: "w".into(),
                scheduled_at: T0 + 2_000
            })
            .is_none(),
        "an instant within the grace waits"
    );
    assert_eq!(
        log.state.job("w").and_then(|j| j.next_fire_at),
        Some(T0 + 2_000)
    );
    // A worker appears: the waiting instants run as a backlog, in order.
    let r = log.fire("w", T0 + 3_600, T0 + 3_600);
    let Response::Fired { armed, .. } = r else {
        panic!("{r:?}")
    };
    assert!(armed >= 1, "{r:?}");
    assert_eq!(log.occ("w", T0 + 2_000).state, RunState::Armed);
}

#[test]
fn unserved_changes_nothing_for_jobs_without_grace_or_not_on_workers() {
    let mut log = Log::new();
    log.create(worker_job("forever", None));
    log.create(every("http", 1));
    let before = log.state.encode().expect("encode");
    log.apply(Command::Unserved {
        now: T0 + 60_000,
        job_ids: vec!["forever".into(), "http".into(), "gone".into()],
    });
    assert_eq!(log.state.encode().expect("encode"), before);
}

#[test]
fn a_one_shot_created_after_its_instant_runs_late_or_is_recorded_missed() {
    for (grace, want) in [(None, RunState::Armed), (Some(1_000), RunState::Missed)] {
        let mut log = Log::new();
        let mut spec = every("late-once", 1);
        spec.schedule = ScheduleSpec::Once(time::to_datetime(T0 - 5_000));
        spec.policies.misfire_grace_ms = grace;
        let job = log.create(spec);
        assert_eq!(
            job.next_fire_at,
            Some(T0 - 5_000),
            "due at once, not dropped"
        );
        log.fire("late-once", T0, T0 + 1_000);
        let o = log.occ("late-once", T0 - 5_000);
        assert_eq!(o.state, want, "grace {grace:?}: {o:?}");
    }
}

#[test]
fn a_job_pauses_itself_after_n_failures_in_a_row_and_a_success_resets_the_count() {
    let mut log = Log::new();
    let mut spec = every("flaky", 1);
    spec.policies.pause_after_failures = 3;
    spec.policies.max_instances = 10;
    log.create(spec);
    log.fire("flaky", T0 - 10, T0 + 4_500);
    let failed = |log: &mut Log, at: UnixMs| {
        log.report("flaky", at, finished(AttemptState::Failed, at + 10))
    };
    // Two failures, a success (resets), then three failures: paused.
    failed(&mut log, T0);
    failed(&mut log, T0 + 1_000);
    log.report(
        "flaky",
        T0 + 2_000,
        finished(AttemptState::Succeeded, T0 + 2_010),
    );
    assert_eq!(
        log.state.job("flaky").map(|j| j.state),
        Some(JobState::Active)
    );
    failed(&mut log, T0 + 3_000);
    failed(&mut log, T0 + 4_000);
    assert_eq!(
        log.state.job("flaky").map(|j| j.state),
        Some(JobState::Active)
    );
    log.fire("flaky", T0 + 4_990, T0 + 6_000);
    failed(&mut log, T0 + 5_000);
    let job = log.state.job("flaky").expect("job").clone();
    assert_eq!(job.state, JobState::Paused);
    let reason = job.pause_reason.expect("a reason on the job");
    assert!(
        reason.starts_with("paused after 3 consecutive failures: "),
        "{reason}"
    );
    for at in [T0 + 3_000, T0 + 4_000, T0 + 5_000] {
        assert!(reason.contains(&time::rfc3339_ms(at)), "{reason}");
    }
    assert!(
        !reason.contains(&time::rfc3339_ms(T0)),
        "failures before the success do not count"
    );
    // Resuming clears the count and the reason.
    log.apply(Command::SetPaused {
        target: PauseTarget::Job("flaky".into()),
        paused: false,
        now: T0 + 7_000,
    });
    let job = log.state.job("flaky").expect("job");
    assert_eq!(job.state, JobState::Active);
    assert!(job.failures.is_empty() && job.pause_reason.is_none());
}

#[test]
fn a_backfill_creates_past_instants_in_order_once_and_within_its_limit() {
    let mut log = Log::new();
    log.create(every("b", 1));
    let now = T0 + 3_600_000;
    let backfill = |log: &mut Log, from: UnixMs, to: UnixMs| {
        log.apply(Command::Backfill {
            job_id: "b".into(),
            from,
            to,
            assignee: 2,
            now,
        })
    };
    let r = backfill(&mut log, T0 + 10_000, T0 + 14_000);
    assert_eq!(
        r,
        Response::Backfilled {
            created: 5,
            existing: 0
        }
    );
    // The first runs; the others wait in order, one at a time.
    assert_eq!(log.occ("b", T0 + 10_000).state, RunState::Armed);
    assert!(!log.occ("b", T0 + 10_000).buffered);
    for at in [T0 + 11_000, T0 + 12_000, T0 + 13_000, T0 + 14_000] {
        assert!(log.occ("b", at).buffered, "{at} waits");
    }
    // Again, and over a wider range: nothing twice.
    let r = backfill(&mut log, T0 + 9_000, T0 + 14_000);
    assert_eq!(
        r,
        Response::Backfilled {
            created: 1,
            existing: 5
        }
    );
    // The first one ends: the earliest waiting one is released.
    log.report(
        "b",
        T0 + 10_000,
        finished(AttemptState::Succeeded, now + 10),
    );
    assert!(
        !log.occ("b", T0 + 9_000).buffered,
        "earliest instant released first"
    );
    // Bad input changes nothing.
    let before = log.state.encode().expect("encode");
    for (from, to, field) in [
        (T0 + 5_000, T0 + 4_000, "from"),
        (T0, now + 1_000, "to"),
        (T0, T0 + 1_500_000, "to"),
    ] {
        match backfill(&mut log, from, to) {
            Response::Error(CommandError::Invalid(v)) => assert_eq!(v.field, field),
            other => panic!("{other:?}"),
        }
    }
    let r = log.apply(Command::Backfill {
        job_id: "nope".into(),
        from: T0,
        to: T0,
        assignee: 2,
        now,
    });
    assert!(matches!(r, Response::Error(CommandError::NotFound(_))));
    assert_eq!(log.state.encode().expect("encode"), before);
    // Backfilled runs do not count towards max runs.
    assert_eq!(log.state.job("b").map(|j| j.run_count), Some(0));
}

fn after(id: &str, upstream: &str, on_finished: bool) -> JobSpec {
    let mut spec = every(id, 1);
    spec.schedule = ScheduleSpec::After {
        job_id: upstream.into(),
        on_finished,
    };
    spec
}

#[test]
fn dependent_jobs_run_once_per_upstream_occurrence_and_refuse_cycles() {
    let mut log = Log::new();
    let mut a = every("a", 1);
    a.policies.max_instances = 10;
    log.create(a);
    let b = log.create(after("b", "a", false));
    assert_eq!(
        b.state,
        JobState::Active,
        "no instants of its own, yet active"
    );
    log.create(after("c", "a", true));
    log.fire("a", T0 - 10, T0 + 1_500);
    log.report("a", T0, finished(AttemptState::Succeeded, T0 + 10));
    log.report("a", T0 + 1_000, finished(AttemptState::Failed, T0 + 1_010));
    // b after a's success only; c after both.
    assert_eq!(log.occ("b", T0).state, RunState::Armed);
    assert_eq!(
        log.occ("b", T0).key.id(),
        format!("b@{}", time::rfc3339_ms(T0))
    );
    assert!(
        log.state
            .occurrence(&OccKey {
                job_id: "b".into(),
                scheduled_at: T0 + 1_000
            })
            .is_none(),
        "no b after a failure"
    );
    assert_eq!(log.occ("c", T0).state, RunState::Armed);
    assert!(
        log.occ("c", T0 + 1_000).buffered,
        "c queued behind its own run"
    );
    // A chain: d after b; b's success runs d.
    log.create(after("d", "b", false));
    log.report("b", T0, finished(AttemptState::Succeeded, T0 + 20));
    assert_eq!(log.occ("d", T0).state, RunState::Armed);

    let before = log.state.encode().expect("encode");
    // A cycle is refused: a after d.
    let r = log.apply(Command::UpdateJob {
        spec: after("a", "d", false),
        expected_version: 0,
        now: T0 + 5_000,
    });
    match r {
        Response::Error(CommandError::Invalid(v)) => {
            assert_eq!(v.field, "job.schedule.after.job_id");
            assert!(
                v.message.starts_with("a cycle: a after d after b after a"),
                "{}",
                v.message
            );
        }
        other => panic!("{other:?}"),
    }
    // An unknown upstream is refused.
    let r = log.apply(Command::CreateJob {
        spec: after("e", "nope", false),
        on_conflict: OnConflict::Fail,
        now: T0,
    });
    assert!(
        matches!(r, Response::Error(CommandError::Invalid(ref v)) if v.message.contains("not found")),
        "{r:?}"
    );
    assert_eq!(log.state.encode().expect("encode"), before);
    // A chain deeper than the limit is refused.
    let mut up = "d".to_string();
    let mut refused = None;
    for i in 0..MAX_DEPENDENCY_DEPTH {
        let id = format!("x{i}");
        match log.apply(Command::CreateJob {
            spec: after(&id, &up, false),
            on_conflict: OnConflict::Fail,
            now: T0,
        }) {
            Response::Job(_) => up = id,
            Response::Error(CommandError::Invalid(v)) => {
                refused = Some(v);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let v = refused.expect("a chain deeper than the limit is refused");
    assert!(
        v.message.starts_with("a chain deeper than"),
        "{}",
        v.message
    );
}

#[test]
fn the_same_spec_again_changes_nothing() {
    let mut log = Log::new();
    let job = log.create(worker_job("w", None));
    let before = log.state.encode().expect("encode");
    for cmd in [
        Command::CreateJob {
            spec: job.spec.clone(),
            on_conflict: OnConflict::Replace,
            now: T0 + 5_000,
        },
        Command::UpdateJob {
            spec: job.spec.clone(),
            expected_version: 0,
            now: T0 + 6_000,
        },
    ] {
        let r = log.apply(cmd);
        let Response::Job(j) = r else { panic!("{r:?}") };
        assert_eq!(j.version, 1, "no new version");
    }
    assert_eq!(log.state.encode().expect("encode"), before);
}

#[test]
fn an_update_records_the_due_instants_it_supersedes() {
    let mut log = Log::new();
    let job = log.create(worker_job("w", None));
    // T0 and T0 + 1 s are due and waited (no worker); the update at
    // T0 + 1.5 s records them instead of dropping them.
    let mut spec = job.spec.clone();
    spec.labels.insert("v".into(), "2".into());
    let r = log.apply(Command::UpdateJob {
        spec,
        expected_version: 1,
        now: T0 + 1_500,
    });
    assert!(matches!(r, Response::Job(ref j) if j.version == 2), "{r:?}");
    for at in [T0, T0 + 1_000] {
        let o = log.occ("w", at);
        assert_eq!(o.state, RunState::Missed);
        assert!(
            o.reason
                .as_deref()
                .unwrap_or_default()
                .contains("updated (version 2)"),
            "{:?}",
            o.reason
        );
    }
    assert_eq!(
        log.state.job("w").and_then(|j| j.next_fire_at),
        Some(T0 + 2_000),
        "the new schedule starts after the update"
    );
}

#[test]
fn worker_args_must_be_json_and_bounded() {
    let with = |queue: &str, function: &str, args: Option<String>| {
        let mut spec = worker_job("w", None);
        spec.executor = ExecutorSpec::Worker(WorkerSpec {
            queue: queue.into(),
            function: function.into(),
            args,
        });
        validate_spec(&spec)
    };
    let e = with("q", "f", Some("{not json".into())).expect_err("not JSON");
    assert_eq!(e.field, "job.executor.worker.args");
    let big = format!("\"{}\"", "x".repeat(MAX_WORKER_ARGS));
    let e = with("q", "f", Some(big)).expect_err("too large");
    assert_eq!(e.field, "job.executor.worker.args");
    assert!(e.message.contains("65536"), "{}", e.message);
    let e = with("", "f", None).expect_err("empty queue");
    assert_eq!(e.field, "job.executor.worker.queue");
    let e = with("q", "has space", None).expect_err("bad function");
    assert_eq!(e.field, "job.executor.worker.function");
    assert!(with("q", "f", Some("[1, 2]".into())).is_ok());
}

// ------------------------------------------------------------ properties

/// A command with symbolic references, resolved against the state when it
/// is applied (tokens can't be guessed up front).
#[derive(Clone, Debug)]
enum Op {
    Create(u8, u8, u8),
    Update(u8, u8),
    Delete(u8),
    Pause(u8, bool),
    PauseAll(bool),
    Fire(Vec<u8>, i64, i64),
    RunNow(u8, i64),
    Report(usize, u8),
    Reassign(usize),
    /// Worker jobs that no node can serve, at a time.
    Unserved(Vec<u8>, i64),
    /// A backfill of a job over a past range, at a time.
    Backfill(u8, i64, i64),
    /// Token k: 0 bootstraps, 1 creates, 2 revokes.
    Token(u8, u8),
    /// Calendar k: 0 puts days that exclude the test's day, 1 puts days
    /// that do not, 2 deletes it.
    Calendar(u8, u8),
    /// Client writes grouped into one entry (as a node's write batcher does).
    Batch(Vec<Op>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => single_op(),
        1 => proptest::collection::vec(single_op(), 1..5).prop_map(Op::Batch),
    ]
}

fn single_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4, 1u8..4, 0u8..4).prop_map(|(j, s, p)| Op::Create(j, s, p)),
        (0u8..4, 1u8..4).prop_map(|(j, s)| Op::Update(j, s)),
        (0u8..4).prop_map(Op::Delete),
        (0u8..4, any::<bool>()).prop_map(|(j, p)| Op::Pause(j, p)),
        any::<bool>().prop_map(Op::PauseAll),
        (
            proptest::collection::vec(0u8..4, 1..4),
            0i64..30_000,
            0i64..3_000
        )
            .prop_map(|(j, n, l)| Op::Fire(j, n, l)),
        (0u8..4, 0i64..30_000).prop_map(|(j, n)| Op::RunNow(j, n)),
        (0usize..64, 0u8..5).prop_map(|(o, k)| Op::Report(o, k)),
        (0usize..64).prop_map(Op::Reassign),
        (proptest::collection::vec(0u8..4, 1..4), 0i64..30_000)
            .prop_map(|(j, n)| Op::Unserved(j, n)),
        (0u8..4, 0i64..20_000, 0i64..10_000).prop_map(|(j, f, l)| Op::Backfill(j, f, l)),
        (0u8..3, 0u8..3).prop_map(|(k, what)| Op::Token(k, what)),
        (0u8..2, 0u8..3).prop_map(|(k, what)| Op::Calendar(k, what)),
    ]
}

fn spec_for(job: u8, secs: u8, policy: u8) -> JobSpec {
    let mut spec = every(&format!("j{job}"), u64::from(secs));
    spec.policies.overlap = [
        Overlap::Allow,
        Overlap::Skip,
        Overlap::BufferOne,
        Overlap::Replace,
    ][policy as usize % 4];
    spec.policies.coalesce =
        [Coalesce::Latest, Coalesce::Earliest, Coalesce::All][policy as usize % 3];
    spec.policies.misfire_grace_ms = Some(5_000);
    spec.policies.retry.max_retries = u32::from(policy % 2);
    spec.policies.pause_after_failures = u32::from(policy % 3);
    // Some jobs name an exclusion calendar (refused while it is missing).
    if job == 0 && policy % 2 == 1 {
        spec.exclude_calendars = vec!["c0".into()].into();
    }
    // Job 2 runs after job 1 (when job 1 exists).
    if job == 2 {
        spec.schedule = ScheduleSpec::After {
            job_id: "j1".into(),
            on_finished: policy % 2 == 1,
        };
    }
    // Job 3 runs on workers, so `Unserved` has something to record.
    if job == 3 {
        spec.executor = ExecutorSpec::Worker(WorkerSpec {
            queue: "q".into(),
            function: "f".into(),
            args: Some("{\"n\": 1}".into()),
        });
    }
    spec
}

/// Turns an op into a concrete command against the current state, and says
/// whether applying it twice must be a no-op the second time.
fn resolve(state: &State, op: &Op) -> (Command, bool) {
    match op {
        // Resolved against the state before the batch. A batch as a whole
        // need not be idempotent: a client's retry joins another batch, and
        // each command in it is idempotent on its own.
        Op::Batch(ops) => (
            Command::Batch(ops.iter().map(|o| resolve(state, o).0).collect()),
            false,
        ),
        Op::Create(j, s, p) => (
            Command::CreateJob {
                spec: spec_for(*j, *s, *p),
                on_conflict: OnConflict::Fail,
                now: T0 - 1,
            },
            true,
        ),
        Op::Update(j, s) => {
            let id = format!("j{j}");
            let version = state.job(&id).map_or(1, |x| x.version);
            (
                Command::UpdateJob {
                    spec: spec_for(*j, *s, 1),
                    expected_version: version,
                    now: T0 + 1,
                },
                true,
            )
        }
        Op::Delete(j) => (
            Command::DeleteJob {
                id: format!("j{j}"),
                expected_version: 0,
                now: T0,
            },
            true,
        ),
        Op::Pause(j, p) => (
            Command::SetPaused {
                target: PauseTarget::Job(format!("j{j}")),
                paused: *p,
                now: T0 + 2,
            },
            true,
        ),
        Op::PauseAll(p) => (
            Command::SetPaused {
                target: PauseTarget::Scheduler,
                paused: *p,
                now: T0 + 2,
            },
            true,
        ),
        Op::Fire(jobs, now, look) => (
            Command::Fire {
                now: T0 + now,
                advances: jobs
                    .iter()
                    .map(|j| Advance {
                        job_id: format!("j{j}"),
                        through: T0 + now + look,
                        assignee: u64::from(*j % 3) + 1,
                        // Both judgements, varied by the generated input.
                        on_time: (*j as u64 + *now as u64).is_multiple_of(2),
                    })
                    .collect(),
            },
            true,
        ),
        Op::Token(k, what) => {
            let token = crate::model::TokenRecord {
                name: format!("t{k}"),
                role: crate::model::Role::ALL[usize::from(*k) % 5],
                hash: format!("{k:064x}"),
                queues: Vec::new(),
                created_at: T0,
                created_by: "test".into(),
            };
            let cmd = match what {
                0 => Command::AclBootstrap { token },
                1 => Command::CreateToken { token },
                _ => Command::RevokeToken {
                    name: format!("t{k}"),
                },
            };
            (cmd, true)
        }
        Op::Calendar(k, what) => {
            let name = format!("c{k}");
            let cmd = match what {
                2 => Command::DeleteCalendar { name },
                w => Command::PutCalendar {
                    spec: CalendarSpec {
                        name,
                        time_zone: "Europe/Berlin".into(),
                        // T0 is 2026-01-01 in Berlin too.
                        dates: vec![if *w == 0 { "2026-01-01" } else { "2026-01-05" }.into()],
                        crons: vec!["0 0 * * 6".into()],
                        ..CalendarSpec::default()
                    },
                    expected_version: 0,
                    create_only: false,
                    now: T0 + 3,
                },
            };
            (cmd, true)
        }
        Op::Unserved(jobs, now) => (
            Command::Unserved {
                now: T0 + now,
                job_ids: jobs.iter().map(|j| format!("j{j}")).collect(),
            },
            true,
        ),
        Op::Backfill(j, from, len) => (
            Command::Backfill {
                job_id: format!("j{j}"),
                from: T0 + from,
                to: T0 + from + len,
                assignee: u64::from(*j % 3) + 1,
                now: T0 + 30_000,
            },
            true,
        ),
        Op::RunNow(j, now) => (
            Command::RunNow {
                job_id: format!("j{j}"),
                assignee: 1,
                now: T0 + now,
            },
            true,
        ),
        Op::Report(o, kind) => {
            let open: Vec<&Occurrence> = state.open_occurrences().collect();
            let Some(occ) = (!open.is_empty()).then(|| open[o % open.len()]) else {
                return (Command::Noop, true);
            };
            let Some(a) = occ.current() else {
                return (Command::Noop, true);
            };
            let outcome = match kind {
                0 => AttemptOutcome::Started { at: a.due_at },
                1 => finished(AttemptState::Succeeded, a.due_at + 10),
                2 => finished(AttemptState::Failed, a.due_at + 10),
                3 => finished(AttemptState::TimedOut, a.due_at + 10),
                _ => AttemptOutcome::Ran {
                    started_at: a.due_at,
                    at: a.due_at + 10,
                    state: AttemptState::Succeeded,
                    exit_code: Some(0),
                    output_tail: String::new(),
                },
            };
            let r = Report {
                key: occ.key.clone(),
                token: a.token,
                node_id: a.node_id,
                outcome,
            };
            (
                Command::Report {
                    now: a.due_at + 20,
                    reports: vec![r],
                },
                true,
            )
        }
        Op::Reassign(o) => {
            let open: Vec<&Occurrence> = state.open_occurrences().collect();
            let Some(occ) = (!open.is_empty()).then(|| open[o % open.len()]) else {
                return (Command::Noop, true);
            };
            let Some(a) = occ.current() else {
                return (Command::Noop, true);
            };
            let item = Reassign {
                key: occ.key.clone(),
                token: a.token,
                assignee: a.node_id % 3 + 1,
                reason: "test".into(),
            };
            (
                Command::Reassign {
                    now: a.due_at,
                    items: vec![item],
                },
                true,
            )
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Applying the same log gives the same state; a duplicate proposal of
    /// any command changes nothing; replaying the rest of the log over a
    /// snapshot taken anywhere gives the same state.
    #[test]
    fn apply_is_deterministic_idempotent_and_replays_over_snapshots(
        ops in proptest::collection::vec(op(), 1..40),
        cut in 0usize..40,
    ) {
        let mut a = Log::new();
        let mut commands = Vec::new();
        for op in &ops {
            let (cmd, idempotent) = resolve(&a.state, op);
            a.apply(cmd.clone());
            commands.push(cmd.clone());
            if idempotent {
                let before = a.state.encode().expect("encode");
                let r = a.apply(cmd.clone());
                commands.push(cmd);
                let after = a.state.encode().expect("encode");
                prop_assert_eq!(&before, &after, "duplicate changed the state; response {:?}", r);
            }
        }
        a.state.check_invariants();
        // The index of bad runs answers as a scan of every run does.
        for limit in [0, 3] {
            let bad = [RunState::Failed, RunState::Missed, RunState::Skipped];
            let since = T0 - 10_000;
            let via_index: Vec<&OccKey> = a
                .state
                .runs_in_states(&bad, since, limit)
                .into_iter()
                .map(|o| &o.key)
                .collect();
            let scanned: Vec<&OccKey> = super::queries::newest(
                a.state
                    .occurrences
                    .values()
                    .filter(|o| o.key.scheduled_at >= since && bad.contains(&o.state)),
                limit,
            )
            .into_iter()
            .map(|o| &o.key)
            .collect();
            prop_assert_eq!(via_index, scanned);
        }

        // Determinism: a second replica applying the same log, and a third
        // whose cache of compiled schedules loses everything after each
        // command (the worst its eviction can do).
        let mut b = Log::new();
        let mut e = Log::new();
        for cmd in &commands {
            b.apply(cmd.clone());
            e.apply(cmd.clone());
            e.state.forget_compiled();
        }
        prop_assert_eq!(a.state.encode().expect("encode"), b.state.encode().expect("encode"));
        prop_assert_eq!(a.state.encode().expect("encode"), e.state.encode().expect("encode"));

        // Snapshot at `cut`, then replay the rest.
        let cut = cut.min(commands.len());
        let mut c = Log::new();
        for cmd in &commands[..cut] {
            c.apply(cmd.clone());
        }
        let snap = c.state.encode().expect("encode");
        let mut d = Log { state: State::decode(&snap).expect("decode"), index: c.index };
        for cmd in &commands[cut..] {
            d.apply(cmd.clone());
        }
        d.state.check_invariants();
        prop_assert_eq!(a.state.encode().expect("encode"), d.state.encode().expect("encode"));
    }
}

#[test]
fn acl_bootstraps_once_and_tokens_are_found_by_hash_until_revoked() {
    use crate::model::{Role, TokenRecord};
    let mut log = Log::new();
    let token = |name: &str, hash: &str, role| TokenRecord {
        name: name.into(),
        role,
        hash: hash.into(),
        queues: Vec::new(),
        created_at: T0,
        created_by: "test".into(),
    };
    assert!(!log.state.acl_bootstrapped());
    let r = log.apply(Command::AclBootstrap {
        token: token("root", "aa", Role::Admin),
    });
    assert_eq!(r, Response::Ok);
    assert!(log.state.acl_bootstrapped());
    // Never twice, even after the first token is revoked.
    let r = log.apply(Command::RevokeToken {
        name: "root".into(),
    });
    assert_eq!(r, Response::Ok);
    let r = log.apply(Command::AclBootstrap {
        token: token("again", "bb", Role::Admin),
    });
    assert_eq!(r, Response::Error(CommandError::AclBootstrapped));
    assert!(log.state.token_by_hash("bb").is_none());
    let r = log.apply(Command::CreateToken {
        token: token("ci", "cc", Role::Writer),
    });
    assert_eq!(r, Response::Ok);
    let r = log.apply(Command::CreateToken {
        token: token("ci", "dd", Role::Reader),
    });
    assert_eq!(r, Response::Error(CommandError::TokenExists("ci".into())));
    assert_eq!(
        log.state.token_by_hash("cc").map(|t| t.role),
        Some(Role::Writer)
    );
    assert!(log.state.token_by_hash("dd").is_none());
    // The index survives a snapshot.
    let back = State::decode(&log.state.encode().expect("encode")).expect("decode");
    assert_eq!(
        back.token_by_hash("cc").map(|t| t.name.as_str()),
        Some("ci")
    );
    assert!(back.acl_bootstrapped());
    let r = log.apply(Command::RevokeToken { name: "ci".into() });
    assert_eq!(r, Response::Ok);
    assert!(log.state.token_by_hash("cc").is_none());
    assert_eq!(
        log.apply(Command::RevokeToken { name: "ci".into() }),
        Response::Error(CommandError::TokenNotFound("ci".into()))
    );
}

#[test]
fn jobs_and_events_record_who_asked() {
    let mut log = Log::new();
    let by = |principal: &str, cmd: Command| Command::By {
        principal: principal.into(),
        cmd: Box::new(cmd),
    };
    let spec = every("a", 1);
    let r = log.apply(Command::Batch(vec![by(
        "alice",
        Command::CreateJob {
            spec: spec.clone(),
            on_conflict: OnConflict::Fail,
            now: T0,
        },
    )]));
    assert!(matches!(r, Response::Batch(_)), "{r:?}");
    let job = log.state.job("a").expect("created");
    assert_eq!(
        (job.created_by.as_str(), job.updated_by.as_str()),
        ("alice", "alice")
    );
    let mut changed = spec.clone();
    changed.name = "renamed".into();
    log.apply(by(
        "bob",
        Command::UpdateJob {
            spec: changed,
            expected_version: 0,
            now: T0 + 1,
        },
    ));
    let job = log.state.job("a").expect("kept");
    assert_eq!(
        (job.created_by.as_str(), job.updated_by.as_str()),
        ("alice", "bob")
    );
    let events = log.state.drain_events();
    assert!(events.iter().any(|e| e.by == "bob"), "{events:?}");
    // The cluster's own commands name nobody.
    log.fire("a", T0 + 1000, T0 + 2000);
    let fired = log.state.drain_events();
    assert!(
        !fired.is_empty() && fired.iter().all(|e| e.by.is_empty()),
        "{fired:?}"
    );
    // And a snapshot keeps them.
    let back = State::decode(&log.state.encode().expect("encode")).expect("decode");
    assert_eq!(back.job("a").map(|j| j.updated_by.as_str()), Some("bob"));
}

#[test]
fn instants_held_when_the_job_is_deleted_are_recorded_not_lost() {
    let mut log = Log::new();
    log.create(every("a", 1));
    // The leader held the instants at T0 and T0 + 1000 (no Fire entry);
    // the job is deleted at T0 + 1500.
    log.state.drain_events();
    let r = log.apply(Command::DeleteJob {
        id: "a".into(),
        expected_version: 0,
        now: T0 + 1500,
    });
    assert_eq!(r, Response::Ok);
    let events = log.state.drain_events();
    let cancelled: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::OccurrenceCancelled)
        .filter_map(|e| e.occurrence.as_ref().map(|k| k.scheduled_at))
        .collect();
    assert_eq!(cancelled, vec![T0, T0 + 1000], "{events:?}");
    assert!(
        events
            .iter()
            .filter(|e| e.kind == EventKind::OccurrenceCancelled)
            .all(|e| e.cause == Some(NotRunCause::Deleted)),
        "{events:?}"
    );
}

#[test]
fn instants_held_when_the_job_or_scheduler_is_paused_are_recorded_not_lost() {
    let missed_paused = |log: &mut Log| -> Vec<UnixMs> {
        log.state
            .drain_events()
            .iter()
            .filter(|e| e.kind == EventKind::OccurrenceMissed)
            .filter(|e| e.cause == Some(NotRunCause::Paused))
            .filter_map(|e| e.occurrence.as_ref().map(|k| k.scheduled_at))
            .collect()
    };
    let mut log = Log::new();
    log.create(every("a", 1));
    log.create(every("b", 1));
    log.state.drain_events();
    // The leader held a's instants at T0 and T0 + 1000 (no Fire entry);
    // the job is paused at T0 + 1500: both are recorded, none later.
    let r = log.apply(Command::SetPaused {
        target: PauseTarget::Job("a".into()),
        paused: true,
        now: T0 + 1500,
    });
    assert_eq!(r, Response::Affected(1));
    assert_eq!(missed_paused(&mut log), vec![T0, T0 + 1000]);
    let a = log.state.job("a").expect("a");
    assert_eq!(a.state, JobState::Paused);
    assert_eq!(a.next_fire_at, Some(T0 + 2000));
    // A resume creates nothing before its own instant, and records
    // nothing again.
    log.apply(Command::SetPaused {
        target: PauseTarget::Job("a".into()),
        paused: false,
        now: T0 + 4500,
    });
    assert_eq!(missed_paused(&mut log), Vec::<UnixMs>::new());
    assert_eq!(
        log.state.job("a").and_then(|j| j.next_fire_at),
        Some(T0 + 5000)
    );
    // The scheduler's pause records every active job's due instants: b's
    // from T0 and a's from its resume.
    log.apply(Command::SetPaused {
        target: PauseTarget::Scheduler,
        paused: true,
        now: T0 + 5200,
    });
    let mut got = missed_paused(&mut log);
    got.sort_unstable();
    let mut want = vec![
        T0,
        T0 + 1000,
        T0 + 2000,
        T0 + 3000,
        T0 + 4000,
        T0 + 5000,
        T0 + 5000,
    ];
    want.sort_unstable();
    assert_eq!(got, want);
    let runs = log.state.runs(&RunFilter {
        job_id: Some("b".into()),
        limit: 100,
        ..Default::default()
    });
    assert_eq!(runs.len(), 6);
    assert!(
        runs.iter()
            .all(|o| o.state == RunState::Missed && o.cause == Some(NotRunCause::Paused)),
        "{runs:?}"
    );
}

/// Berlin: Christmas, New Year's range and weekends.
fn berlin_calendar() -> CalendarSpec {
    CalendarSpec {
        name: "holidays".into(),
        time_zone: "Europe/Berlin".into(),
        dates: vec!["2026-12-25".into()],
        ranges: vec![("2026-12-31".into(), "2027-01-02".into())],
        crons: vec!["0 0 * * 6,0".into()],
        ..CalendarSpec::default()
    }
}

fn put_calendar(log: &mut Log, spec: CalendarSpec, now: UnixMs) -> Response {
    log.apply(Command::PutCalendar {
        spec,
        expected_version: 0,
        create_only: false,
        now,
    })
}

fn daily_at_ten(id: &str) -> JobSpec {
    let mut spec = every(id, 1);
    spec.schedule = ScheduleSpec::Cron("0 10 * * *".into());
    spec.time_zone = "Europe/Berlin".into();
    spec.exclude_calendars = vec!["holidays".into()].into();
    spec
}

fn ms(s: &str) -> UnixMs {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("a time")
        .timestamp_millis()
}

#[test]
fn a_calendar_excludes_christmas_and_weekends_in_berlin_across_a_dst_change() {
    let mut log = Log::new();
    // Friday 2026-10-23, 12:00 Berlin: today's 10:00 has passed.
    let now = ms("2026-10-23T10:00:00Z");
    assert!(matches!(
        put_calendar(&mut log, berlin_calendar(), now),
        Response::Calendar(_)
    ));
    let created = log.apply(Command::CreateJob {
        spec: daily_at_ten("report"),
        on_conflict: OnConflict::Fail,
        now,
    });
    let Response::Job(job) = created else {
        panic!("created: {created:?}");
    };
    // Not Saturday 24 or Sunday 25 (the DST change): Monday 26 at 10:00 CET.
    assert_eq!(job.next_fire_at, Some(ms("2026-10-26T09:00:00Z")));
    let schedule = log.state.schedule_of("report").expect("a schedule");
    let seed = crate::schedule::job_seed("report");
    let from = time::to_datetime(ms("2026-12-23T12:00:00Z"));
    let next: Vec<String> = schedule
        .upcoming(from, seed)
        .take(4)
        .map(|t| time::rfc3339_ms(time::from_datetime(t)))
        .collect();
    assert_eq!(
        next,
        [
            "2026-12-24T09:00:00.000Z", // Thursday
            "2026-12-28T09:00:00.000Z", // not Christmas (Fri), nor the weekend
            "2026-12-29T09:00:00.000Z",
            "2026-12-30T09:00:00.000Z", // then not 31 Dec - 2 Jan, nor Sunday 3
        ]
    );
    let after = schedule
        .next_after(time::to_datetime(ms("2026-12-30T12:00:00Z")), seed)
        .map(time::from_datetime);
    assert_eq!(after, Some(ms("2027-01-04T09:00:00Z")));
}

#[test]
fn a_changed_calendar_moves_its_jobs_and_one_in_use_cannot_be_deleted() {
    let mut log = Log::new();
    let now = ms("2026-10-23T10:00:00Z");
    put_calendar(&mut log, berlin_calendar(), now);
    log.apply(Command::CreateJob {
        spec: daily_at_ten("report"),
        on_conflict: OnConflict::Fail,
        now,
    });
    // Monday 26 October becomes a holiday: the cursor moves to Tuesday.
    let mut spec = berlin_calendar();
    spec.dates.push("2026-10-26".into());
    let r = put_calendar(&mut log, spec, now + 1);
    assert!(
        matches!(&r, Response::Calendar(c) if c.version == 2),
        "{r:?}"
    );
    assert_eq!(
        log.state.job("report").and_then(|j| j.next_fire_at),
        Some(ms("2026-10-27T09:00:00Z"))
    );
    // In use: refused, naming the job.
    let r = log.apply(Command::DeleteCalendar {
        name: "holidays".into(),
    });
    assert!(
        matches!(&r, Response::Error(CommandError::CalendarInUse { jobs, .. }) if jobs == "report"),
        "{r:?}"
    );
    assert!(log.state.calendar("holidays").is_some());
    // A job naming a calendar that does not exist is refused by field.
    let mut other = daily_at_ten("other");
    other.exclude_calendars = vec!["holidays".into(), "nope".into()].into();
    let r = log.apply(Command::CreateJob {
        spec: other,
        on_conflict: OnConflict::Fail,
        now,
    });
    assert!(
        matches!(&r, Response::Error(CommandError::Invalid(v)) if v.field == "job.exclude_calendars[1]"),
        "{r:?}"
    );
    // Calendars that leave no fire time are refused.
    put_calendar(
        &mut log,
        CalendarSpec {
            name: "always".into(),
            crons: vec!["* * * * *".into()],
            ..CalendarSpec::default()
        },
        now,
    );
    let mut never = daily_at_ten("never");
    never.exclude_calendars = vec!["always".into()].into();
    let r = log.apply(Command::CreateJob {
        spec: never,
        on_conflict: OnConflict::Fail,
        now,
    });
    assert!(
        matches!(&r, Response::Error(CommandError::Invalid(v)) if v.field == "job.exclude_calendars"),
        "{r:?}"
    );
    // Once no job names it, it goes; the state survives a snapshot.
    log.apply(Command::DeleteJob {
        id: "report".into(),
        expected_version: 0,
        now,
    });
    let r = log.apply(Command::DeleteCalendar {
        name: "holidays".into(),
    });
    assert!(matches!(r, Response::Affected(1)), "{r:?}");
    let bytes = log.state.encode().expect("encode");
    let back = State::decode(&bytes).expect("decode");
    assert!(back.calendar("always").is_some() && back.calendar("holidays").is_none());
}

/// A job firing every second whose whole backlog runs: every missed instant
/// is chosen (no grace, coalesce all).
fn every_second_all(id: &str, max_instances: u32) -> JobSpec {
    let mut spec = every(id, 1);
    spec.policies.misfire_grace_ms = None;
    spec.policies.coalesce = Coalesce::All;
    spec.policies.max_instances = max_instances;
    spec
}

#[test]
fn a_backlog_over_the_cap_creates_the_cap_and_summarises_the_rest_in_one_event() {
    let mut log = Log::new();
    log.create(every_second_all("a", 1));
    log.state.drain_events();
    // Back 1,500 s late: 1,501 instants due (T0 ..= now), more than one
    // advance may create.
    let now = T0 + 1_500_000;
    log.fire("a", now, now);
    let created: Vec<UnixMs> = log
        .state
        .occurrences_of("a")
        .map(|(k, _)| k.scheduled_at)
        .collect();
    assert_eq!(
        created.len(),
        MAX_BACKLOG_PER_ADVANCE,
        "occurrences created"
    );
    assert_eq!(created.first(), Some(&T0));
    assert_eq!(
        created.last(),
        Some(&(T0 + (MAX_BACKLOG_PER_ADVANCE as i64 - 1) * 1_000))
    );
    let first_cut = T0 + MAX_BACKLOG_PER_ADVANCE as i64 * 1_000;
    let cuts: Vec<Event> = log
        .state
        .drain_events()
        .into_iter()
        .filter(|e| e.cause == Some(NotRunCause::BacklogCut))
        .collect();
    assert_eq!(cuts.len(), 1, "one BacklogCut event: {cuts:?}");
    let cut = &cuts[0];
    assert_eq!(cut.kind, EventKind::OccurrenceMissed);
    assert_eq!(cut.job_id, "a");
    assert!(
        cut.detail.contains(&time::rfc3339_ms(first_cut))
            && cut.detail.contains(&time::rfc3339_ms(now)),
        "the event names the range cut, {} up to {}: {:?}",
        time::rfc3339_ms(first_cut),
        time::rfc3339_ms(now),
        cut.detail
    );
    // The cursor skips the cut range: the next instant not before now.
    assert_eq!(log.state.job("a").and_then(|j| j.next_fire_at), Some(now));
    // Nothing in the cut range was created.
    assert!(
        log.state
            .occurrence(&OccKey {
                job_id: "a".into(),
                scheduled_at: first_cut,
            })
            .is_none()
    );
}

#[test]
fn an_entry_whose_tokens_cannot_cover_a_backlog_leaves_the_job_for_the_next_entry() {
    let mut log = Log::new();
    // Each filler arms a whole backlog of MAX_BACKLOG_PER_ADVANCE, one token
    // each, in the same entry, until fewer tokens are left than the last
    // job's backlog needs.
    let per_job = MAX_BACKLOG_PER_ADVANCE;
    let fillers = MAX_ATTEMPTS_PER_ENTRY / per_job;
    let left = MAX_ATTEMPTS_PER_ENTRY - fillers * per_job;
    assert!(left < per_job, "the last job's backlog must not fit");
    let ids: Vec<String> = (0..fillers).map(|i| format!("f{i:03}")).collect();
    for id in &ids {
        log.create(every_second_all(id, MAX_INSTANCES));
    }
    log.create(every_second_all("z", MAX_INSTANCES));
    // Back late by exactly one cap's worth of instants for every job.
    let now = T0 + (per_job as i64 - 1) * 1_000;
    let advances = ids
        .iter()
        .map(String::as_str)
        .chain(["z"])
        .map(|id| Advance {
            job_id: id.into(),
            through: now,
            assignee: 2,
            on_time: false,
        })
        .collect();
    log.apply(Command::Fire { now, advances });
    let entry = log.index;
    for id in &ids {
        assert_eq!(log.state.occurrences_of(id).count(), per_job, "{id}");
    }
    // The last job was left as it was: no occurrence, cursor unmoved.
    assert_eq!(
        log.state.occurrences_of("z").count(),
        0,
        "z got occurrences its entry had no tokens for"
    );
    assert_eq!(
        log.state.job("z").and_then(|j| j.next_fire_at),
        Some(T0),
        "z's cursor moved past instants it did not record"
    );
    // The next entry has tokens for it: the whole backlog runs, none lost.
    log.fire("z", now, now);
    let tokens: Vec<u64> = log
        .state
        .occurrences_of("z")
        .filter_map(|(_, o)| o.current().map(|a| a.token))
        .collect();
    assert_eq!(tokens.len(), per_job);
    assert!(tokens.iter().all(|t| t >> 16 == entry + 1));
    assert_eq!(
        log.state.job("z").and_then(|j| j.next_fire_at),
        Some(now + 1_000)
    );
}
