//! Unit tests, one or more per rule of docs/time.md ("The rules" and "Edge
//! cases, settled").

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

fn cal(f: impl FnOnce(&mut CalendarFields), tz: &str) -> Schedule {
    let mut fields = CalendarFields::default();
    f(&mut fields);
    Schedule::compile(
        &ScheduleSpec::Calendar(Box::new(fields)),
        tz,
        Bounds::default(),
    )
    .unwrap()
}

fn human(p: &str, tz: &str) -> Schedule {
    Schedule::compile(&ScheduleSpec::Human(p.into()), tz, Bounds::default()).unwrap()
}

const NY: &str = "America/New_York";
const LH: &str = "Australia/Lord_Howe";

// ---- Rule 1: spring-forward gap -------------------------------------------

#[test]
fn rule1_gap_fires_at_first_instant_after_gap() {
    // 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00Z.
    let s = cron("30 * * * *", NY);
    assert_eq!(
        next_n(&s, "2026-03-08T06:00:00Z", 3),
        [
            "2026-03-08T06:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-08T07:30:00Z"
        ]
    );
}

#[test]
fn rule1_several_gap_times_collapse() {
    let s = cron("*/15 2 * * *", NY);
    assert_eq!(
        next_n(&s, "2026-03-08T05:00:00Z", 2),
        ["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"]
    );
    // The gap instant also matching on its own (03:00) fires once.
    let s = cron("0,30 2,3 * * *", NY);
    assert_eq!(
        next_n(&s, "2026-03-08T05:00:00Z", 3),
        [
            "2026-03-08T07:00:00Z",
            "2026-03-08T07:30:00Z",
            "2026-03-09T06:00:00Z"
        ]
    );
}

#[test]
fn rule1_second_level_gap_times() {
    // Every second of 02:30 local: one fire at 03:00:00 EDT on the gap day.
    let s = cron("* 30 2 * * *", NY);
    assert_eq!(
        next_n(&s, "2026-03-08T05:00:00Z", 3),
        [
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z",
            "2026-03-09T06:30:01Z"
        ]
    );
}

#[test]
fn rule1_after_just_before_the_transition() {
    let s = cron("30 2 * * *", NY);
    assert_eq!(
        next_n(&s, "2026-03-08T06:59:59Z", 1),
        ["2026-03-08T07:00:00Z"]
    );
    assert_eq!(
        next_n(&s, "2026-03-08T06:59:59.999Z", 1),
        ["2026-03-08T07:00:00Z"]
    );
    assert_eq!(
        next_n(&s, "2026-03-08T07:00:00Z", 1),
        ["2026-03-09T06:30:00Z"]
    );
}

// ---- Rule 2: fall-back overlap --------------------------------------------

#[test]
fn rule2_fixed_hour_fires_at_first_instance() {
    // 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00Z.
    let s = cron("30 1 * * *", NY);
    assert_eq!(
        next_n(&s, "2026-11-01T00:00:00Z", 2),
        ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
    );
    // `*/1` is not a lone `*`: a fixed hour set.
    let s = cron("30 */1 * * *", NY);
    assert_eq!(
        next_n(&s, "2026-11-01T04:00:00Z", 3),
        [
            "2026-11-01T04:30:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T07:30:00Z"
        ]
    );
    // From inside the second pass, the fixed-hour repeat is not fired.
    assert_eq!(
        next_n(&cron("45 1 * * *", NY), "2026-11-01T06:10:00Z", 1),
        ["2026-11-02T06:45:00Z"]
    );
}

#[test]
fn rule2_wildcard_hour_fires_at_every_instant() {
    let s = cron("*/30 * * * *", NY);
    assert_eq!(
        next_n(&s, "2026-11-01T04:45:00Z", 5),
        [
            "2026-11-01T05:00:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T06:30:00Z",
            "2026-11-01T07:00:00Z"
        ]
    );
    let s = cron("@hourly", NY);
    assert_eq!(
        next_n(&s, "2026-11-01T04:30:00Z", 3),
        [
            "2026-11-01T05:00:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T07:00:00Z"
        ]
    );
    // Calendar fields: minute=30 leaves hour at `*`.
    let s = cal(|f| f.minute = Some("30".into()), NY);
    assert_eq!(
        next_n(&s, "2026-11-01T05:00:00Z", 2),
        ["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"]
    );
    // From the first pass, second-pass instants still come.
    assert_eq!(
        next_n(&cron("45 * * * *", NY), "2026-11-01T05:50:00Z", 1),
        ["2026-11-01T06:45:00Z"]
    );
}

