//! Human phrases, as the Python `schedule` library spells them, plus the
//! `@every DURATION` and `@at RFC3339` shorthands.
//!
//! A phrase compiles to one of the other forms:
//!
//! | phrase | meaning |
//! |---|---|
//! | `every 10 seconds`, `every minute`, `every 2 hours`, `every day`, `every week` | interval of real elapsed time |
//! | `every 5 to 10 minutes` | random interval, drawn after each run |
//! | `every minute at :17` | cron `17 * * * * *` |
//! | `every hour at 42:00`, `every hour at :42` | cron `0 42 * * * *` |
//! | `every day at 10:30[:00]` | cron `0 30 10 * * *` (local wall time) |
//! | `every monday [at 13:15[:00]]` | cron `0 15 13 * * 1` (00:00 without `at`) |
//! | `... until 2030-01-01 18:30[:00]` or `until RFC3339` | end bound (local wall time unless an offset is given) |
//! | `@every 1h30m` | interval, Go duration syntax |
//! | `@at 2026-12-01T10:00:00Z` | once |
//!
//! The `schedule` library counts `every day` without `at` from the moment the
//! job is created; we count real time from the anchor (start bound or epoch),
//! which every replica can agree on.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use super::IntervalSpec;
use super::error::ScheduleError;

/// What a phrase means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phrase {
    Cron(String),
    Interval(IntervalSpec),
    Once(DateTime<Utc>),
}

/// The end of a phrase's `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// A wall time in the schedule's zone.
    Local(NaiveDateTime),
    /// An instant.
    Instant(DateTime<Utc>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub phrase: Phrase,
    pub until: Option<Until>,
}

/// Whether `s` is written as a phrase rather than as a cron string.
pub fn looks_human(s: &str) -> bool {
    let l = s.trim_start().to_ascii_lowercase();
    l.starts_with("every") || l.starts_with("@every") || l.starts_with("@at")
}

fn err(at: usize, what: impl AsRef<str>) -> ScheduleError {
    ScheduleError::new("phrase", Some(at), what)
}

const FORMS: &str = "allowed: 'every N seconds|minutes|hours|days|weeks', 'every N to M minutes', \
'every minute at :SS', 'every hour at MM:SS', 'every day at HH:MM[:SS]', 'every monday [at HH:MM]', \
'... until YYYY-MM-DD HH:MM', '@every 1h30m', '@at RFC3339'";

pub fn parse(input: &str) -> Result<Parsed, ScheduleError> {
    if input.len() > super::cron::MAX_SCHEDULE_LEN {
        return Err(err(0, "is longer than 1024 bytes"));
    }
    // Tokens with their byte offsets.
    let mut toks: Vec<(usize, String)> = Vec::new();
    let mut start = None;
    for (i, c) in input.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                toks.push((s, input[s..i].to_ascii_lowercase()));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        toks.push((s, input[s..].to_ascii_lowercase()));
    }
    let Some((first_at, first)) = toks.first().cloned() else {
        return Err(err(0, format!("is empty; {FORMS}")));
    };

    // Split off `until ...`.
    let mut until = None;
    if let Some(u) = toks.iter().position(|(_, t)| t == "until") {
        let rest: Vec<&str> = toks[u + 1..].iter().map(|(_, t)| t.as_str()).collect();
        let at = toks[u].0;
        // Re-take the original text (case matters for RFC 3339's T and Z
        // only cosmetically; chrono accepts both).
        until = Some(parse_until(&rest.join(" "), at)?);
        toks.truncate(u);
    }

    match first.as_str() {
        "@every" => {
            let [_, (at, d)] = toks.as_slice() else {
                return Err(err(
                    first_at,
                    "'@every' takes one duration, e.g. '@every 1h30m'",
                ));
            };
            let ms = parse_go_duration(d).map_err(|e| err(*at, e))?;
            Ok(Parsed {
                phrase: Phrase::Interval(IntervalSpec {
                    every_ms: ms,
                    every_max_ms: None,
                    anchor: None,
                }),
                until,
            })
        }
        "@at" => {
            let [_, (at, _)] = toks.as_slice() else {
                return Err(err(
                    first_at,
                    "'@at' takes one RFC 3339 instant, e.g. '@at 2026-12-01T10:00:00Z'",
                ));
            };
            let raw = input[*at..].split_whitespace().next().unwrap_or("");
            let t = DateTime::parse_from_rfc3339(raw)
                .map_err(|e| err(*at, format!("'{raw}' is not an RFC 3339 instant ({e})")))?;
            Ok(Parsed {
                phrase: Phrase::Once(t.with_timezone(&Utc)),
                until,
            })
        }
        "every" => parse_every(&toks[1..], first_at).map(|phrase| Parsed { phrase, until }),
        _ => Err(err(
            first_at,
            format!("'{first}' does not start a phrase; {FORMS}"),
        )),
    }
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

