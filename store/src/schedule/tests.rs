//! Unit tests, one or more per rule of DESIGN.md's "Time rules".

use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn cron(expr: &str, tz: &str) -> Schedule {
    Schedule::compile(&ScheduleSpec::Cron(expr.into()), tz, Bounds::default()).unwrap()
}

fn next_n(s: &Schedule, after: &str, n: usize) -> Vec<String> {
    s.upcoming(t(after), 0)
        .take(n)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect()
}

fn err(expr: &str) -> String {
    Schedule::compile(&ScheduleSpec::Cron(expr.into()), "UTC", Bounds::default())
        .unwrap_err()
        .message
}

#[test]
fn issue_example() {
    let s = cron("30 2 * * *", "America/New_York");
    assert_eq!(
        next_n(&s, "2026-03-07T12:00:00Z", 3),
        [
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z",
            "2026-03-10T06:30:00Z"
        ]
    );
}
