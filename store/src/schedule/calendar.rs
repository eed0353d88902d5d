//! Structured calendar fields with APScheduler's CronTrigger semantics:
//! every given field must match (AND), weekdays count from 0 = Monday, the
//! day field takes `last`, `last fri` and `3rd fri`.
//!
//! Unset fields follow APScheduler: fields more significant than the least
//! significant given field default to `*`, the less significant ones to
//! their minimum (`day=1` means midnight on the 1st; `minute=30` means
//! every hour at :30:00).

use super::CalendarFields;
use super::error::ScheduleError;
use super::fields::{DaySet, YearSet};
use super::parse::{FieldInput, FieldKind, Syntax, parse_field};
use super::pattern::{DayRule, Pattern};

const NAMES: [(&str, FieldKind, &str); 8] = [
    ("year", FieldKind::Year, "*"),
    ("month", FieldKind::Month, "1"),
    ("day", FieldKind::DayOfMonth, "1"),
    ("week", FieldKind::Week, "*"),
    ("day_of_week", FieldKind::DayOfWeek, "*"),
    ("hour", FieldKind::Hour, "0"),
    ("minute", FieldKind::Minute, "0"),
    ("second", FieldKind::Second, "0"),
];

/// Each field's expression after APScheduler's defaulting.
pub fn effective_fields(f: &CalendarFields) -> [String; 8] {
    let given: [Option<&String>; 8] = [
        f.year.as_ref(),
        f.month.as_ref(),
        f.day.as_ref(),
        f.week.as_ref(),
        f.day_of_week.as_ref(),
        f.hour.as_ref(),
        f.minute.as_ref(),
        f.second.as_ref(),
    ];
    let last_given = given.iter().rposition(Option::is_some);
    let mut out: [String; 8] = Default::default();
    for (i, g) in given.iter().enumerate() {
        out[i] = match (g, last_given) {
            (Some(v), _) => (*v).clone(),
            (None, Some(last)) if i > last => NAMES[i].2.to_string(),
            _ => "*".to_string(),
        };
    }
    out
}

pub fn parse_calendar(f: &CalendarFields) -> Result<Pattern, ScheduleError> {
    let exprs = effective_fields(f);
    let mut parsed = Vec::with_capacity(8);
    for (i, (name, kind, _)) in NAMES.iter().enumerate() {
        let text = exprs[i].as_str();
        if text.len() > super::cron::MAX_SCHEDULE_LEN {
            return Err(ScheduleError::new(*name, None, "is longer than 1024 bytes"));
        }
        let input = FieldInput {
            text,
            position: 0,
            label: (*name).to_string(),
            kind: *kind,
            syntax: Syntax::Calendar,
        };
        parsed.push(parse_field(&input)?);
    }
    let star = |i: usize| exprs[i].trim() == "*";
    let mut years = YearSet::empty();
    for y in &parsed[0].values {
        years.insert(*y as i32);
    }
    let day = (!star(2)).then(|| {
        let mut d = parsed[2].days;
        d.dom |= parsed[2].bits() as u32;
        d
    });
    let weeks = (!star(3)).then(|| parsed[3].bits());
    let dow = (!star(4)).then(|| DaySet {
        weekdays: parsed[4].bits() as u8,
        ..Default::default()
    });
    let pattern = Pattern {
        seconds: parsed[7].bits(),
        minutes: parsed[6].bits(),
        hours: parsed[5].bits(),
        months: parsed[1].bits(),
        years,
        days: DayRule::Calendar { day, dow, weeks },
        hour_wildcard: star(5),
    };
    if !pattern.can_fire() {
        return Err(ScheduleError::new(
            "calendar",
            None,
            "never fires: no day in the years 1970-2099 matches all of year, month, day, week and day_of_week",
        ));
    }
    Ok(pattern)
}
