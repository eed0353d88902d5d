//! Property tests of the schedule engine through its public API.
//!
//! Expressions are generated from their parts (sets of minutes, hours,
//! days), so the brute-force oracle evaluates those sets directly instead of
//! re-parsing the string, and resolves wall times with chrono-tz's own
//! `from_local_datetime` and `GapInfo` rather than the engine's zone table.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use store::schedule::{Bounds, CalendarFields, Schedule, ScheduleSpec};

/// The case count: `default` (kept modest for 2-core CI), or
/// `PROPTEST_CASES` when set, for longer local runs.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

const ZONES: &[&str] = &[
    "America/New_York",
    "Europe/London",
    "Europe/Dublin",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
    "America/St_Johns",
    "Africa/Casablanca",
    "Asia/Tehran",
    "UTC",
];

#[derive(Clone, Debug)]
enum Hours {
    /// A lone `*`: the fall-back wildcard of rule 2.
    Star,
    /// Every hour written `*/1`: a fixed hour set.
    EveryStep,
    Set(Vec<u32>),
}

#[derive(Clone, Debug)]
struct Expr {
    minutes: Vec<u32>,
    hours: Hours,
    dom: Option<Vec<u32>>,
    dow: Option<Vec<u32>>,
}

impl Expr {
    fn to_cron(&self) -> String {
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let hours = match &self.hours {
            Hours::Star => "*".to_string(),
            Hours::EveryStep => "*/1".to_string(),
            Hours::Set(h) => list(h),
        };
        format!(
            "{} {} {} * {}",
            list(&self.minutes),
            hours,
            self.dom.as_deref().map_or("*".into(), list),
            self.dow.as_deref().map_or("*".into(), list)
        )
    }

    fn matches(&self, w: &NaiveDateTime) -> bool {
        let hour_ok = match &self.hours {
            Hours::Star | Hours::EveryStep => true,
            Hours::Set(h) => h.contains(&w.hour()),
        };
        let dom_ok = |d: &Vec<u32>| d.contains(&w.day());
        let dow_ok = |d: &Vec<u32>| d.contains(&w.weekday().num_days_from_sunday());
        let day_ok = match (&self.dom, &self.dow) {
            (Some(a), Some(b)) => dom_ok(a) || dow_ok(b),
            (Some(a), None) => dom_ok(a),
            (None, Some(b)) => dow_ok(b),
            (None, None) => true,
        };
        w.second() == 0 && self.minutes.contains(&w.minute()) && hour_ok && day_ok
    }
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v.dedup();
    v
}

fn expr() -> impl Strategy<Value = Expr> {
    let minutes = prop_oneof![
        Just(vec![0]),
        Just(vec![30]),
        Just(vec![0, 15, 30, 45]),
        prop::collection::vec(0u32..60, 1..4).prop_map(sorted),
    ];
    let hours = prop_oneof![
        Just(Hours::Star),
        Just(Hours::EveryStep),
        prop::collection::vec(0u32..24, 1..4).prop_map(|h| Hours::Set(sorted(h))),
        // Hours around typical transitions.
        prop::collection::vec(0u32..4, 1..3).prop_map(|h| Hours::Set(sorted(h))),
    ];
    let dom = prop_oneof![
        3 => Just(None),
        1 => prop::collection::vec(1u32..32, 1..6).prop_map(|d| Some(sorted(d))),
    ];
    let dow = prop_oneof![
        3 => Just(None),
        1 => prop::collection::vec(0u32..7, 1..4).prop_map(|d| Some(sorted(d))),
    ];
    (minutes, hours, dom, dow).prop_map(|(minutes, hours, dom, dow)| Expr {
        minutes,
        hours,
        dom,
        dow,
    })
}

