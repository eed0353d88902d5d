//! The parser of one field expression (`*/15`, `1-5`, `MON-FRI`, `5#3`,
//! `last fri`, ...), shared by cron strings (`cron.rs`) and APScheduler
//! calendar fields (`calendar.rs`). The two syntaxes differ in weekday
//! numbering and in which day extensions they spell which way; `Syntax`
//! says which one applies.

use super::error::ScheduleError;
use super::fields::{DaySet, MAX_YEAR, MIN_YEAR, NTH_LAST};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// Vixie cron: 0 and 7 = Sunday, `?`, `L`, `5#3`, `5L`, `L5`.
    Cron,
    /// APScheduler CronTrigger: 0 = Monday, `last`, `last fri`, `3rd fri`.
    Calendar,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
    Week,
}

impl FieldKind {
    /// The human name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Second => "second",
            FieldKind::Minute => "minute",
            FieldKind::Hour => "hour",
            FieldKind::DayOfMonth => "day of month",
            FieldKind::Month => "month",
            FieldKind::DayOfWeek => "day of week",
            FieldKind::Year => "year",
            FieldKind::Week => "week",
        }
    }

    fn bounds(self, syntax: Syntax) -> (u32, u32) {
        match self {
            FieldKind::Second | FieldKind::Minute => (0, 59),
            FieldKind::Hour => (0, 23),
            FieldKind::DayOfMonth => (1, 31),
            FieldKind::Month => (1, 12),
            FieldKind::DayOfWeek => match syntax {
                Syntax::Cron => (0, 7),
                Syntax::Calendar => (0, 6),
            },
            FieldKind::Year => (MIN_YEAR as u32, MAX_YEAR as u32),
            FieldKind::Week => (1, 53),
        }
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
/// Internal weekday numbering: 0 = Sunday.
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// The result of parsing one field.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// Plain values, in the field's own numbering (weekdays already
    /// converted to 0 = Sunday).
    pub values: Vec<u32>,
    /// Day extensions (`L`, `5#3`, `last fri`, ...), for the day fields.
    pub days: DaySet,
    /// Anything but a lone `*` or `?` (docs/time.md, "Edge cases, settled").
    pub restricted: bool,
    /// Exactly a lone `*` (the hour wildcard of rule 2).
    pub lone_star: bool,
}

impl Parsed {
    pub fn bits(&self) -> u64 {
        self.values
            .iter()
            .filter(|v| **v < 64)
            .fold(0u64, |b, v| b | 1 << v)
    }
}

/// One field: its text, where it starts in the input, its label for errors.
pub struct FieldInput<'a> {
    pub text: &'a str,
    pub position: usize,
    pub label: String,
    pub kind: FieldKind,
    pub syntax: Syntax,
}

impl FieldInput<'_> {
    fn err(&self, offset: usize, what: impl AsRef<str>) -> ScheduleError {
        ScheduleError::new(self.label.clone(), Some(self.position + offset), what)
    }

    fn allowed(&self) -> String {
        let (lo, hi) = self.kind.bounds(self.syntax);
        match (self.kind, self.syntax) {
            (FieldKind::Month, _) => "1-12 or jan-dec".into(),
            (FieldKind::DayOfWeek, Syntax::Cron) => {
                "0-7 (0 and 7 = Sunday) or sun-sat, with n#k, nL, Ln".into()
            }
            (FieldKind::DayOfWeek, Syntax::Calendar) => "0-6 (0 = Monday) or mon-sun".into(),
            (FieldKind::DayOfMonth, Syntax::Cron) => "1-31 or L".into(),
            (FieldKind::DayOfMonth, Syntax::Calendar) => {
                "1-31, last, or '1st'-'5th'/'last' followed by a weekday".into()
            }
            _ => format!("{lo}-{hi}"),
        }
    }
}

