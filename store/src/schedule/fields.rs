//! Bit sets for the calendar fields and the per-month day masks.
//!
//! A compiled schedule is a handful of integers: one bit per allowed second,
//! minute, hour, month and year, and a [`DaySet`] per day field. The search
//! in `pattern.rs` asks "the next allowed value at or after x" with one
//! mask-and-trailing-zeros, so it jumps field by field instead of scanning
//! time.

/// First and last year that a calendar schedule may fire in (docs/time.md,
/// "Edge cases, settled").
pub const MIN_YEAR: i32 = 1970;
pub const MAX_YEAR: i32 = 2099;

/// The lowest set bit of `mask` at or above `from`, if any.
#[inline]
pub fn next_bit64(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let m = mask & (u64::MAX << from);
    if m == 0 {
        None
    } else {
        Some(m.trailing_zeros())
    }
}

/// One bit per year 1970..=2099 (130 bits, so three words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YearSet([u64; 3]);

impl YearSet {
    pub const fn empty() -> Self {
        YearSet([0; 3])
    }

    pub fn all() -> Self {
        let mut s = Self::empty();
        for y in MIN_YEAR..=MAX_YEAR {
            s.insert(y);
        }
        s
    }

    pub fn insert(&mut self, year: i32) {
        if (MIN_YEAR..=MAX_YEAR).contains(&year) {
            let i = (year - MIN_YEAR) as usize;
            self.0[i / 64] |= 1 << (i % 64);
        }
    }

    pub fn contains(&self, year: i32) -> bool {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return false;
        }
        let i = (year - MIN_YEAR) as usize;
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    /// The first year in the set at or after `from`.
    pub fn next(&self, from: i32) -> Option<i32> {
        let from = from.max(MIN_YEAR);
        if from > MAX_YEAR {
            return None;
        }
        let mut i = (from - MIN_YEAR) as u32;
        while i < 192 {
            let word = (i / 64) as usize;
            if let Some(b) = next_bit64(self.0[word], i % 64) {
                let y = MIN_YEAR + (word as i32) * 64 + b as i32;
                return (y <= MAX_YEAR).then_some(y);
            }
            i = (word as u32 + 1) * 64;
        }
        None
    }
}

/// Bit for "the last occurrence in the month" in [`DaySet::nth`].
pub const NTH_LAST: u8 = 1 << 5;

/// The days that one day field selects, in a form that does not depend on
/// the month: explicit days of the month, "last day", weekdays, and
/// "n-th / last weekday w of the month".
///
/// Weekdays are numbered 0 = Sunday .. 6 = Saturday internally, whatever
/// the input syntax used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaySet {
    /// Bit d (1..=31) set: day d of the month.
    pub dom: u32,
    /// The last day of the month (`L`, `last`).
    pub last_day: bool,
    /// Bit w (0..=6) set: every weekday w.
    pub weekdays: u8,
    /// `nth[w]` bit n-1 (n = 1..=5): the n-th weekday w of the month;
    /// [`NTH_LAST`]: the last weekday w of the month.
    pub nth: [u8; 7],
}

/// Bits 1..=dim set.
#[inline]
pub fn month_days_mask(dim: u32) -> u32 {
    (((1u64 << (dim + 1)) - 2) & 0xFFFF_FFFF) as u32
}

/// Days 1, 8, 15, 22, 29 (bit positions 0, 7, ... shifted by the caller).
const EVERY_7: u64 = 1 | 1 << 7 | 1 << 14 | 1 << 21 | 1 << 28;

impl DaySet {
    /// The days of a month with `dim` days whose first day is weekday
    /// `first_wd` (0 = Sunday) that this set selects, as bits 1..=dim.
    #[inline]
    pub fn month_mask(&self, dim: u32, first_wd: u32) -> u32 {
        let full = month_days_mask(dim);
        let mut m = (self.dom & full) as u64;
        if self.last_day {
            m |= 1 << dim;
        }
        if self.weekdays != 0 {
            // Day 1+k has weekday (first_wd + k) % 7: one shifted comb per
            // selected weekday instead of a loop over 31 days.
            for k in 0..7u32 {
                if self.weekdays & (1 << ((first_wd + k) % 7)) != 0 {
                    m |= EVERY_7 << (k + 1);
                }
            }
        }
        for (w, &nth) in self.nth.iter().enumerate() {
            if nth == 0 {
                continue;
            }
            let first = 1 + (w as u32 + 7 - first_wd) % 7;
            for n in 0..5u32 {
                if nth & (1 << n) != 0 {
                    let d = first + 7 * n;
                    if d <= dim {
                        m |= 1 << d;
                    }
                }
            }
            if nth & NTH_LAST != 0 {
                m |= 1 << (first + 7 * ((dim - first) / 7));
            }
        }
        (m as u32) & full
    }
}

/// Days in a month of the proleptic Gregorian calendar.
#[inline]
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
#[inline]
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The civil date of a day count since 1970-01-01.
#[inline]
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

/// Weekday (0 = Sunday) of a day count since 1970-01-01 (a Thursday).
#[inline]
pub fn weekday_of_days(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(weekday_of_days(days_from_civil(2026, 3, 8)), 0); // a Sunday
    }

    #[test]
    fn year_set_next() {
        let mut s = YearSet::empty();
        s.insert(2000);
        s.insert(2099);
        assert_eq!(s.next(1900), Some(2000));
        assert_eq!(s.next(2001), Some(2099));
        assert_eq!(s.next(2100), None);
        assert!(YearSet::all().contains(2099));
    }

    #[test]
    fn last_and_nth_weekday() {
        // March 2026: 31 days, starts on a Sunday.
        let mut s = DaySet::default();
        s.nth[5] = NTH_LAST | 1; // last and first Friday
        let m = s.month_mask(31, 0);
        assert_eq!(m, 1 << 27 | 1 << 6);
        let weekdays = DaySet {
            weekdays: 1 << 1,
            ..Default::default()
        };
        // Mondays of March 2026: 2, 9, 16, 23, 30.
        assert_eq!(
            weekdays.month_mask(31, 0),
            1 << 2 | 1 << 9 | 1 << 16 | 1 << 23 | 1 << 30
        );
    }
}