#[test]
fn rule7_partial_repeat_lord_howe() {
    // 2026-04-05 02:00 (+11) -> 01:30 (+10:30) at 2026-04-04T15:00Z: only
    // 01:30-01:59 repeats.
    let wild = cron("*/15 * * * *", LH);
    assert_eq!(
        next_n(&wild, "2026-04-04T13:50:00Z", 7),
        [
            "2026-04-04T14:00:00Z", // 01:00 +11
            "2026-04-04T14:15:00Z", // 01:15 +11
            "2026-04-04T14:30:00Z", // 01:30 +11
            "2026-04-04T14:45:00Z", // 01:45 +11
            "2026-04-04T15:00:00Z", // 01:30 +10:30 (repeat)
            "2026-04-04T15:15:00Z", // 01:45 +10:30 (repeat)
            "2026-04-04T15:30:00Z", // 02:00 +10:30
        ]
    );
    let fixed = cron("*/15 1 * * *", LH);
    assert_eq!(
        next_n(&fixed, "2026-04-04T13:50:00Z", 5),
        [
            "2026-04-04T14:00:00Z",
            "2026-04-04T14:15:00Z",
            "2026-04-04T14:30:00Z",
            "2026-04-04T14:45:00Z",
            "2026-04-05T14:30:00Z", // next day 01:00 +10:30
        ]
    );
    // Lord Howe's 30-minute spring gap (2026-10-04 02:00 -> 02:30 at 15:30Z).
    let s = cron("10 2 * * *", LH);
    assert_eq!(
        next_n(&s, "2026-10-03T12:00:00Z", 2),
        ["2026-10-03T15:30:00Z", "2026-10-04T15:10:00Z"]
    );
}

// ---- Rule 3: intervals are real time ----------------------------------------

#[test]
fn rule3_interval_ignores_dst() {
    let s = human("@every 1h", NY);
    assert_eq!(
        next_n(&s, "2026-03-08T05:30:00Z", 3),
        [
            "2026-03-08T06:00:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-08T08:00:00Z"
        ]
    );
    let s = Schedule::compile(
        &ScheduleSpec::Interval(IntervalSpec {
            every_ms: 90 * 60_000,
            every_max_ms: None,
            anchor: Some(t("2026-01-01T00:10:00Z")),
        }),
        NY,
        Bounds::default(),
    )
    .unwrap();
    assert_eq!(
        next_n(&s, "2026-01-01T00:00:00Z", 3),
        [
            "2026-01-01T00:10:00Z",
            "2026-01-01T01:40:00Z",
            "2026-01-01T03:10:00Z"
        ]
    );
}

// ---- Rule 4: never fires ------------------------------------------------------

#[test]
fn rule4_never_fires_is_rejected() {
    let e = err("0 0 30 2 *");
    assert!(e.contains("never fires"), "{e}");
    assert!(err("0 0 31 4,6,9,11 *").contains("never fires"));
    assert!(err("0 0 0 29 2 ? 2025").contains("never fires"));
    let e = err("0 0 * * 5#6");
    assert!(
        e.contains("field 5 (day of week)") && e.contains("1-5"),
        "{e}"
    );
    // Valid through the OR of the day fields.
    let s = cron("0 0 30 2 MON", "UTC");
    assert_eq!(
        next_n(&s, "2026-01-31T00:00:00Z", 1),
        ["2026-02-02T00:00:00Z"]
    );
    // Leap days exist.
    assert_eq!(
        next_n(&cron("0 0 29 2 *", "UTC"), "2026-01-01T00:00:00Z", 1),
        ["2028-02-29T00:00:00Z"]
    );
    // Bounds that exclude every fire time.
    let b = Bounds {
        start: Some(t("2026-01-02T00:00:01Z")),
        end: Some(t("2026-01-02T23:59:59Z")),
    };
    let e = Schedule::compile(&ScheduleSpec::Cron("0 0 * * *".into()), "UTC", b).unwrap_err();
    assert_eq!(e.field, "bounds");
}