/// Parses a whole field: a comma-separated list of items.
pub fn parse_field(input: &FieldInput<'_>) -> Result<Parsed, ScheduleError> {
    let mut out = Parsed::default();
    let text = input.text;
    if text.trim().is_empty() {
        return Err(input.err(0, format!("is empty; allowed: {}", input.allowed())));
    }
    let trimmed = text.trim();
    out.lone_star = trimmed == "*";
    out.restricted = !(trimmed == "*" || trimmed == "?");
    let mut offset = 0usize;
    for item in text.split(',') {
        let lead = item.len() - item.trim_start().len();
        parse_item(input, item.trim(), offset + lead, &mut out)?;
        offset += item.len() + 1;
    }
    Ok(out)
}

fn parse_item(
    input: &FieldInput<'_>,
    item: &str,
    at: usize,
    out: &mut Parsed,
) -> Result<(), ScheduleError> {
    let (lo, hi) = input.kind.bounds(input.syntax);
    if item.is_empty() {
        return Err(input.err(at, "empty list item (two commas in a row?)"));
    }
    let lower = item.to_ascii_lowercase();

    if item == "?" {
        if input.syntax == Syntax::Cron
            && matches!(input.kind, FieldKind::DayOfMonth | FieldKind::DayOfWeek)
        {
            push_range(input, out, lo, hi, 1);
            return Ok(());
        }
        return Err(input.err(
            at,
            "'?' is only allowed in the day of month and day of week fields",
        ));
    }

    if input.kind == FieldKind::DayOfMonth && (lower == "l" || lower == "last") {
        out.days.last_day = true;
        return Ok(());
    }
    if input.kind == FieldKind::DayOfMonth && (lower.ends_with('w') || lower.starts_with("l-")) {
        return Err(input.err(
            at,
            format!(
                "'{item}' (nearest weekday / offset from last day) is not supported; allowed: {}",
                input.allowed()
            ),
        ));
    }

    // "3rd fri", "last fri": APScheduler's day field, accepted in both syntaxes
    // where a space cannot occur in cron (it splits fields) but is harmless.
    if let Some((nth, wd)) = lower.split_once(char::is_whitespace) {
        if input.kind == FieldKind::DayOfMonth {
            let w = weekday_by_name(wd.trim()).ok_or_else(|| {
                input.err(
                    at,
                    format!("'{}' is not a weekday name (mon-sun)", wd.trim()),
                )
            })?;
            let bit = match nth {
                "1st" => 1,
                "2nd" => 2,
                "3rd" => 4,
                "4th" => 8,
                "5th" => 16,
                "last" => NTH_LAST,
                _ => {
                    return Err(input.err(
                        at,
                        format!("'{nth}' is not one of 1st, 2nd, 3rd, 4th, 5th, last"),
                    ));
                }
            };
            out.days.nth[w as usize] |= bit;
            return Ok(());
        }
        return Err(input.err(
            at,
            format!("'{item}' contains a space; allowed: {}", input.allowed()),
        ));
    }

    if input.kind == FieldKind::DayOfWeek
        && input.syntax == Syntax::Cron
        && let Some(done) = parse_cron_weekday_special(input, item, &lower, at, out)?
    {
        return Ok(done);
    }

    // General form: base[/step], base = * | a | a-b.
    let (base, step) = match item.split_once('/') {
        Some((b, s)) => {
            let step_at = at + b.len() + 1;
            let step: u32 = parse_number(s).ok_or_else(|| {
                input.err(step_at, format!("step '{s}' is not a positive number"))
            })?;
            if step == 0 {
                return Err(input.err(step_at, "step 0 is not allowed"));
            }
            (b, Some(step))
        }
        None => (item, None),
    };
    let (first, last) = if base == "*" {
        (lo, hi)
    } else if let Some((a, b)) = split_range(base) {
        let first = value(input, a, at)?;
        let last = value(input, b, at + a.len() + 1)?;
        if first > last {
            return Err(input.err(
                at,
                format!("range {base} goes backwards ({first} > {last}); write it as two ranges"),
            ));
        }
        (first, last)
    } else {
        let v = value(input, base, at)?;
        // `a/step` means a to the maximum, as in Vixie cron and APScheduler.
        (v, if step.is_some() { hi } else { v })
    };
    push_range(input, out, first, last, step.unwrap_or(1));
    Ok(())
}

