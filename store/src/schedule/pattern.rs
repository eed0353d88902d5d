//! A compiled calendar pattern over local wall-clock times, and the search
//! for the first matching wall time at or after a given one.
//!
//! Both cron strings and APScheduler-style calendar fields compile to a
//! [`Pattern`]. It knows nothing of time zones: `tz.rs` maps the wall times
//! it yields to instants under the DST rules.
//!
//! Wall times are `i64` seconds since 1970-01-01T00:00:00 *as if the wall
//! clock were UTC*, which keeps the search free of allocation and of chrono.

use super::fields::{
    DaySet, MAX_YEAR, MIN_YEAR, YearSet, civil_from_days, days_from_civil, days_in_month,
    month_days_mask, next_bit64, weekday_of_days,
};

/// How the two day fields combine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DayRule {
    /// Vixie cron: when both fields are restricted a day matches if either
    /// does; when one is, that one decides; when neither is, every day.
    Cron {
        dom: DaySet,
        dom_restricted: bool,
        dow: DaySet,
        dow_restricted: bool,
    },
    /// APScheduler CronTrigger: every field must match (`None` = any).
    Calendar {
        day: Option<DaySet>,
        dow: Option<DaySet>,
        /// ISO weeks 1..=53 (bit w).
        weeks: Option<u64>,
    },
}

/// The compiled matcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub seconds: u64,
    pub minutes: u64,
    pub hours: u64,
    /// Bits 1..=12.
    pub months: u64,
    pub years: YearSet,
    pub days: DayRule,
    /// The hour field is a lone `*` (docs/time.md, rule 2 and "Edge cases,
    /// settled"): on a fall-back day the repeated wall times fire at both
    /// instants.
    pub hour_wildcard: bool,
}

/// Split wall seconds into civil fields.
#[inline]
pub fn split_wall(w: i64) -> (i32, u32, u32, u32, u32, u32) {
    let days = w.div_euclid(86_400);
    let secs = w.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    (y, m, d, secs / 3600, secs / 60 % 60, secs % 60)
}

#[inline]
pub fn join_wall(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    days_from_civil(y, m, d) * 86_400 + (h * 3600 + mi * 60 + s) as i64
}

impl Pattern {
    /// The days of (`year`, `month`) that the day fields select (bits 1..=31).
    pub fn day_mask(&self, year: i32, month: u32) -> u32 {
        let dim = days_in_month(year, month);
        let first_days = days_from_civil(year, month, 1);
        let first_wd = weekday_of_days(first_days);
        match &self.days {
            DayRule::Cron {
                dom,
                dom_restricted,
                dow,
                dow_restricted,
            } => match (dom_restricted, dow_restricted) {
                (true, true) => dom.month_mask(dim, first_wd) | dow.month_mask(dim, first_wd),
                (true, false) => dom.month_mask(dim, first_wd),
                (false, true) => dow.month_mask(dim, first_wd),
                (false, false) => month_days_mask(dim),
            },
            DayRule::Calendar { day, dow, weeks } => {
                let mut m = month_days_mask(dim);
                if let Some(day) = day {
                    m &= day.month_mask(dim, first_wd);
                }
                if let Some(dow) = dow {
                    m &= dow.month_mask(dim, first_wd);
                }
                if let Some(weeks) = weeks {
                    let mut keep = 0u32;
                    for d in 1..=dim {
                        if m & (1 << d) != 0 {
                            let w = iso_week(year, month, d);
                            if weeks & (1u64 << w) != 0 {
                                keep |= 1 << d;
                            }
                        }
                    }
                    m = keep;
                }
                m
            }
        }
    }

    /// Whether any day in 1970..=2099 matches (docs/time.md, rule 4). The
    /// time of day fields are never empty, so a matching day is enough.
    pub fn can_fire(&self) -> bool {
        let mut y = MIN_YEAR;
        while let Some(year) = self.years.next(y) {
            for month in 1..=12u32 {
                if self.months & (1 << month) != 0 && self.day_mask(year, month) != 0 {
                    return true;
                }
            }
            y = year + 1;
        }
        false
    }