// ---- Rule 5: Vixie cron and APScheduler fields --------------------------------

#[test]
fn rule5_field_counts() {
    assert_eq!(
        next_n(&cron("5 4 * * *", "UTC"), "2026-01-01T00:00:00Z", 1),
        ["2026-01-01T04:05:00Z"]
    );
    assert_eq!(
        next_n(&cron("3 5 4 * * *", "UTC"), "2026-01-01T00:00:00Z", 1),
        ["2026-01-01T04:05:03Z"]
    );
    assert_eq!(
        next_n(&cron("0 0 0 1 1 * 2030", "UTC"), "2026-01-01T00:00:00Z", 2),
        ["2030-01-01T00:00:00Z"]
    );
    assert!(err("* * * *").contains("has 4 fields"));
}

#[test]
fn rule5_sunday_is_0_and_7() {
    let a = next_n(&cron("0 12 * * 0", "UTC"), "2026-03-01T13:00:00Z", 3);
    assert_eq!(
        a,
        next_n(&cron("0 12 * * 7", "UTC"), "2026-03-01T13:00:00Z", 3)
    );
    assert_eq!(
        a,
        next_n(&cron("0 12 * * sun", "UTC"), "2026-03-01T13:00:00Z", 3)
    );
    assert_eq!(a[0], "2026-03-08T12:00:00Z");
    assert_eq!(
        next_n(&cron("0 0 * * 5-7", "UTC"), "2026-03-05T00:00:00Z", 3),
        [
            "2026-03-06T00:00:00Z",
            "2026-03-07T00:00:00Z",
            "2026-03-08T00:00:00Z"
        ]
    );
}

#[test]
fn rule5_vixie_or_of_day_fields() {
    // The 13th or any Friday.
    let s = cron("0 0 13 * 5", "UTC");
    assert_eq!(
        next_n(&s, "2026-03-01T00:00:00Z", 4),
        [
            "2026-03-06T00:00:00Z",
            "2026-03-13T00:00:00Z",
            "2026-03-20T00:00:00Z",
            "2026-03-27T00:00:00Z"
        ]
    );
    // Only one restricted: that one decides.
    assert_eq!(
        next_n(&cron("0 0 13 * *", "UTC"), "2026-03-01T00:00:00Z", 1),
        ["2026-03-13T00:00:00Z"]
    );
    assert_eq!(
        next_n(&cron("0 0 ? * 5", "UTC"), "2026-03-01T00:00:00Z", 1),
        ["2026-03-06T00:00:00Z"]
    );
}