fn unit_ms(unit: &str) -> Option<(u64, &'static str)> {
    Some(match unit {
        "second" | "seconds" | "sec" | "secs" => (1_000, "second"),
        "minute" | "minutes" | "min" | "mins" => (60_000, "minute"),
        "hour" | "hours" => (3_600_000, "hour"),
        "day" | "days" => (86_400_000, "day"),
        "week" | "weeks" => (7 * 86_400_000, "week"),
        _ => return None,
    })
}

fn number(t: &str, at: usize) -> Result<u64, ScheduleError> {
    match t.parse::<u64>() {
        Ok(n) if (1..=1_000_000_000).contains(&n) => Ok(n),
        _ => Err(err(
            at,
            format!("'{t}' is not a whole number from 1 to 1000000000"),
        )),
    }
}

fn parse_every(toks: &[(usize, String)], every_at: usize) -> Result<Phrase, ScheduleError> {
    let words: Vec<&str> = toks.iter().map(|(_, t)| t.as_str()).collect();
    let pos = |i: usize| toks.get(i).map_or(every_at, |(p, _)| *p);
    // Weekday form.
    if let Some(w) = words
        .first()
        .and_then(|w| WEEKDAYS.iter().position(|d| d == w))
    {
        let (h, m, s) = match &words[1..] {
            [] => (0, 0, 0),
            ["at", t] => parse_at(t, "day", pos(2))?,
            _ => {
                return Err(err(
                    pos(1),
                    format!("expected 'at HH:MM[:SS]' after '{}'", words[0]),
                ));
            }
        };
        return Ok(Phrase::Cron(format!("{s} {m} {h} * * {w}")));
    }
    // [N [to M]] unit [at TIME]
    let (n, m, rest_i) = match words.as_slice() {
        [a, "to", b, ..] => (number(a, pos(0))?, Some(number(b, pos(2))?), 3),
        [a, ..] if a.bytes().all(|c| c.is_ascii_digit()) => (number(a, pos(0))?, None, 1),
        _ => (1, None, 0),
    };
    let Some(unit_word) = words.get(rest_i) else {
        return Err(err(
            pos(rest_i),
            format!("missing unit after 'every'; {FORMS}"),
        ));
    };
    let Some((unit, unit_name)) = unit_ms(unit_word) else {
        return Err(err(
            pos(rest_i),
            format!(
                "'{unit_word}' is not a unit (seconds, minutes, hours, days, weeks) or a weekday"
            ),
        ));
    };
    // `every 1 minutes` is fine; `every 5 minute` is accepted too.
    let every_ms = n
        .checked_mul(unit)
        .ok_or_else(|| err(pos(0), "the period is too long"))?;
    match &words[rest_i + 1..] {
        [] => {
            let every_max_ms = match m {
                Some(m) => Some(
                    m.checked_mul(unit)
                        .ok_or_else(|| err(pos(2), "the period is too long"))?,
                ),
                None => None,
            };
            Ok(Phrase::Interval(IntervalSpec {
                every_ms,
                every_max_ms,
                anchor: None,
            }))
        }
        ["at", t] => {
            if n != 1 || m.is_some() {
                return Err(err(
                    pos(rest_i + 1),
                    "'at' works only with 'every minute', 'every hour', 'every day' or a weekday (use a cron string otherwise)",
                ));
            }
            let (h, mi, s) = parse_at(t, unit_name, pos(rest_i + 2))?;
            match unit_name {
                "minute" => Ok(Phrase::Cron(format!("{s} * * * * *"))),
                "hour" => Ok(Phrase::Cron(format!("{s} {mi} * * * *"))),
                "day" => Ok(Phrase::Cron(format!("{s} {mi} {h} * * *"))),
                _ => Err(err(
                    pos(rest_i + 1),
                    format!(
                        "'at' is not allowed with '{unit_name}'; use minute, hour, day or a weekday"
                    ),
                )),
            }
        }
        _ => Err(err(
            pos(rest_i + 1),
            format!("unexpected '{}'; {FORMS}", words[rest_i + 1..].join(" ")),
        )),
    }
}

/// `at` times as the `schedule` library takes them: `HH:MM[:SS]` for days,
/// `MM:SS` or `:MM` for hours, `:SS` for minutes.
fn parse_at(t: &str, unit: &str, at: usize) -> Result<(u32, u32, u32), ScheduleError> {
    let num = |s: &str, max: u32, what: &str| -> Result<u32, ScheduleError> {
        match s.parse::<u32>() {
            Ok(v) if v <= max && !s.is_empty() && s.len() <= 2 => Ok(v),
            _ => Err(err(
                at,
                format!("'{s}' is not a valid {what} (0-{max}) in 'at {t}'"),
            )),
        }
    };
    let parts: Vec<&str> = t.split(':').collect();
    match (unit, parts.as_slice()) {
        ("minute", ["", s]) => Ok((0, 0, num(s, 59, "second")?)),
        ("hour", ["", m]) => Ok((0, num(m, 59, "minute")?, 0)),
        ("hour", [m, s]) => Ok((0, num(m, 59, "minute")?, num(s, 59, "second")?)),
        ("day", [h, m]) => Ok((num(h, 23, "hour")?, num(m, 59, "minute")?, 0)),
        ("day", [h, m, s]) => Ok((
            num(h, 23, "hour")?,
            num(m, 59, "minute")?,
            num(s, 59, "second")?,
        )),
        ("minute", _) => Err(err(at, format!("'at {t}': every minute takes ':SS'"))),
        ("hour", _) => Err(err(
            at,
            format!("'at {t}': every hour takes 'MM:SS' or ':MM'"),
        )),
        _ => Err(err(
            at,
            format!("'at {t}': a daily or weekday time is 'HH:MM' or 'HH:MM:SS'"),
        )),
    }
}

