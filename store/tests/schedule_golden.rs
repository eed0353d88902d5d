//! Differential test against fire times computed outside the project
//! (croniter for cron strings, APScheduler 3.11 for calendar fields), stored
//! in `tests/golden/schedule_golden.json` by `tests/golden/gen_golden.py`.
//! Python is not needed to run this test.
//!
//! Every case where the time rules of docs/time.md make us differ from the reference
//! is listed in [`DEVIATIONS`] with the reason and our own expected output;
//! any other difference fails the test.

use chrono::{DateTime, Utc};
use serde_json::Value;
use store::schedule::{Bounds, CalendarFields, Schedule, ScheduleSpec};

/// (case id, why we differ, what we produce instead).
const DEVIATIONS: &[(&str, &str, &[&str])] = &[
    (
        "ny-hourly-30-spring-gap",
        "rule 1/7: croniter skips the nonexistent 02:30 EST->EDT wall time when the hour is `*`; \
         we fire once at the first instant after the gap (03:00 EDT = 07:00Z) whatever the hour field says",
        &[
            "2026-03-08T05:30:00Z",
            "2026-03-08T06:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-08T07:30:00Z",
        ],
    ),
    (
        "ny-0130-fall-back",
        "rule 2: croniter fires a fixed-hour 01:30 twice on fall-back (EDT and EST); we fire only the first instance",
        &[
            "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00Z",
            "2026-11-03T06:30:00Z",
        ],
    ),
    (
        "london-0130-fall-back",
        "rule 2: croniter fires a fixed-hour 01:30 at both instances (BST and GMT); we fire only the first",
        &[
            "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z",
            "2026-10-27T01:30:00Z",
        ],
    ),
    (
        "lord-howe-fixed-hour-fall-back",
        "rules 2 and 7: croniter repeats 01:30 and 01:45 (+10:30) with a fixed hour; we fire only the first \
         instances, and only 01:30-01:59 ever repeats there",
        &[
            "2026-04-04T14:00:00Z",
            "2026-04-04T14:15:00Z",
            "2026-04-04T14:30:00Z",
            "2026-04-04T14:45:00Z",
            "2026-04-05T14:30:00Z",
            "2026-04-05T14:45:00Z",
        ],
    ),
    (
        "sydney-weekly-fall-back",
        "rule 2: croniter fires the fixed 02:00 twice on the fall-back Sunday (AEDT and AEST); we fire only the first",
        &[
            "2026-04-04T15:00:00Z",
            "2026-04-11T16:00:00Z",
            "2026-04-18T16:00:00Z",
        ],
    ),
    (
        "last-friday",
        "rule 7: croniter 7.0 refuses `5L`; `nL` means the last weekday n of the month",
        &[
            "2026-01-30T00:00:00Z",
            "2026-02-27T00:00:00Z",
            "2026-03-27T00:00:00Z",
            "2026-04-24T00:00:00Z",
        ],
    ),
    (
        "cal-minute-30-fall-back",
        "rule 2: with hour `*` both real instants of 01:30 fire, as APScheduler's do, but APScheduler 3.11 \
         then returns 01:30 EST (06:30Z) a second time instead of moving on; ours stay strictly increasing",
        &[
            "2026-11-01T04:30:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:30:00Z",
            "2026-11-01T07:30:00Z",
        ],
    ),
    (
        "cal-0230-spring-gap",
        "rule 1: APScheduler 3.11 shifts the nonexistent 02:30 by the gap length to 03:30 EDT (07:30Z); \
         we fire at the first instant after the gap, 03:00 EDT (07:00Z)",
        &[
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z",
            "2026-03-10T06:30:00Z",
        ],
    ),
    (
        "cal-0130-fall-back",
        "rule 2: APScheduler 3.11 fires a fixed-hour 01:30 at both instances (and repeats 06:30Z); \
         we fire only the first instance (01:30 EDT)",
        &[
            "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00Z",
            "2026-11-03T06:30:00Z",
        ],
    ),
];

fn ours(case: &Value) -> Result<Vec<String>, String> {
    let tz = case["tz"].as_str().unwrap();
    let spec = match case["kind"].as_str().unwrap() {
        "cron" => ScheduleSpec::Cron(case["expr"].as_str().unwrap().to_string()),
        _ => {
            let f = &case["fields"];
            let get = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_string);
            ScheduleSpec::Calendar(Box::new(CalendarFields {
                year: get("year"),
                month: get("month"),
                day: get("day"),
                week: get("week"),
                day_of_week: get("day_of_week"),
                hour: get("hour"),
                minute: get("minute"),
                second: get("second"),
            }))
        }
    };
    let s = Schedule::compile(&spec, tz, Bounds::default()).map_err(|e| e.to_string())?;
    let after: DateTime<Utc> = case["after"].as_str().unwrap().parse().unwrap();
    let n = case["count"].as_u64().unwrap() as usize;
    Ok(s.upcoming(after, 0)
        .take(n)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect())
}

#[test]
fn golden_against_croniter_and_apscheduler() {
    let text = include_str!("golden/schedule_golden.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 30, "the golden file lost its cases");
    let mut failures = Vec::new();
    let mut agreed = 0;
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let reference: Option<Vec<String>> = case.get("expected").map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        });
        let got = ours(case);
        match DEVIATIONS.iter().find(|(d, _, _)| *d == id) {
            Some((_, _reason, want)) => {
                let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
                if got.as_ref() != Ok(&want) {
                    failures.push(format!("{id}: deviation expected {want:?}, got {got:?}"));
                }
                if reference.as_ref() == Some(&want) {
                    failures.push(format!(
                        "{id}: listed as a deviation but agrees with the reference; remove it"
                    ));
                }
            }
            None => match (&reference, &got) {
                (Some(r), Ok(g)) if r == g => agreed += 1,
                _ => failures.push(format!(
                    "{id}: reference {:?} {:?}, ours {got:?}",
                    reference,
                    case.get("error")
                )),
            },
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(agreed >= 20, "only {agreed} cases agree with the reference");
}
