//! Cron strings: 5 fields (minute first), 6 (seconds first), 7 (seconds
//! first, year last), and the `@yearly`-style macros. Vixie semantics
//! (docs/time.md, rule 5): 0 and 7 are Sunday, and when both day fields are
//! restricted a day matches if either does.

use super::error::ScheduleError;
use super::fields::{DaySet, YearSet};
use super::parse::{FieldInput, FieldKind, Parsed, Syntax, parse_field};
use super::pattern::{DayRule, Pattern};

/// Longest schedule string accepted anywhere.
pub use crate::model::MAX_SCHEDULE_LEN;

/// The macros and what they stand for.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// Parses a cron string into a [`Pattern`].
pub fn parse_cron(input: &str) -> Result<Pattern, ScheduleError> {
    if input.len() > MAX_SCHEDULE_LEN {
        return Err(ScheduleError::new(
            "cron",
            None,
            format!(
                "is {} bytes long; the limit is {MAX_SCHEDULE_LEN}",
                input.len()
            ),
        ));
    }
    let trimmed = input.trim();
    if trimmed.starts_with('@') {
        let l = trimmed.to_ascii_lowercase();
        return match MACROS.iter().find(|(m, _)| *m == l) {
            Some((_, expansion)) => parse_cron(expansion),
            None => Err(ScheduleError::new(
                "cron",
                Some(input.len() - input.trim_start().len()),
                format!(
                    "unknown macro '{}'; allowed: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly (and @every DURATION, @at RFC3339)",
                    trimmed.chars().take(30).collect::<String>()
                ),
            )),
        };
    }
    // Fields with their byte offsets.
    let mut tokens: Vec<(usize, &str)> = Vec::new();
    let mut start = None;
    for (i, c) in input.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                tokens.push((s, &input[s..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        tokens.push((s, &input[s..]));
    }
    let kinds: &[FieldKind] = match tokens.len() {
        5 => &[
            FieldKind::Minute,
            FieldKind::Hour,
            FieldKind::DayOfMonth,
            FieldKind::Month,
            FieldKind::DayOfWeek,
        ],
        6 => &[
            FieldKind::Second,
            FieldKind::Minute,
            FieldKind::Hour,
            FieldKind::DayOfMonth,
            FieldKind::Month,
            FieldKind::DayOfWeek,
        ],
        7 => &[
            FieldKind::Second,
            FieldKind::Minute,
            FieldKind::Hour,
            FieldKind::DayOfMonth,
            FieldKind::Month,
            FieldKind::DayOfWeek,
            FieldKind::Year,
        ],
        n => {
            return Err(ScheduleError::new(
                "cron",
                None,
                format!(
                    "has {n} fields; allowed: 5 (minute hour day-of-month month day-of-week), 6 (seconds first) or 7 (seconds first, year last), or an @macro"
                ),
            ));
        }
    };
    let mut parsed: Vec<(FieldKind, Parsed)> = Vec::with_capacity(kinds.len());
    for (i, (kind, (pos, text))) in kinds.iter().zip(tokens.iter()).enumerate() {
        let field = FieldInput {
            text,
            position: *pos,
            label: format!("field {} ({})", i + 1, kind.name()),
            kind: *kind,
            syntax: Syntax::Cron,
        };
        let p = parse_field(&field)?;
        parsed.push((*kind, p));
    }
    let get = |k: FieldKind| parsed.iter().find(|(kk, _)| *kk == k).map(|(_, p)| p);
    let seconds = get(FieldKind::Second).map_or(1, Parsed::bits);
    let minutes = get(FieldKind::Minute).map_or(1, Parsed::bits);
    let hour = get(FieldKind::Hour);
    let hours = hour.map_or(1, Parsed::bits);
    let hour_wildcard = hour.is_some_and(|h| h.lone_star);
    let months = get(FieldKind::Month).map_or(0x1FFE, Parsed::bits);
    let years = match get(FieldKind::Year) {
        Some(p) => {
            let mut ys = YearSet::empty();
            for v in &p.values {
                ys.insert(*v as i32);
            }
            ys
        }
        None => YearSet::all(),
    };
    let dom_p = get(FieldKind::DayOfMonth);
    let dow_p = get(FieldKind::DayOfWeek);
    let mut dom = dom_p.map(|p| p.days).unwrap_or_default();
    dom.dom |= dom_p.map_or(0, |p| p.bits() as u32);
    let mut dow: DaySet = dow_p.map(|p| p.days).unwrap_or_default();
    dow.weekdays |= dow_p.map_or(0, |p| p.bits() as u8);
    let pattern = Pattern {
        seconds,
        minutes,
        hours,
        months,
        years,
        days: DayRule::Cron {
            dom,
            dom_restricted: dom_p.is_some_and(|p| p.restricted),
            dow,
            dow_restricted: dow_p.is_some_and(|p| p.restricted),
        },
        hour_wildcard,
    };
    if !pattern.can_fire() {
        return Err(ScheduleError::new(
            "cron",
            None,
            format!(
                "'{}' never fires: no day in the years 1970-2099 matches its day of month, month, day of week and year fields",
                input.trim()
            ),
        ));
    }
    Ok(pattern)
}