fn parse_until(s: &str, at: usize) -> Result<Until, ScheduleError> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(&s.to_ascii_uppercase()) {
        return Ok(Until::Instant(t.with_timezone(&Utc)));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dt%H:%M:%S",
        "%Y-%m-%dt%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(Until::Local(t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        // The `schedule` library reads a bare date as its midnight.
        return Ok(Until::Local(d.and_time(NaiveTime::MIN)));
    }
    Err(err(
        at,
        format!(
            "'until {s}' is not a date-time; allowed: 'YYYY-MM-DD HH:MM[:SS]', 'YYYY-MM-DD' or RFC 3339 (a time alone would depend on today's date)"
        ),
    ))
}

/// Parses a Go-style duration (`10s`, `1h30m`, `1.5h`, `300ms`) into
/// milliseconds. At least 1 ms, at most 100 years.
pub fn parse_go_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration; e.g. 10s, 1h30m, 300ms".into());
    }
    if s.len() > 64 {
        return Err("duration is too long".into());
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total_ns: f64 = 0.0;
    while i < bytes.len() {
        let num_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let num = &s[num_start..i];
        if num.is_empty() {
            return Err(format!(
                "'{s}' is not a duration: expected a number at offset {num_start}"
            ));
        }
        let v: f64 = num
            .parse()
            .map_err(|_| format!("'{num}' is not a number in duration '{s}'"))?;
        let unit_start = i;
        while i < bytes.len() && !(bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let unit = &s[unit_start..i];
        let ns_per = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("'{s}' needs a unit (ns, us, ms, s, m, h)")),
            u => {
                return Err(format!(
                    "unknown unit '{u}' in duration '{s}'; allowed: ns, us, ms, s, m, h"
                ));
            }
        };
        total_ns += v * ns_per;
    }
    let ms = (total_ns / 1e6).round();
    if !(1.0..=(super::interval::MAX_PERIOD_MS as f64)).contains(&ms) {
        return Err(format!("duration '{s}' must be between 1ms and 100 years"));
    }
    Ok(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("10s"), Ok(10_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000));
        assert_eq!(parse_go_duration("300ms"), Ok(300));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("10x").is_err());
        assert!(parse_go_duration("0s").is_err());
    }

    #[test]
    fn phrases() {
        let p = |s: &str| parse(s).unwrap().phrase;
        assert_eq!(
            p("every day at 10:30"),
            Phrase::Cron("0 30 10 * * *".into())
        );
        assert_eq!(
            p("every monday at 13:15"),
            Phrase::Cron("0 15 13 * * 1".into())
        );
        assert_eq!(
            p("every wednesday at 13:15:00"),
            Phrase::Cron("0 15 13 * * 3".into())
        );
        assert_eq!(
            p("every minute at :17"),
            Phrase::Cron("17 * * * * *".into())
        );
        assert_eq!(
            p("every hour at 42:00"),
            Phrase::Cron("0 42 * * * *".into())
        );
        let iv = |ms, max| {
            Phrase::Interval(IntervalSpec {
                every_ms: ms,
                every_max_ms: max,
                anchor: None,
            })
        };
        assert_eq!(p("every 10 seconds"), iv(10_000, None));
        assert_eq!(p("every minute"), iv(60_000, None));
        assert_eq!(p("every hour"), iv(3_600_000, None));
        assert_eq!(p("every 5 to 10 minutes"), iv(300_000, Some(600_000)));
        assert_eq!(p("@every 10s"), iv(10_000, None));
        let u = parse("every day at 10:30 until 2030-01-01 18:30").unwrap();
        assert_eq!(
            u.until,
            Some(Until::Local(
                NaiveDate::from_ymd_opt(2030, 1, 1)
                    .unwrap()
                    .and_hms_opt(18, 30, 0)
                    .unwrap()
            ))
        );
        assert!(matches!(p("@at 2026-12-01T10:00:00Z"), Phrase::Once(_)));
        for bad in [
            "every",
            "every 0 seconds",
            "every day at 25:00",
            "every fortnight",
            "every 2 days at 10:00",
            "every second at :10",
            "every day until tomorrow",
            "@every",
            "@at soon",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