#[test]
fn rule5_calendar_fields_and_monday_zero() {
    // Friday the 13th only (AND), day_of_week 4 = Friday.
    let s = cal(
        |f| {
            f.day = Some("13".into());
            f.day_of_week = Some("4".into());
        },
        "UTC",
    );
    assert_eq!(
        next_n(&s, "2026-01-01T00:00:00Z", 2),
        ["2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"]
    );
    let s = cal(|f| f.day_of_week = Some("0".into()), "UTC");
    assert_eq!(
        next_n(&s, "2026-03-01T00:00:00Z", 1),
        ["2026-03-02T00:00:00Z"]
    ); // a Monday
    let s = cal(|f| f.day_of_week = Some("mon-fri".into()), "UTC");
    assert_eq!(
        next_n(&s, "2026-03-06T12:00:00Z", 1),
        ["2026-03-09T00:00:00Z"]
    );
    // Defaults: day=1 means midnight on the 1st of every month.
    let s = cal(|f| f.day = Some("1".into()), "UTC");
    assert_eq!(
        next_n(&s, "2026-03-05T00:00:00Z", 2),
        ["2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"]
    );
    // APScheduler day extensions.
    let s = cal(|f| f.day = Some("last fri".into()), "UTC");
    assert_eq!(
        next_n(&s, "2026-03-01T00:00:00Z", 1),
        ["2026-03-27T00:00:00Z"]
    );
    let s = cal(|f| f.day = Some("3rd fri".into()), "UTC");
    assert_eq!(
        next_n(&s, "2026-03-01T00:00:00Z", 1),
        ["2026-03-20T00:00:00Z"]
    );
    let s = cal(|f| f.day = Some("last".into()), "UTC");
    assert_eq!(
        next_n(&s, "2026-02-01T00:00:00Z", 1),
        ["2026-02-28T00:00:00Z"]
    );
    // ISO week 10 of 2026 is March 2-8.
    let s = cal(
        |f| {
            f.week = Some("10".into());
            f.hour = Some("6".into());
        },
        "UTC",
    );
    assert_eq!(
        next_n(&s, "2026-01-01T00:00:00Z", 2),
        ["2026-03-02T06:00:00Z", "2026-03-03T06:00:00Z"]
    );
    let e = Schedule::compile(
        &ScheduleSpec::Calendar(Box::new(CalendarFields {
            day_of_week: Some("7".into()),
            ..Default::default()
        })),
        "UTC",
        Bounds::default(),
    )
    .unwrap_err();
    assert_eq!(e.message, "day_of_week: 7 is out of range 0-6");
}

// ---- Rule 6: strictly after ----------------------------------------------------

#[test]
fn rule6_strictly_after() {
    let s = cron("0 12 * * *", "UTC");
    assert_eq!(
        next_n(&s, "2026-03-01T12:00:00Z", 1),
        ["2026-03-02T12:00:00Z"]
    );
    assert_eq!(
        next_n(&s, "2026-03-01T11:59:59.999Z", 1),
        ["2026-03-01T12:00:00Z"]
    );
    let once = Schedule::compile(
        &ScheduleSpec::Once(t("2026-03-01T12:00:00Z")),
        "UTC",
        Bounds::default(),
    )
    .unwrap();
    assert!(once.next_after(t("2026-03-01T12:00:00Z"), 0).is_none());
    assert!(once.is_one_shot());
}

// ---- Rule 7: edge cases ----------------------------------------------------------

#[test]
fn rule7_step_in_day_of_month_is_restricted() {
    // Days 1, 11, 21, 31 or Mondays.
    let s = cron("0 0 */10 * 1", "UTC");
    assert_eq!(
        next_n(&s, "2026-03-01T00:00:00Z", 4),
        [
            "2026-03-02T00:00:00Z",
            "2026-03-09T00:00:00Z",
            "2026-03-11T00:00:00Z",
            "2026-03-16T00:00:00Z"
        ]
    );
}

#[test]
fn rule7_last_weekday_spellings() {
    let want = next_n(&cron("0 0 * * 5L", "UTC"), "2026-01-01T00:00:00Z", 3);
    assert_eq!(
        want,
        [
            "2026-01-30T00:00:00Z",
            "2026-02-27T00:00:00Z",
            "2026-03-27T00:00:00Z"
        ]
    );
    for e in [
        "0 0 * * FRIL",
        "0 0 * * 5#L",
        "0 0 * * fri#L",
        "0 0 * * L5",
        "0 0 ? * LFRI",
    ] {
        assert_eq!(
            next_n(&cron(e, "UTC"), "2026-01-01T00:00:00Z", 3),
            want,
            "{e}"
        );
    }
    assert_eq!(
        next_n(&cron("0 0 * * 5#3", "UTC"), "2026-03-01T00:00:00Z", 1),
        ["2026-03-20T00:00:00Z"]
    );
    assert_eq!(
        next_n(&cron("0 0 * * FRI#3", "UTC"), "2026-03-01T00:00:00Z", 1),
        ["2026-03-20T00:00:00Z"]
    );
    // Sunday as 7 in #k and L.
    assert_eq!(
        next_n(&cron("0 0 * * 7#1", "UTC"), "2026-03-02T00:00:00Z", 1),
        ["2026-04-05T00:00:00Z"]
    );
    assert_eq!(
        next_n(&cron("0 0 * * 7L", "UTC"), "2026-03-02T00:00:00Z", 1),
        ["2026-03-29T00:00:00Z"]
    );
    // `L` day of month: the last day.
    assert_eq!(
        next_n(&cron("0 0 L * *", "UTC"), "2028-01-31T00:00:00Z", 2),
        ["2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z"]
    );
    // 5#5: only months with five Fridays.
    assert_eq!(
        next_n(&cron("0 0 * * 5#5", "UTC"), "2026-02-01T00:00:00Z", 1),
        ["2026-05-29T00:00:00Z"]
    );
}

