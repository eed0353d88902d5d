//! Next-fire computations per second for a mix of common cron strings, on
//! one thread. Prints one JSON line (medians over several runs).
//!
//!     cargo run --release -p store --example bench_schedule

use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use store::schedule::{Bounds, Schedule, ScheduleSpec};

const COMMON: &[&str] = &[
    "*/5 * * * *",
    "0 9 * * 1-5",
    "30 2 * * *",
    "0 0 1 * *",
    "*/15 9-17 * * MON-FRI",
    "0 0 * * 0",
    "@hourly",
    "0 12 13 * 5",
    "0 0 L * *",
    "0 0 * * 5#3",
];
const RUNS: usize = 7;
const PER_RUN: usize = 2_000_000;

fn measure(zone: &str) -> f64 {
    let schedules: Vec<Schedule> = COMMON
        .iter()
        .map(|c| {
            Schedule::compile(&ScheduleSpec::Cron(c.to_string()), zone, Bounds::default()).unwrap()
        })
        .collect();
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut rates = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        // Walk each schedule forward from a spread of start points, as a
        // leader rebuilding its index would, and chain next-after-next.
        let mut cursors: Vec<DateTime<Utc>> = (0..schedules.len())
            .map(|i| start + Duration::minutes(37 * i as i64))
            .collect();
        let t0 = Instant::now();
        for n in 0..PER_RUN {
            let i = n % schedules.len();
            match schedules[i].next_after(black_box(cursors[i]), 0) {
                Some(t) if t.timestamp() < 4_000_000_000 => cursors[i] = t,
                _ => cursors[i] = start,
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        black_box(&cursors);
        rates.push(PER_RUN as f64 / secs);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    rates[RUNS / 2]
}

fn main() {
    let utc = measure("UTC");
    let ny = measure("America/New_York");
    let lord_howe = measure("Australia/Lord_Howe");
    println!(
        "{{\"bench\":\"schedule_next_fire\",\"threads\":1,\"runs\":{RUNS},\"per_run\":{PER_RUN},\"schedules\":{},\"median_per_sec_utc\":{:.0},\"median_per_sec_america_new_york\":{:.0},\"median_per_sec_australia_lord_howe\":{:.0}}}",
        COMMON.len(),
        utc,
        ny,
        lord_howe
    );
}
