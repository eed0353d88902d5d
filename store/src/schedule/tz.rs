//! Time zones: mapping the wall times of a [`Pattern`] to UTC instants
//! under the DST rules of docs/time.md (rules 1 to 3).
//!
//! chrono-tz does not expose its transition table, so the first time a zone
//! is used we probe its UTC offset (every 6 hours from 1969 to 2101, then
//! bisect each change to the second) and cache the table for the process.
//! The table depends only on the compiled-in tz database, so all replicas
//! build the same one. With it, the zone is a list of *segments*: UTC
//! ranges with one fixed offset, inside which wall time and UTC move
//! together. The search walks segments forward:
//!
//! - inside a segment, the first matching wall time maps to `wall - offset`;
//! - where the offset grows (spring forward), the wall times in the gap do
//!   not exist; if any of them matches, the schedule fires once at the
//!   transition instant, the first instant after the gap (rule 1). That
//!   holds whatever the fields say about the transition's own wall time;
//! - where the offset shrinks (fall back), the wall times
//!   `[transition + new, transition + old)` occur a second time. Only those
//!   (so Lord Howe's 30-minute repeat is handled exactly) are skipped in the
//!   later segment, unless the hour field is a lone `*` (rule 2).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

use super::error::ScheduleError;
use super::pattern::Pattern;

/// A zone's offsets over 1969-2101.
#[derive(Debug)]
pub struct ZoneTable {
    /// Offset (seconds east of UTC) before the first transition.
    initial: i32,
    /// (UTC second at which `offset` starts, offset).
    transitions: Vec<(i64, i32)>,
}

/// A resolved zone, cheap to clone.
#[derive(Clone, Debug)]
pub struct Zone {
    pub tz: Tz,
    table: Arc<ZoneTable>,
}

const PROBE_START: i64 = -31_536_000; // 1969-01-01
const PROBE_END: i64 = 4_133_980_800; // 2101-01-01
const PROBE_STEP: i64 = 7 * 86_400;

fn offset_at(tz: Tz, t: i64) -> i32 {
    match DateTime::from_timestamp(t, 0) {
        Some(dt) => tz
            .offset_from_utc_datetime(&dt.naive_utc())
            .fix()
            .local_minus_utc(),
        None => 0,
    }
}

