//! The schedule engine: parse every schedule form of DESIGN.md and compute
//! "next fire time strictly after T" under its time rules.
//!
//! Pure and deterministic: no clock reads, no I/O. Every replica computes the
//! same instants from the same inputs.
//!
//! STUB: the public surface below is fixed; the implementation is being
//! written (issue 3).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A schedule as a client wrote it. Stored in the job; compiled with
/// [`Schedule::compile`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleSpec {
    /// A cron string: 5, 6 (seconds first) or 7 (with year) fields, or an `@macro`.
    Cron(String),
    /// APScheduler CronTrigger-style fields.
    Calendar(CalendarFields),
    /// A period of real elapsed time.
    Interval(IntervalSpec),
    /// A single instant.
    Once(DateTime<Utc>),
    /// A human phrase (`every day at 10:30`, `@every 10s`, `@at ...`).
    Human(String),
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

/// Why a schedule was refused. `Display` names the field, the position and
/// what is allowed, e.g. `field 3 (day of month): 32 is out of range 1-31`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScheduleError {
    pub message: String,
}

/// A compiled schedule in a time zone, with bounds.
#[derive(Clone, Debug)]
pub struct Schedule {
    spec: ScheduleSpec,
    bounds: Bounds,
}

impl Schedule {
    /// Compiles `spec` in the IANA zone `tz`, within `bounds`. Refuses a
    /// schedule that can never fire (judged over the years 1970-2099).
    pub fn compile(
        spec: &ScheduleSpec,
        tz: &str,
        bounds: Bounds,
    ) -> Result<Schedule, ScheduleError> {
        // Interim: once and interval only, until the engine lands.
        let _ = tz;
        match spec {
            ScheduleSpec::Once(_) | ScheduleSpec::Interval(_) => Ok(Schedule {
                spec: spec.clone(),
                bounds,
            }),
            _ => Err(ScheduleError {
                message: "schedule engine not built yet".into(),
            }),
        }
    }

    /// The first fire instant strictly after `after`, or `None` when the
    /// schedule is exhausted. `seed` makes random intervals deterministic
    /// (callers pass a hash of the job id).
    pub fn next_after(&self, after: DateTime<Utc>, seed: u64) -> Option<DateTime<Utc>> {
        let _ = seed;
        let next = match &self.spec {
            ScheduleSpec::Once(at) => (*at > after).then_some(*at),
            ScheduleSpec::Interval(iv) => {
                let anchor = iv
                    .anchor
                    .or(self.bounds.start)
                    .unwrap_or(DateTime::UNIX_EPOCH);
                let every = iv.every_ms.max(1) as i64;
                let since = (after - anchor).num_milliseconds();
                let n = if since < 0 { 0 } else { since / every + 1 };
                Some(anchor + chrono::Duration::milliseconds(n * every))
            }
            _ => None,
        }?;
        match self.bounds.end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }
}

/// A deterministic offset in `[0, max_ms)` for one occurrence, the same on
/// every replica.
pub fn jitter_ms(occurrence_id: &str, max_ms: u64) -> u64 {
    if max_ms == 0 {
        return 0;
    }
    xxhash_rust::xxh3::xxh3_64(occurrence_id.as_bytes()) % max_ms
}
