//! The dashboard's routes against the policy table, and hostile text
//! through every renderer.

use std::collections::BTreeMap;

use proto::v1 as pb;
use store::model::time::rfc3339_ms;

use super::ROUTES;
use super::html::esc;
use super::job::{render_page, render_runs, render_summary};
use super::jobs::{JobsQuery, Row, render_cells, render_page as jobs_page};
use super::overview::{Upcoming, render_activity, render_cluster};
use super::timeline::{Lane, render_lanes};
use crate::auth::policy::{HTTP_TABLE, Need, need_http};
use crate::http::json::{ClusterJson, JobJson, MemberJson, RunJson};

#[test]
fn every_dashboard_route_has_a_policy_entry_and_every_entry_is_served() {
    let served: Vec<String> = ROUTES
        .iter()
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();
    let missing: Vec<&String> = served
        .iter()
        .filter(|r| !HTTP_TABLE.iter().any(|(t, _)| t == r))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a policy entry: {missing:?}"
    );
    let stale: Vec<&str> = HTTP_TABLE
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| !r.contains(" /api/") && !served.iter().any(|s| s == r))
        .collect();
    assert!(
        stale.is_empty(),
        "dashboard entries for no route: {stale:?}"
    );
    // Pages read; only the assets and signing in are open.
    for (route, need) in HTTP_TABLE.iter().filter(|(r, _)| !r.contains(" /api/")) {
        let open =
            route.contains(" /assets/") || route.ends_with("/login") || route.ends_with("/logout");
        assert_eq!(
            matches!(need, Need::Open),
            open,
            "{route}: only assets and signing in are open"
        );
    }
    assert!(matches!(
        need_http("GET", "/fragments/jobs/a/row"),
        Some(Need::Perm(_))
    ));
}

const EVIL: &str = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>";

fn hostile_job() -> JobJson {
    let mut labels = BTreeMap::new();
    labels.insert(EVIL.to_string(), EVIL.to_string());
    JobJson::from_pb(&pb::Job {
        spec: Some(pb::JobSpec {
            id: EVIL.into(),
            name: EVIL.into(),
            labels: labels.into_iter().collect(),
            schedule: Some(pb::Schedule {
                kind: Some(pb::schedule::Kind::Human(EVIL.into())),
            }),
            ..Default::default()
        }),
        state: pb::JobState::Paused as i32,
        pause_reason: EVIL.into(),
        updated_by: EVIL.into(),
        next_fire_at: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        ..Default::default()
    })
}

fn hostile_run(state: pb::RunState) -> RunJson {
    RunJson::from_pb(&pb::Run {
        job_id: EVIL.into(),
        occurrence_id: EVIL.into(),
        state: state as i32,
        reason: EVIL.into(),
        output_tail: EVIL.into(),
        scheduled_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        attempts: vec![
            pb::Attempt {
                number: 1,
                state: EVIL.into(),
                ..Default::default()
            },
            pb::Attempt {
                number: 2,
                state: "failed".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    })
}

fn assert_inert(what: &str, html: &str) {
    for bad in ["<script", "<img", "onerror=alert(2)>", "'><"] {
        assert!(
            !html.contains(bad),
            "{what} lets {bad:?} through unescaped:\n{html}"
        );
    }
    assert!(
        html.contains("&lt;script&gt;"),
        "{what} shows the text: {html}"
    );
}

#[test]
fn hostile_text_is_shown_never_run() {
    let job = hostile_job();
    let runs = vec![
        hostile_run(pb::RunState::Succeeded),
        hostile_run(pb::RunState::Failed),
    ];
    let row = Row {
        job: job.clone(),
        runs: runs.clone(),
    };
    assert_inert("a job row", &render_cells(&row));
    let q = JobsQuery {
        labels: Some(EVIL.into()),
        state: Some(EVIL.into()),
        page_size: None,
        page_token: None,
    };
    assert_inert(
        "the jobs page",
        &jobs_page(&q, std::slice::from_ref(&row), Some(EVIL)),
    );
    let summary = render_summary(&job, &[rfc3339_ms(1_800_000_000_000)]);
    assert_inert("a job's summary", &summary);
    let history = render_runs(EVIL, &runs, Some(EVIL), true);
    assert_inert("a run history", &history);
    assert_inert(
        "a job page",
        &render_page(&job, &summary, &esc(EVIL), &history, true),
    );
    let cluster = ClusterJson {
        leader: Some(2),
        term: 3,
        members: vec![MemberJson {
            id: 2,
            addr: EVIL.into(),
            voter: true,
            state: EVIL.into(),
            last_log_index: 1,
            applied_index: 1,
            lag: 0,
            healthy: true,
        }],
        answered_by: 2,
        membership_changing: true,
        scheduler_paused: true,
    };
    let c = render_cluster(&cluster, 2);
    assert_inert("the cluster", &c);
    assert!(c.contains("data-leader=\"2\""), "{c}");
    assert!(c.contains("id=\"membership-changing\""), "{c}");
    let up = [Upcoming {
        at: rfc3339_ms(1_800_000_000_000),
        job_id: EVIL.into(),
        schedule: EVIL.into(),
    }];
    assert_inert("the activity", &render_activity(&runs, &up, &runs));
    let lanes = [Lane {
        job_id: EVIL.into(),
        runs: runs.clone(),
        next: vec![rfc3339_ms(1_700_000_100_000), EVIL.into()],
    }];
    assert_inert(
        "the timeline",
        &render_lanes(1_700_000_000_000, &lanes, Some(EVIL)),
    );
}

#[test]
fn marks_are_coloured_by_state_oldest_first() {
    let runs: Vec<RunJson> = [
        pb::RunState::Succeeded,
        pb::RunState::Failed,
        pb::RunState::Missed,
        pb::RunState::Running,
    ]
    .into_iter()
    .map(hostile_run)
    .collect();
    let m = super::jobs::marks("j", &runs);
    let order: Vec<&str> = ["mark ok", "mark bad", "mark idle", "mark run"]
        .into_iter()
        .collect();
    let mut at = 0;
    for class in order {
        let i = m[at..]
            .find(class)
            .unwrap_or_else(|| panic!("{class} after {at}: {m}"));
        at += i + 1;
    }
    assert!(m.contains("data-count=\"4\""), "{m}");
}

#[test]
fn the_timeline_places_marks_in_its_two_hours() {
    let now = 1_700_000_000_000;
    let lanes = [Lane {
        job_id: "j".into(),
        runs: vec![],
        next: vec![rfc3339_ms(now + 1_800_000), rfc3339_ms(now + 7_200_000)],
    }];
    let html = render_lanes(now, &lanes, None);
    assert!(html.contains("tick next x75"), "{html}");
    assert!(html.contains("tick next x100"), "clamped: {html}");
}