#[test]
fn rule7_years_1970_to_2099() {
    assert!(err("0 0 0 1 1 * 2100").contains("out of range 1970-2099"));
    let s = cron("0 0 1 1 *", "UTC");
    assert_eq!(
        next_n(&s, "2098-06-01T00:00:00Z", 5),
        ["2099-01-01T00:00:00Z"]
    );
    assert_eq!(
        next_n(&s, "1900-06-01T00:00:00Z", 1),
        ["1970-01-01T00:00:00Z"]
    );
}

// ---- Errors -----------------------------------------------------------------------

#[test]
fn errors_name_field_position_and_allowed() {
    let e = Schedule::compile(
        &ScheduleSpec::Cron("0 0 32 * *".into()),
        "UTC",
        Bounds::default(),
    )
    .unwrap_err();
    assert_eq!(e.message, "field 3 (day of month): 32 is out of range 1-31");
    assert_eq!(e.field, "field 3 (day of month)");
    assert_eq!(e.position, Some(4));
    assert_eq!(
        err("0 0 1 13 *"),
        "field 4 (month): 13 is out of range 1-12"
    );
    assert_eq!(
        err("0 0 1 * 8"),
        "field 5 (day of week): 8 is out of range 0-7"
    );
    assert_eq!(
        err("0 60 0 1 * *"),
        "field 2 (minute): 60 is out of range 0-59"
    );
    assert!(err("*/0 * * * *").starts_with("field 1 (minute): step 0"));
    assert!(err("5-2 * * * *").contains("goes backwards"));
    assert!(err("0 0 * * foo").contains("'foo' is not valid; allowed: 0-7"));
    assert!(err("0 0 * * L").contains("ambiguous"));
    assert!(err("@reboot").contains("unknown macro"));
    assert!(err("0 ? * * *").contains("'?' is only allowed"));
    assert!(err("1,,2 * * * *").contains("empty list item"));
    let e = Schedule::compile(
        &ScheduleSpec::Cron("0 0 * * *".into()),
        "Nowhere/Land",
        Bounds::default(),
    )
    .unwrap_err();
    assert!(e.message.contains("Nowhere/Land"));
    let long = "0 ".repeat(600);
    assert!(err(&long).contains("limit is 1024"));
}

// ---- Human phrases, bounds, jitter ---------------------------------------------

