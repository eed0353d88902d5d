//! The schedule engine: parse every schedule form of docs/time.md and
//! compute "next fire time strictly after T" under its rules.
//!
//! Pure and deterministic: no clock reads, no I/O. Every replica computes the
//! same instants from the same inputs. See `README.md` in this directory for
//! the design and the rules, and the modules:
//!
//! - [`error`]: [`ScheduleError`], naming field, position and what is allowed;
//! - `parse`: one field expression (`*/15`, `MON-FRI`, `5#3`, `last fri`);
//! - `cron`: cron strings (5/6/7 fields, macros) to a `Pattern`;
//! - `calendar`: APScheduler CronTrigger fields to a `Pattern`;
//! - `fields`: the bit sets and per-month day masks;
//! - `pattern`: wall-clock matching and the field-by-field search;
//! - `tz`: zone tables and the DST rules (gap collapse, fall-back dedup);
//! - `interval`: real-time intervals, random ranges;
//! - `human`: `schedule`-library phrases, `@every`, `@at`;
//! - [`exclude`]: exclusion calendars (days on which nothing fires).

mod calendar;
mod cron;
pub mod error;
pub mod exclude;
mod fields;
#[doc(hidden)]
pub mod fuzzing;
mod human;
mod interval;
mod parse;
mod pattern;
mod tz;

use chrono::{DateTime, LocalResult, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};

pub use cron::MAX_SCHEDULE_LEN;
pub use error::ScheduleError;
pub use human::parse_go_duration;

use interval::Interval;
use pattern::Pattern;
use tz::Zone;

/// A schedule as a client wrote it. Stored in the job; compiled with
/// [`Schedule::compile`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleSpec {
    /// A cron string: 5, 6 (seconds first) or 7 (with year) fields, or an `@macro`.
    Cron(String),
    /// APScheduler CronTrigger-style fields.
    Calendar(Box<CalendarFields>),
    /// A period of real elapsed time.
    Interval(IntervalSpec),
    /// A single instant.
    Once(DateTime<Utc>),
    /// A human phrase (`every day at 10:30`, `@every 10s`, `@at ...`).
    Human(String),
    /// No instants of its own: one occurrence for each occurrence of job
    /// `job_id` that succeeds (or, with `on_finished`, that ends in any
    /// way), at that occurrence's scheduled instant.
    After { job_id: String, on_finished: bool },
}

impl ScheduleSpec {
    /// Reads a schedule string as a user typed it, detecting its form:
    /// `every ...`, `@every ...` and `@at ...` are phrases, anything else
    /// (fields or an `@macro`) is cron. Parsing proper happens in
    /// [`Schedule::compile`].
    pub fn detect(s: &str) -> ScheduleSpec {
        if human::looks_human(s) {
            ScheduleSpec::Human(s.to_string())
        } else {
            ScheduleSpec::Cron(s.to_string())
        }
    }
}

/// APScheduler CronTrigger fields; `None` means unset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarFields {
    pub year: Option<String>,
    pub month: Option<String>,
    pub day: Option<String>,
    pub week: Option<String>,
    pub day_of_week: Option<String>,
    pub hour: Option<String>,
    pub minute: Option<String>,
    pub second: Option<String>,
}

/// A period in real elapsed time, in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalSpec {
    /// The period (or the lower end of a random range).
    pub every_ms: u64,
    /// Upper end of a random range, inclusive.
    pub every_max_ms: Option<u64>,
    /// First fire instant; later ones follow at multiples of the period.
    pub anchor: Option<DateTime<Utc>>,
}

/// Start and end bounds (inclusive). A phrase's `until` narrows `end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// The compiled form of each kind of schedule.
#[derive(Clone, Debug)]
enum Kind {
    /// Cron strings, calendar fields and phrases with a wall-clock time.
    Calendar {
        pattern: Pattern,
        zone: Zone,
    },
    Interval(Interval),
    Once(DateTime<Utc>),
    /// A dependent job: never due by time.
    After,
}

/// A compiled schedule in a time zone, with bounds.
#[derive(Clone, Debug)]
pub struct Schedule {
    kind: Kind,
    bounds: Bounds,
    tz: chrono_tz::Tz,
    /// Days on which it does not fire (the job's exclusion calendars).
    exclusions: Vec<std::sync::Arc<exclude::Exclusion>>,
}