    /// Whether the wall time `w` matches (used by tests and brute force).
    #[cfg(test)]
    pub fn matches(&self, w: i64) -> bool {
        let (y, mo, d, h, mi, s) = split_wall(w);
        self.years.contains(y)
            && self.months & (1 << mo) != 0
            && self.day_mask(y, mo) & (1 << d) != 0
            && self.hours & (1 << h) != 0
            && self.minutes & (1 << mi) != 0
            && self.seconds & (1 << s) != 0
    }

    /// The first matching wall time at or after `from`, or `None` after
    /// 2099. Jumps field by field: a miss in one field advances the next
    /// larger one and resets the smaller ones to their start.
    pub fn next_match(&self, from: i64) -> Option<i64> {
        let (mut y, mut mo, mut d, mut h, mut mi, mut s) = split_wall(from);
        if y < MIN_YEAR {
            (y, mo, d, h, mi, s) = (MIN_YEAR, 1, 1, 0, 0, 0);
        }
        // The day mask of the current month, computed once per month.
        let mut mask_for: (i32, u32) = (0, 0);
        let mut mask = 0u32;
        // Each turn either returns or moves strictly forward, at most
        // 130 years * 12 months * (a few day/hour/minute carries).
        loop {
            if y > MAX_YEAR {
                return None;
            }
            if !self.years.contains(y) {
                y = self.years.next(y + 1)?;
                (mo, d, h, mi, s) = (1, 1, 0, 0, 0);
            }
            match next_bit64(self.months, mo) {
                Some(m) if m <= 12 => {
                    if m != mo {
                        (mo, d, h, mi, s) = (m, 1, 0, 0, 0);
                    }
                }
                _ => {
                    (y, mo, d, h, mi, s) = (y + 1, 1, 1, 0, 0, 0);
                    continue;
                }
            }
            if mask_for != (y, mo) {
                mask = self.day_mask(y, mo);
                mask_for = (y, mo);
            }
            match next_bit64(mask as u64, d) {
                Some(day) => {
                    if day != d {
                        (d, h, mi, s) = (day, 0, 0, 0);
                    }
                }
                None => {
                    (mo, d, h, mi, s) = (mo + 1, 1, 0, 0, 0);
                    if mo > 12 {
                        (y, mo) = (y + 1, 1);
                    }
                    continue;
                }
            }
            match next_bit64(self.hours, h) {
                Some(hour) if hour < 24 => {
                    if hour != h {
                        (h, mi, s) = (hour, 0, 0);
                    }
                }
                _ => {
                    (d, h, mi, s) = (d + 1, 0, 0, 0);
                    continue;
                }
            }
            match next_bit64(self.minutes, mi) {
                Some(minute) if minute < 60 => {
                    if minute != mi {
                        (mi, s) = (minute, 0);
                    }
                }
                _ => {
                    (h, mi, s) = (h + 1, 0, 0);
                    continue;
                }
            }
            match next_bit64(self.seconds, s) {
                Some(second) if second < 60 => {
                    return Some(join_wall(y, mo, d, h, mi, second));
                }
                _ => {
                    (mi, s) = (mi + 1, 0);
                    continue;
                }
            }
        }
    }
}

/// ISO 8601 week number (1..=53) of a civil date.
pub fn iso_week(year: i32, month: u32, day: u32) -> u32 {
    let days = days_from_civil(year, month, day);
    // ISO weekday 1 = Monday .. 7 = Sunday.
    let iso_wd = (weekday_of_days(days) + 6) % 7 + 1;
    // The Thursday of this week decides the ISO year.
    let thursday = days + 4 - iso_wd as i64;
    let (ty, _, _) = civil_from_days(thursday);
    let jan1 = days_from_civil(ty, 1, 1);
    ((thursday - jan1) / 7 + 1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate};

    #[test]
    fn iso_week_matches_chrono() {
        let mut d = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(2100, 1, 1).unwrap();
        while d < end {
            assert_eq!(
                iso_week(d.year(), d.month(), d.day()),
                d.iso_week().week(),
                "{d}"
            );
            d = d.succ_opt().unwrap();
        }
    }
}