/// `5L`, `FRIL`, `L5`, `5#3`, `FRI#3`, `5#L`, `FRI#L` in a cron weekday field.
fn parse_cron_weekday_special(
    input: &FieldInput<'_>,
    item: &str,
    lower: &str,
    at: usize,
    out: &mut Parsed,
) -> Result<Option<()>, ScheduleError> {
    if let Some((wd, k)) = lower.split_once('#') {
        let w = value(input, &item[..wd.len()], at)? % 7;
        let bit = if k == "l" {
            NTH_LAST
        } else {
            match parse_number(k) {
                Some(k @ 1..=5) => 1 << (k - 1),
                _ => {
                    return Err(input.err(
                        at + wd.len() + 1,
                        format!("'#{k}' is not allowed: the week of the month must be 1-5 or L"),
                    ));
                }
            }
        };
        out.days.nth[w as usize] |= bit;
        return Ok(Some(()));
    }
    if lower == "l" {
        return Err(input.err(
            at,
            "a lone 'L' is ambiguous in the day of week field; write nL or NAMEL (e.g. 5L = last Friday)",
        ));
    }
    if lower.len() > 1 {
        // `Ln`: last weekday n (docs/time.md, "Edge cases, settled"). Names like "LFRI" too.
        if let Some(rest) = lower.strip_prefix('l')
            && !rest.contains(['-', '/', 'l'])
        {
            let w = value(input, &item[1..], at + 1)? % 7;
            out.days.nth[w as usize] |= NTH_LAST;
            return Ok(Some(()));
        }
        if let Some(rest) = lower.strip_suffix('l')
            && !rest.contains(['-', '/'])
        {
            let w = value(input, &item[..rest.len()], at)? % 7;
            out.days.nth[w as usize] |= NTH_LAST;
            return Ok(Some(()));
        }
    }
    Ok(None)
}

fn split_range(base: &str) -> Option<(&str, &str)> {
    base.split_once('-')
}

fn parse_number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn weekday_by_name(s: &str) -> Option<u32> {
    let s = s.to_ascii_lowercase();
    WEEKDAYS.iter().position(|n| *n == s).map(|i| i as u32)
}

/// One value: a number in range or a name; weekdays come back 0 = Sunday
/// for names and in the syntax's own numbering for numbers.
fn value(input: &FieldInput<'_>, s: &str, at: usize) -> Result<u32, ScheduleError> {
    let (lo, hi) = input.kind.bounds(input.syntax);
    if let Some(v) = parse_number(s) {
        if v < lo || v > hi {
            return Err(input.err(at, format!("{v} is out of range {lo}-{hi}")));
        }
        return Ok(v);
    }
    let name = s.to_ascii_lowercase();
    match input.kind {
        FieldKind::Month => {
            if let Some(i) = MONTHS.iter().position(|n| *n == name) {
                return Ok(i as u32 + 1);
            }
        }
        FieldKind::DayOfWeek => {
            if let Some(w) = weekday_by_name(&name) {
                // Express the name in the syntax's numbering so that ranges
                // like mon-fri compare in the same order as numbers do.
                return Ok(match input.syntax {
                    Syntax::Cron => w,
                    Syntax::Calendar => (w + 6) % 7,
                });
            }
        }
        _ => {}
    }
    let shown: String = s.chars().take(20).collect();
    if s.is_empty() {
        Err(input.err(at, format!("missing value; allowed: {}", input.allowed())))
    } else if s.bytes().all(|b| b.is_ascii_digit()) {
        Err(input.err(at, format!("{shown} is out of range {lo}-{hi}")))
    } else {
        Err(input.err(
            at,
            format!("'{shown}' is not valid; allowed: {}", input.allowed()),
        ))
    }
}

fn push_range(input: &FieldInput<'_>, out: &mut Parsed, first: u32, last: u32, step: u32) {
    let mut v = first;
    while v <= last {
        let stored = match (input.kind, input.syntax) {
            (FieldKind::DayOfWeek, Syntax::Cron) => v % 7,
            (FieldKind::DayOfWeek, Syntax::Calendar) => (v + 1) % 7,
            _ => v,
        };
        out.values.push(stored);
        match v.checked_add(step) {
            Some(n) => v = n,
            None => break,
        }
    }
}