/// The most excluded days one `next_after` steps over (ten years of
/// days) before it gives up: calendars that exclude every day in reach
/// leave a schedule that never fires, which job validation refuses.
const MAX_EXCLUDED_DAYS: usize = 3660;

impl Schedule {
    /// Compiles `spec` in the IANA zone `tz`, within `bounds`. Refuses a
    /// schedule that can never fire (judged over the years 1970-2099).
    pub fn compile(
        spec: &ScheduleSpec,
        tz: &str,
        bounds: Bounds,
    ) -> Result<Schedule, ScheduleError> {
        let zone = Zone::new(tz)?;
        if let (Some(s), Some(e)) = (bounds.start, bounds.end)
            && s > e
        {
            {
                return Err(ScheduleError::new(
                    "bounds",
                    None,
                    format!("start {} is after end {}", s.to_rfc3339(), e.to_rfc3339()),
                ));
            }
        }
        let mut bounds = bounds;
        let default_anchor = bounds.start.map_or(0, |s| s.timestamp_millis());
        let kind = match spec {
            ScheduleSpec::Cron(s) => {
                if human::looks_human(s) {
                    return Err(ScheduleError::new(
                        "cron",
                        Some(0),
                        "this is a phrase, not a cron string; submit it as a human schedule",
                    ));
                }
                Kind::Calendar {
                    pattern: cron::parse_cron(s)?,
                    zone: zone.clone(),
                }
            }
            ScheduleSpec::Calendar(f) => Kind::Calendar {
                pattern: calendar::parse_calendar(f)?,
                zone: zone.clone(),
            },
            ScheduleSpec::Interval(i) => Kind::Interval(Interval::new(i, default_anchor)?),
            ScheduleSpec::Once(t) => Kind::Once(*t),
            ScheduleSpec::After { job_id, .. } => {
                if job_id.is_empty() {
                    return Err(ScheduleError::new("after", None, "names no upstream job"));
                }
                // Fired by its upstream, never by time: no "never fires".
                return Ok(Schedule {
                    kind: Kind::After,
                    bounds,
                    tz: zone.tz,
                    exclusions: Vec::new(),
                });
            }
            ScheduleSpec::Human(s) => {
                if !human::looks_human(s) {
                    return Err(ScheduleError::new(
                        "phrase",
                        Some(0),
                        "a phrase starts with 'every', '@every' or '@at'; cron strings are a cron schedule",
                    ));
                }
                let parsed = human::parse(s)?;
                if let Some(until) = parsed.until {
                    let end = match until {
                        human::Until::Instant(t) => t,
                        human::Until::Local(w) => resolve_local(zone.tz, w),
                    };
                    bounds.end = Some(bounds.end.map_or(end, |e| e.min(end)));
                }
                match parsed.phrase {
                    human::Phrase::Cron(c) => Kind::Calendar {
                        pattern: cron::parse_cron(&c)?,
                        zone: zone.clone(),
                    },
                    human::Phrase::Interval(i) => {
                        Kind::Interval(Interval::new(&i, default_anchor)?)
                    }
                    human::Phrase::Once(t) => Kind::Once(t),
                }
            }
        };
        let schedule = Schedule {
            kind,
            bounds,
            tz: zone.tz,
            exclusions: Vec::new(),
        };
        // Rule 4: refuse what can never fire. The day-level check already
        // ran in the parsers (with a precise reason); this one catches
        // bounds that exclude every fire time.
        let from = bounds
            .start
            .and_then(|s| s.checked_sub_signed(TimeDelta::nanoseconds(1)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        if schedule.next_after(from, 0).is_none() {
            return Err(ScheduleError::new(
                "bounds",
                None,
                match spec {
                    ScheduleSpec::Once(_) => "never fires: the instant is outside the start/end bounds".to_string(),
                    _ => "never fires: no fire time lies between the start and end bounds (or the until) within 1970-2099".to_string(),
                },
            ));
        }
        Ok(schedule)
    }

    /// Whether this is a dependent job's schedule (no instants of its own).
    pub fn is_after(&self) -> bool {
        matches!(self.kind, Kind::After)
    }

    /// The instant of a one-shot schedule (`once`, `@at ...`), if it is one.
    pub fn once_instant(&self) -> Option<DateTime<Utc>> {
        match self.kind {
            Kind::Once(t) => Some(t),
            _ => None,
        }
    }

    /// This schedule without the instants on the days `exclusions`
    /// exclude.
    pub fn with_exclusions(mut self, exclusions: Vec<std::sync::Arc<exclude::Exclusion>>) -> Self {
        self.exclusions = exclusions;
        self
    }

    /// Whether any exclusion calendar applies.
    pub fn has_exclusions(&self) -> bool {
        !self.exclusions.is_empty()
    }

    /// The first fire instant strictly after `after`, or `None` when the
    /// schedule is exhausted. `seed` makes random intervals deterministic
    /// (callers pass a hash of the job id). Instants on excluded days are
    /// skipped: from an excluded instant, the search goes on from the end
    /// of its day.
    pub fn next_after(&self, after: DateTime<Utc>, seed: u64) -> Option<DateTime<Utc>> {
        let mut next = self.raw_next_after(after, seed)?;
        for _ in 0..MAX_EXCLUDED_DAYS {
            let Some(resume) = self.exclusions.iter().find_map(|x| x.excluded_until(next)) else {
                return Some(next);
            };
            let before = resume.checked_sub_signed(TimeDelta::nanoseconds(1))?;
            next = self.raw_next_after(before.max(next), seed)?;
        }
        None
    }

    /// [`Self::next_after`] without the exclusions.
    fn raw_next_after(&self, after: DateTime<Utc>, seed: u64) -> Option<DateTime<Utc>> {
        // The start bound is inclusive: fires at or after it.
        let after = match self.bounds.start {
            Some(s) if s > after => s.checked_sub_signed(TimeDelta::nanoseconds(1))?,
            _ => after,
        };
        let next = match &self.kind {
            Kind::Calendar { pattern, zone } => {
                let lo = after.timestamp().checked_add(1)?;
                DateTime::from_timestamp(zone.next_fire(pattern, lo)?, 0)?
            }
            Kind::Interval(i) => {
                DateTime::from_timestamp_millis(i.next_after(after.timestamp_millis(), seed)?)?
            }
            Kind::Once(t) => (*t > after).then_some(*t)?,
            Kind::After => return None,
        };
        match self.bounds.end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }

    /// The fire instants strictly after `after`, in order.
    pub fn upcoming(
        &self,
        after: DateTime<Utc>,
        seed: u64,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let mut cursor = Some(after);
        std::iter::from_fn(move || {
            let next = self.next_after(cursor?, seed);
            cursor = next;
            next
        })
    }

    /// A one-shot schedule (`once`, `@at`) fires at most once.
    pub fn is_one_shot(&self) -> bool {
        matches!(self.kind, Kind::Once(_))
    }

    /// The effective bounds: the given ones with a phrase's `until` folded
    /// into `end`.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// The end bound (a phrase's `until` included), if any.
    pub fn until(&self) -> Option<DateTime<Utc>> {
        self.bounds.end
    }

    /// The time zone the schedule was compiled in.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.tz
    }
}

/// A local wall time as an instant, for bounds written in local time: the
/// first instance when it repeats, the first instant after the gap when it
/// does not exist (the same rules as fire times).
fn resolve_local(tz: chrono_tz::Tz, w: chrono::NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&w) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => chrono_tz::GapInfo::new(&w, &tz)
            .and_then(|g| g.end)
            .map_or_else(|| w.and_utc(), |t| t.with_timezone(&Utc)),
    }
}

/// The seed of a job's random intervals: a stable hash of its id, the same
/// on every replica and in every tool that re-derives a job's instants
/// (the chaos checker).
pub fn job_seed(job_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(job_id.as_bytes())
}

/// A deterministic offset in `[0, max_ms)` for one occurrence, the same on
/// every replica.
pub fn jitter_ms(occurrence_id: &str, max_ms: u64) -> u64 {
    if max_ms == 0 {
        return 0;
    }
    xxhash_rust::xxh3::xxh3_64(occurrence_id.as_bytes()) % max_ms
}

#[cfg(test)]
mod tests;