/// An instant close to one of the zone's offset changes in `year`, found by
/// probing chrono-tz hour by hour.
fn near_transition(tz: Tz, year: i32, month: u32, offset_minutes: i64) -> DateTime<Utc> {
    let start = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).unwrap();
    let off = |t: DateTime<Utc>| t.with_timezone(&tz).offset().to_string();
    let first = off(start);
    let mut t = start;
    for _ in 0..(24 * 200) {
        let n = t + Duration::hours(1);
        if off(n) != first {
            return n + Duration::minutes(offset_minutes);
        }
        t = n;
    }
    start + Duration::minutes(offset_minutes.abs())
}

/// Fire instants strictly after `after`, by scanning every wall minute from
/// a few hours before `after` to `horizon` and applying the DST rules.
fn brute_force(
    e: &Expr,
    tz: Tz,
    after: DateTime<Utc>,
    horizon: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    brute_force_with(
        |w| e.matches(w),
        matches!(e.hours, Hours::Star),
        tz,
        after,
        horizon,
    )
}

fn brute_force_with(
    matches: impl Fn(&NaiveDateTime) -> bool,
    hour_wildcard: bool,
    tz: Tz,
    after: DateTime<Utc>,
    horizon: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let mut w = after.with_timezone(&tz).naive_local() - Duration::hours(4);
    w = w.with_second(0).unwrap();
    let end = horizon.with_timezone(&tz).naive_local() + Duration::hours(4);
    let mut out = Vec::new();
    while w <= end {
        if matches(&w) {
            match tz.from_local_datetime(&w) {
                LocalResult::Single(t) => out.push(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(a, b) => {
                    out.push(a.with_timezone(&Utc));
                    if hour_wildcard {
                        out.push(b.with_timezone(&Utc));
                    }
                }
                LocalResult::None => {
                    let gap = chrono_tz::GapInfo::new(&w, &tz).and_then(|g| g.end);
                    out.push(gap.expect("gap end").with_timezone(&Utc));
                }
            }
        }
        w += Duration::minutes(1);
    }
    out.retain(|t| *t > after && *t <= horizon);
    out.sort();
    out.dedup();
    out
}

fn compile(e: &Expr, tz: &str) -> Schedule {
    Schedule::compile(&ScheduleSpec::Cron(e.to_cron()), tz, Bounds::default())
        .unwrap_or_else(|err| panic!("{}: {err}", e.to_cron()))
}

/// APScheduler-style fields: minute always given (so second defaults to 0
/// and unset fields before it are `*`), hour unset, `*` or a list.
#[derive(Clone, Debug)]
struct Cal {
    minutes: Vec<u32>,
    /// None = unset (`*`, a wildcard); Some(None) = explicit `*`.
    hours: Option<Option<Vec<u32>>>,
    day: Option<Vec<u32>>,
    /// 0 = Monday.
    dow: Option<Vec<u32>>,
}

impl Cal {
    fn fields(&self) -> CalendarFields {
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        CalendarFields {
            minute: Some(list(&self.minutes)),
            hour: self
                .hours
                .as_ref()
                .map(|h| h.as_deref().map_or("*".into(), list)),
            day: self.day.as_deref().map(list),
            day_of_week: self.dow.as_deref().map(list),
            ..Default::default()
        }
    }

    fn wildcard(&self) -> bool {
        matches!(self.hours, None | Some(None))
    }

    fn matches(&self, w: &NaiveDateTime) -> bool {
        let hour_ok = match &self.hours {
            Some(Some(h)) => h.contains(&w.hour()),
            _ => true,
        };
        w.second() == 0
            && self.minutes.contains(&w.minute())
            && hour_ok
            && self.day.as_ref().is_none_or(|d| d.contains(&w.day()))
            && self
                .dow
                .as_ref()
                .is_none_or(|d| d.contains(&w.weekday().num_days_from_monday()))
    }
}

fn cal() -> impl Strategy<Value = Cal> {
    let minutes = prop_oneof![
        Just(vec![0]),
        Just(vec![0, 30]),
        prop::collection::vec(0u32..60, 1..4).prop_map(sorted),
    ];
    let hours = prop_oneof![
        Just(None),
        Just(Some(None)),
        prop::collection::vec(0u32..24, 1..4).prop_map(|h| Some(Some(sorted(h)))),
        prop::collection::vec(0u32..4, 1..3).prop_map(|h| Some(Some(sorted(h)))),
    ];
    let day = prop_oneof![
        3 => Just(None),
        1 => prop::collection::vec(1u32..32, 3..12).prop_map(|d| Some(sorted(d))),
    ];
    let dow = prop_oneof![
        2 => Just(None),
        1 => prop::collection::vec(0u32..7, 2..6).prop_map(|d| Some(sorted(d))),
    ];
    (minutes, hours, day, dow).prop_map(|(minutes, hours, day, dow)| Cal {
        minutes,
        hours,
        day,
        dow,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(96), ..ProptestConfig::default() })]

    #[test]
    fn calendar_fields_agree_with_brute_force_around_dst(
        c in cal(),
        zone in 0..ZONES.len(),
        year in 1990i32..2040,
        month in prop::sample::select(vec![3u32, 4, 9, 10]),
        shift in -2880i64..360,
    ) {
        let tz: Tz = ZONES[zone].parse().unwrap();
        let after = near_transition(tz, year, month, shift);
        let horizon = after + Duration::days(3);
        let want = brute_force_with(|w| c.matches(w), c.wildcard(), tz, after, horizon);
        // An AND of day fields can match no day at all in 1970-2099; the
        // engine must then refuse it, and the oracle sees nothing either.
        let Ok(s) = Schedule::compile(&ScheduleSpec::Calendar(Box::new(c.fields())), ZONES[zone], Bounds::default()) else {
            prop_assert!(want.is_empty());
            return Ok(());
        };
        let got: Vec<_> = s.upcoming(after, 0).take_while(|t| *t <= horizon).collect();
        prop_assert_eq!(got, want, "{:?} in {} after {}", c.fields(), ZONES[zone], after);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(160), ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_brute_force_around_dst(
        e in expr(),
        zone in 0..ZONES.len(),
        year in 1990i32..2040,
        month in prop::sample::select(vec![1u32, 3, 4, 9, 10]),
        shift in -2880i64..360,
    ) {
        let tz: Tz = ZONES[zone].parse().unwrap();
        let after = near_transition(tz, year, month, shift);
        let horizon = after + Duration::days(3);
        let want = brute_force(&e, tz, after, horizon);
        let s = compile(&e, ZONES[zone]);
        let got: Vec<_> = s.upcoming(after, 0).take_while(|t| *t <= horizon).collect();
        prop_assert_eq!(got, want, "{} in {} after {}", e.to_cron(), ZONES[zone], after);
    }

    #[test]
    fn increasing_strictly_after_and_stable(
        e in expr(),
        zone in 0..ZONES.len(),
        secs in 0i64..4_000_000_000,
        millis in 0i64..1000,
    ) {
        let after = DateTime::from_timestamp(secs, 0).unwrap() + Duration::milliseconds(millis);
        let s = compile(&e, ZONES[zone]);
        let mut prev = after;
        for t in s.upcoming(after, 0).take(20) {
            prop_assert!(t > prev, "{} not after {}", t, prev);
            // Asking from just before a result returns that result.
            prop_assert_eq!(s.next_after(t - Duration::milliseconds(1), 0), Some(t));
            prop_assert_eq!(s.next_after(t - Duration::seconds(1), 0), Some(t));
            prev = t;
        }
    }

    #[test]
    fn intervals_are_real_time(every in 1u64..10_000_000, secs in 0i64..4_000_000_000) {
        let s = Schedule::compile(
            &ScheduleSpec::Human(format!("@every {every}ms")),
            "America/New_York",
            Bounds::default(),
        ).unwrap();
        let after = DateTime::from_timestamp(secs, 0).unwrap();
        let a = s.next_after(after, 0).unwrap();
        let b = s.next_after(a, 0).unwrap();
        prop_assert!(a > after);
        prop_assert_eq!((b - a).num_milliseconds(), every as i64);
        prop_assert_eq!(a.timestamp_millis() % every as i64, 0);
    }
}