#[test]
fn human_phrases_fire() {
    let s = human("every day at 10:30", "Europe/Paris");
    assert_eq!(
        next_n(&s, "2026-03-01T12:00:00Z", 1),
        ["2026-03-02T09:30:00Z"]
    );
    let s = human("every monday at 13:15", "UTC");
    assert_eq!(
        next_n(&s, "2026-03-01T12:00:00Z", 1),
        ["2026-03-02T13:15:00Z"]
    );
    let s = human("every minute at :17", "UTC");
    assert_eq!(
        next_n(&s, "2026-03-01T12:00:20Z", 1),
        ["2026-03-01T12:01:17Z"]
    );
    let s = human("every hour at 42:00", "UTC");
    assert_eq!(
        next_n(&s, "2026-03-01T12:50:00Z", 1),
        ["2026-03-01T13:42:00Z"]
    );
    let s = human("every 10 seconds", "UTC");
    assert_eq!(
        next_n(&s, "2026-03-01T12:00:05Z", 1),
        ["2026-03-01T12:00:10Z"]
    );
    let s = human("@at 2026-12-01T10:00:00Z", "UTC");
    assert_eq!(
        next_n(&s, "2026-03-01T12:00:05Z", 2),
        ["2026-12-01T10:00:00Z"]
    );
    // until, in the zone's wall time, inclusive.
    let s = human("every day at 18:30 until 2030-01-02 18:30", NY);
    assert_eq!(
        next_n(&s, "2029-12-31T00:00:00Z", 5),
        [
            "2029-12-31T23:30:00Z",
            "2030-01-01T23:30:00Z",
            "2030-01-02T23:30:00Z"
        ]
    );
    assert_eq!(s.until(), Some(t("2030-01-02T23:30:00Z")));
    // every 5 to 10 minutes: deterministic per seed and previous instant.
    let s = human("every 5 to 10 minutes", "UTC");
    let a = s.next_after(t("2026-03-01T12:00:00Z"), 7).unwrap();
    assert_eq!(Some(a), s.next_after(t("2026-03-01T12:00:00Z"), 7));
    assert!(a >= t("2026-03-01T12:05:00Z") && a <= t("2026-03-01T12:10:00Z"));
    // A phrase given as cron (and the reverse) is refused with a hint.
    assert!(
        Schedule::compile(
            &ScheduleSpec::Cron("every day".into()),
            "UTC",
            Bounds::default()
        )
        .is_err()
    );
    assert!(matches!(
        ScheduleSpec::detect("@every 10s"),
        ScheduleSpec::Human(_)
    ));
    assert!(matches!(
        ScheduleSpec::detect("@daily"),
        ScheduleSpec::Cron(_)
    ));
}

#[test]
fn bounds_are_inclusive() {
    let b = Bounds {
        start: Some(t("2026-03-02T00:00:00Z")),
        end: Some(t("2026-03-04T00:00:00Z")),
    };
    let s = Schedule::compile(&ScheduleSpec::Cron("0 0 * * *".into()), "UTC", b).unwrap();
    assert_eq!(
        next_n(&s, "2026-01-01T00:00:00Z", 5),
        [
            "2026-03-02T00:00:00Z",
            "2026-03-03T00:00:00Z",
            "2026-03-04T00:00:00Z"
        ]
    );
    // An interval without an anchor is anchored at the start bound.
    let s = Schedule::compile(&ScheduleSpec::Human("@every 7m".into()), "UTC", b).unwrap();
    assert_eq!(
        next_n(&s, "2026-01-01T00:00:00Z", 2),
        ["2026-03-02T00:00:00Z", "2026-03-02T00:07:00Z"]
    );
}

#[test]
fn jitter_is_deterministic_and_bounded() {
    assert_eq!(
        jitter_ms("job@2026-01-01T00:00:00.000Z", 1000),
        jitter_ms("job@2026-01-01T00:00:00.000Z", 1000)
    );
    assert!(jitter_ms("x", 10) < 10);
    assert_eq!(jitter_ms("x", 0), 0);
}

#[test]
fn next_match_is_the_first_matching_second() {
    // Second-level brute force of the wall-clock search (no zone involved).
    let start = pattern::join_wall(2028, 2, 27, 22, 58, 31);
    for expr in [
        "*/7 */13 * * * *",
        "0 0 L * *",
        "5 4 * * 5L,1",
        "0 0 */10 * 1",
        "*/20 5 1,15 * * *",
        "59 59 23 * * *",
        "0 0 0 1,29 2,3 *",
        "13 0 0 29 2 ?",
    ] {
        let p = cron::parse_cron(expr).unwrap();
        for k in 0..6i64 {
            let from = start + k * 7919;
            let got = p.next_match(from).unwrap();
            let mut w = from;
            while !p.matches(w) {
                w += 1;
                assert!(w - from < 8 * 86_400, "{expr}: brute force gave up");
            }
            assert_eq!(got, w, "{expr} from {from}");
        }
    }
}

#[test]
fn schedule_is_clone_debug_send_sync() {
    fn check<T: Clone + std::fmt::Debug + Send + Sync + 'static>() {}
    check::<Schedule>();
    check::<ScheduleError>();
}
