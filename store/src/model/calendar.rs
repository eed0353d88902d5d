//! Exclusion calendars as the cluster keeps them: named, replicated sets
//! of days in a zone on which the jobs that name them do not fire (the
//! engine is `schedule::exclude`).

use serde::{Deserialize, Serialize};

use super::UnixMs;
use super::limits::{
    MAX_CALENDAR_CRONS, MAX_CALENDAR_DATES, MAX_CALENDAR_RANGES, MAX_JOB_ID_LEN, MAX_NAME_LEN,
};
use super::validate::{ValidationError, validate_name};
use crate::schedule::exclude::Exclusion;

/// What a client writes to define a calendar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSpec {
    /// 1-128 characters of `[A-Za-z0-9._:-]`.
    pub name: String,
    /// Free text.
    pub description: String,
    /// IANA zone its days are read in; empty: UTC.
    pub time_zone: String,
    /// Excluded days, `YYYY-MM-DD`.
    pub dates: Vec<String>,
    /// Excluded spans of days, both ends included.
    pub ranges: Vec<(String, String)>,
    /// Cron expressions: a day on which one fires is excluded.
    pub crons: Vec<String>,
}

/// A calendar as the cluster holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    /// As accepted.
    pub spec: CalendarSpec,
    /// Incremented by every change.
    pub version: u64,
    /// When it was created (the proposer's clock).
    pub created_at: UnixMs,
    /// When it last changed.
    pub updated_at: UnixMs,
    /// The principal that last changed it.
    pub updated_by: String,
}

fn err(field: String, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field,
        message: message.into(),
    }
}

/// Checks a calendar and compiles it; errors name the field
/// (`calendar.dates[2]`).
pub fn validate_calendar(spec: &CalendarSpec) -> Result<Exclusion, ValidationError> {
    validate_name("calendar.name", &spec.name, MAX_JOB_ID_LEN)?;
    if spec.description.len() > MAX_NAME_LEN {
        return Err(err(
            "calendar.description".into(),
            format!("is longer than {MAX_NAME_LEN} bytes"),
        ));
    }
    for (field, n, max) in [
        ("calendar.dates", spec.dates.len(), MAX_CALENDAR_DATES),
        ("calendar.ranges", spec.ranges.len(), MAX_CALENDAR_RANGES),
        ("calendar.crons", spec.crons.len(), MAX_CALENDAR_CRONS),
    ] {
        if n > max {
            return Err(err(field.into(), format!("{n} entries; at most {max}")));
        }
    }
    if spec.dates.is_empty() && spec.ranges.is_empty() && spec.crons.is_empty() {
        return Err(err(
            "calendar".into(),
            "excludes nothing: give at least one date, range or cron expression",
        ));
    }
    Exclusion::compile(&spec.time_zone, &spec.dates, &spec.ranges, &spec.crons)
        .map_err(|e| err(format!("calendar.{}", e.field), e.message))
}