fn build_table(tz: Tz, step: i64) -> ZoneTable {
    let initial = offset_at(tz, PROBE_START);
    let mut transitions = Vec::new();
    let mut prev_t = PROBE_START;
    let mut prev_off = initial;
    let mut t = PROBE_START + step;
    while t <= PROBE_END {
        let off = offset_at(tz, t);
        if off != prev_off {
            // Bisect: offset(lo) == prev_off, offset(hi) != prev_off.
            let (mut lo, mut hi) = (prev_t, t);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset_at(tz, mid) == prev_off {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let new_off = offset_at(tz, hi);
            transitions.push((hi, new_off));
            prev_off = new_off;
            // A second change inside the same probe step would be missed
            // otherwise: continue probing from just after this transition.
            prev_t = hi;
            if new_off != off {
                t = hi + 1;
                continue;
            }
        }
        prev_t = t;
        t += step;
    }
    ZoneTable {
        initial,
        transitions,
    }
}

impl Zone {
    /// Resolves an IANA zone name (case-sensitive, as chrono-tz spells it,
    /// with a case-insensitive fallback).
    pub fn new(name: &str) -> Result<Zone, ScheduleError> {
        let tz: Tz = match name.parse() {
            Ok(tz) => tz,
            Err(_) => chrono_tz::TZ_VARIANTS
                .iter()
                .find(|z| z.name().eq_ignore_ascii_case(name))
                .copied()
                .ok_or_else(|| {
                    ScheduleError::new(
                        "tz",
                        None,
                        format!(
                            "unknown time zone '{}'; use an IANA name such as UTC, Europe/Paris or America/New_York",
                            name.chars().take(64).collect::<String>()
                        ),
                    )
                })?,
        };
        static CACHE: OnceLock<Mutex<HashMap<Tz, Arc<ZoneTable>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        let mut guard = cache.lock().unwrap_or_else(|e| e.into_inner());
        let table = guard
            .entry(tz)
            .or_insert_with(|| Arc::new(build_table(tz, PROBE_STEP)))
            .clone();
        Ok(Zone { tz, table })
    }

    /// Index of the segment containing UTC second `t` (0 = before the first
    /// transition).
    #[inline]
    fn segment_of(&self, t: i64) -> usize {
        self.table
            .transitions
            .partition_point(|(start, _)| *start <= t)
    }

    #[inline]
    fn segment_offset(&self, i: usize) -> i32 {
        if i == 0 {
            self.table.initial
        } else {
            self.table.transitions[i - 1].1
        }
    }

    /// The UTC offset at UTC second `t`.
    #[cfg(test)]
    pub fn offset_at(&self, t: i64) -> i32 {
        self.segment_offset(self.segment_of(t))
    }

    /// The first fire instant (UTC seconds) at or after `lo` of `pattern`
    /// in this zone, under the DST rules (see the module comment).
    pub fn next_fire(&self, pattern: &Pattern, lo: i64) -> Option<i64> {
        let trans = &self.table.transitions;
        if trans.is_empty() {
            let off = self.table.initial as i64;
            return pattern.next_match(lo + off).map(|w| w - off);
        }
        let mut i = self.segment_of(lo);
        if i > 0 && trans[i - 1].0 == lo {
            // `lo` is exactly a transition instant: the gap before it (if
            // the clock sprang forward) collapses onto `lo` itself.
            let (at, new_off) = trans[i - 1];
            let (old, new_off) = (self.segment_offset(i - 1) as i64, new_off as i64);
            if new_off > old
                && pattern
                    .next_match(at + old)
                    .is_some_and(|w| w < at + new_off)
            {
                return Some(lo);
            }
        }
        let mut start = lo;
        // The last search result and the wall time it started from: a later
        // search from a wall time in [from, result] has the same answer.
        let mut cached: Option<(i64, i64)> = None;
        loop {
            let off = self.segment_offset(i) as i64;
            let mut wall_start = start + off;
            if i > 0 {
                let (seg_start, _) = trans[i - 1];
                let prev = self.segment_offset(i - 1) as i64;
                if prev > off && !pattern.hour_wildcard {
                    // Fall-back: these wall times already fired in the
                    // previous segment (rule 2).
                    wall_start = wall_start.max(seg_start + prev);
                }
            }
            let w = match cached {
                Some((from, w)) if from <= wall_start && wall_start <= w => w,
                _ => {
                    let w = pattern.next_match(wall_start)?;
                    cached = Some((wall_start, w));
                    w
                }
            };
            let Some(&(next_start, next_off)) = trans.get(i) else {
                return Some(w - off);
            };
            if w < next_start + off {
                return Some(w - off);
            }
            let next_off = next_off as i64;
            if next_off > off && w < next_start + next_off {
                // A matching wall time lies in the spring-forward gap
                // [next_start + off, next_start + next_off): rule 1.
                return Some(next_start);
            }
            i += 1;
            start = next_start;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_agrees_with_chrono_tz() {
        for name in [
            "America/New_York",
            "Europe/London",
            "Australia/Lord_Howe",
            "Asia/Tehran",
            "America/Santiago",
            "Pacific/Apia",
            "Africa/Casablanca",
        ] {
            let z = Zone::new(name).unwrap();
            let mut t = 0i64;
            while t < 4_102_444_800 {
                assert_eq!(z.offset_at(t), offset_at(z.tz, t), "{name} at {t}");
                t += 3 * 3600 + 17;
            }
        }
    }

    /// Every zone: the table built with the production probe step equals
    /// one built hour by hour. Slow in debug builds; run with
    /// `cargo test --release -p store --lib all_zone_tables -- --ignored`.
    #[test]
    #[ignore = "slow: probes every zone hour by hour"]
    fn all_zone_tables_match_hourly_probe() {
        let t0 = std::time::Instant::now();
        let mut bad = Vec::new();
        for tz in chrono_tz::TZ_VARIANTS {
            let fast = build_table(tz, PROBE_STEP);
            let slow = build_table(tz, 3600);
            if fast.transitions != slow.transitions || fast.initial != slow.initial {
                bad.push(tz.name());
            }
        }
        println!(
            "{} zones in {:?}",
            chrono_tz::TZ_VARIANTS.len(),
            t0.elapsed()
        );
        assert!(bad.is_empty(), "probe step misses transitions in {bad:?}");
    }

    #[test]
    fn unknown_zone_is_named() {
        let e = Zone::new("Mars/Olympus").unwrap_err();
        assert!(e.message.contains("Mars/Olympus"), "{}", e.message);
        assert_eq!(e.field, "tz");
        assert!(Zone::new("america/new_york").is_ok());
    }
}
