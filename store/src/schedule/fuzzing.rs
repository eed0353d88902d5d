//! The body of the parser fuzz target (`fuzz/fuzz_targets/schedule_parse.rs`)
//! and of the stable-toolchain fuzz driver (`store/tests/schedule_fuzz.rs`).
//! Not part of the engine's API.

use chrono::{DateTime, Utc};

use super::{Bounds, CalendarFields, Schedule, ScheduleSpec, parse_go_duration};

const ZONES: [&str; 6] = [
    "UTC",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Europe/Dublin",
    "Asia/Kolkata",
];

/// Feeds `data` to every parser and, when one accepts it, asks for a few
/// fire times and checks that they increase strictly. Panics on a broken
/// invariant; returns how many of the parsers accepted the input.
pub fn fuzz_one(data: &[u8]) -> usize {
    let (ctl, rest) = data.split_first().map_or((0u8, data), |(c, r)| (*c, r));
    let text = String::from_utf8_lossy(rest);
    let zone = ZONES[(ctl as usize) % ZONES.len()];
    // A start point from the control byte: 1960..2110, DST days included.
    let after = DateTime::from_timestamp(-315_619_200 + (ctl as i64) * 18_869_603, 0)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);

    let _ = parse_go_duration(&text);
    let mut parts = text
        .split('|')
        .map(|s| (!s.is_empty()).then(|| s.to_string()));
    let calendar = CalendarFields {
        year: parts.next().flatten(),
        month: parts.next().flatten(),
        day: parts.next().flatten(),
        week: parts.next().flatten(),
        day_of_week: parts.next().flatten(),
        hour: parts.next().flatten(),
        minute: parts.next().flatten(),
        second: parts.next().flatten(),
    };
    let specs = [
        ScheduleSpec::Cron(text.to_string()),
        ScheduleSpec::Human(text.to_string()),
        ScheduleSpec::detect(&text),
        ScheduleSpec::Calendar(Box::new(calendar)),
    ];
    let mut accepted = 0;
    for spec in &specs {
        if let Ok(s) = Schedule::compile(spec, zone, Bounds::default()) {
            accepted += 1;
            let mut prev = after;
            for t in s.upcoming(after, ctl as u64).take(4) {
                assert!(t > prev, "{spec:?} in {zone}: {t} not after {prev}");
                prev = t;
            }
        }
    }
    accepted
}
