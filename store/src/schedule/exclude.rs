//! Exclusion calendars (Quartz's calendars, Temporal's exclusions): named
//! sets of *local days* in a zone on which a job does not fire. A day is
//! excluded when it is one of the calendar's dates, falls in one of its
//! date ranges (both ends included), or is a day on which one of its cron
//! expressions fires at least once (`0 0 * * 6,0`: weekends; `* * 25 12 *`:
//! Christmas). Days, not instants: a calendar says "not on Christmas", and
//! a cron expression names days by its date fields.
//!
//! An excluded instant is not an occurrence: [`super::Schedule::next_after`]
//! skips it, day by day, so the cost is bounded by the excluded days, not
//! by the schedule's period.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{Bounds, Schedule, ScheduleError, ScheduleSpec, tz::Zone};

/// A calendar's compiled days.
#[derive(Clone, Debug)]
pub struct Exclusion {
    tz: Tz,
    dates: BTreeSet<NaiveDate>,
    ranges: Vec<(NaiveDate, NaiveDate)>,
    crons: Vec<Schedule>,
}

/// A `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date written YYYY-MM-DD"))
}

/// The first instant of local day `date` in `tz`: midnight, or, where a
/// DST change skips midnight, the end of that gap.
pub fn day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&midnight) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => chrono_tz::GapInfo::new(&midnight, &tz)
            .and_then(|g| g.end)
            .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc)),
    }
}

/// Where an exclusion's error is.
#[derive(Debug, PartialEq, Eq)]
pub struct ExclusionError {
    /// `time_zone`, `dates[2]`, `ranges[0]`, `crons[1]`.
    pub field: String,
    pub message: String,
}

impl Exclusion {
    /// Compiles a calendar: zone (empty: UTC), dates, `(from, to)` ranges
    /// and cron expressions.
    pub fn compile(
        time_zone: &str,
        dates: &[String],
        ranges: &[(String, String)],
        crons: &[String],
    ) -> Result<Exclusion, ExclusionError> {
        let err = |field: String, message: String| ExclusionError { field, message };
        let zone_name = if time_zone.is_empty() {
            "UTC"
        } else {
            time_zone
        };
        let zone = Zone::new(zone_name)
            .map_err(|e: ScheduleError| err("time_zone".into(), e.to_string()))?;
        let mut days = BTreeSet::new();
        for (i, d) in dates.iter().enumerate() {
            days.insert(parse_date(d).map_err(|m| err(format!("dates[{i}]"), m))?);
        }
        let mut spans = Vec::new();
        for (i, (from, to)) in ranges.iter().enumerate() {
            let field = || format!("ranges[{i}]");
            let a = parse_date(from).map_err(|m| err(field(), m))?;
            let b = parse_date(to).map_err(|m| err(field(), m))?;
            if a > b {
                return Err(err(field(), format!("{from}..{to} ends before it starts")));
            }
            spans.push((a, b));
        }
        let mut compiled = Vec::new();
        for (i, c) in crons.iter().enumerate() {
            let s = Schedule::compile(&ScheduleSpec::Cron(c.clone()), zone_name, Bounds::default())
                .map_err(|e| err(format!("crons[{i}]"), e.to_string()))?;
            compiled.push(s);
        }
        Ok(Exclusion {
            tz: zone.tz,
            dates: days,
            ranges: spans,
            crons: compiled,
        })
    }

    /// Whether local day `date` is excluded.
    pub fn excludes_day(&self, date: NaiveDate) -> bool {
        if self.dates.contains(&date) || self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&date))
        {
            return true;
        }
        if self.crons.is_empty() {
            return false;
        }
        let start = day_start(self.tz, date);
        let Some(end) = date
            .checked_add_days(Days::new(1))
            .map(|d| day_start(self.tz, d))
        else {
            return false;
        };
        let before = start - chrono::TimeDelta::nanoseconds(1);
        self.crons
            .iter()
            .any(|c| c.next_after(before, 0).is_some_and(|t| t < end))
    }

    /// When `t` falls on an excluded local day: the start of the next
    /// local day (the first instant a fire could be allowed again).
    pub fn excluded_until(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let date = t.with_timezone(&self.tz).date_naive();
        if !self.excludes_day(date) {
            return None;
        }
        date.checked_add_days(Days::new(1))
            .map(|d| day_start(self.tz, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a time")
            .with_timezone(&Utc)
    }

    fn berlin_holidays() -> Exclusion {
        Exclusion::compile(
            "Europe/Berlin",
            &["2026-12-25".into()],
            &[("2026-12-31".into(), "2027-01-02".into())],
            &["0 0 * * 6,0".into()],
        )
        .expect("compiles")
    }

    #[test]
    fn christmas_ranges_and_weekends_are_excluded_in_their_zone() {
        let x = berlin_holidays();
        let day = |s: &str| parse_date(s).expect("a date");
        assert!(x.excludes_day(day("2026-12-25")), "the date");
        assert!(x.excludes_day(day("2026-12-31")) && x.excludes_day(day("2027-01-02")));
        assert!(x.excludes_day(day("2026-12-26")), "a Saturday");
        assert!(x.excludes_day(day("2026-12-27")), "a Sunday");
        assert!(!x.excludes_day(day("2026-12-28")), "a Monday");
        assert!(
            !x.excludes_day(day("2026-12-24")),
            "Christmas Eve, a Thursday"
        );
        // 2026-12-24T23:30Z is already Christmas in Berlin.
        assert_eq!(
            x.excluded_until(utc("2026-12-24T23:30:00Z")),
            Some(utc("2026-12-25T23:00:00Z"))
        );
        assert_eq!(x.excluded_until(utc("2026-12-24T22:30:00Z")), None);
    }

    #[test]
    fn days_follow_the_zone_across_a_dst_change() {
        // Berlin leaves summer time on 2026-10-25 (a Sunday, 25 hours).
        let x = berlin_holidays();
        assert_eq!(
            x.excluded_until(utc("2026-10-24T22:30:00Z")),
            Some(utc("2026-10-25T23:00:00Z")),
            "Sunday 00:30 CEST is excluded until Monday 00:00 CET"
        );
        assert_eq!(
            x.excluded_until(utc("2026-10-25T23:00:00Z")),
            None,
            "Monday 00:00 CET is not"
        );
    }

    #[test]
    fn bad_entries_name_their_field() {
        let e = Exclusion::compile("Mars/Olympus", &[], &[], &[]).expect_err("zone");
        assert_eq!(e.field, "time_zone");
        let e = Exclusion::compile("", &["2026-02-30".into()], &[], &[]).expect_err("date");
        assert_eq!(e.field, "dates[0]");
        let e = Exclusion::compile("", &[], &[("2026-02-03".into(), "2026-02-01".into())], &[])
            .expect_err("range");
        assert_eq!(e.field, "ranges[0]");
        let e = Exclusion::compile("", &[], &[], &["61 * * * *".into()]).expect_err("cron");
        assert_eq!(e.field, "crons[0]");
    }
}
