//! A fuzz driver that runs on the stable toolchain (cargo-fuzz needs
//! nightly). It feeds `store::schedule::fuzzing::fuzz_one` (the same body as
//! the cargo-fuzz target) with random inputs built from schedule tokens and
//! random bytes, and flags any input slower than a hang threshold.
//!
//! Quick run (part of the suite): a few thousand inputs.
//! Long run:  FUZZ_SECS=300 cargo test --release -p store --test schedule_fuzz -- --ignored --nocapture

use std::time::{Duration, Instant};

use store::schedule::fuzzing::fuzz_one;

const TOKENS: &[&str] = &[
    "*",
    "?",
    "/",
    "-",
    ",",
    " ",
    "  ",
    "#",
    "L",
    "l",
    "W",
    "0",
    "1",
    "2",
    "5",
    "7",
    "12",
    "13",
    "23",
    "29",
    "30",
    "31",
    "32",
    "59",
    "60",
    "99",
    "1970",
    "2099",
    "2100",
    "4294967296",
    "MON",
    "fri",
    "SUN",
    "jan",
    "DEC",
    "5L",
    "L5",
    "5#3",
    "FRI#L",
    "#6",
    "@hourly",
    "@daily",
    "@every",
    "@at",
    "@reboot",
    "every",
    "to",
    "at",
    "until",
    "seconds",
    "minute",
    "hours",
    "day",
    "days",
    "week",
    "monday",
    "wednesday",
    ":17",
    "42:00",
    "10:30",
    "13:15:00",
    "25:61",
    "2030-01-01",
    "18:30",
    "2026-12-01T10:00:00Z",
    "1h30m",
    "10s",
    "300ms",
    "1.5h",
    "0s",
    "last",
    "last fri",
    "3rd fri",
    "5th",
    "|",
    "\u{0}",
    "é",
    "\u{1F600}",
    "\t",
    "\n",
];

/// xorshift64*: a deterministic generator, no dependency needed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Items that are valid in some field, to get past the first error often.
const ITEMS: &[&str] = &[
    "*", "*/5", "*/15", "0", "1", "2", "3", "5", "10", "15", "30", "1-5", "0-23/2", "MON-FRI",
    "SUN", "7", "L", "5L", "L5", "5#3", "FRI#L", "jan-mar", "?", "29", "31", "2,4,6", "1970",
    "2099", "12", "*/10", "last", "last fri", "3rd fri", "0/20",
];

fn structured(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 | 1 => {
            let n = [5, 6, 7][rng.below(3)];
            (0..n)
                .map(|_| {
                    let k = 1 + rng.below(2);
                    (0..k)
                        .map(|_| ITEMS[rng.below(ITEMS.len())])
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect::<Vec<_>>()
                .join(" ")
        }
        2 => {
            let units = [
                "seconds", "minutes", "hours", "days", "minute", "hour", "day", "monday", "friday",
            ];
            let mut s = format!(
                "every {} {}",
                1 + rng.below(30),
                units[rng.below(units.len())]
            );
            match rng.below(4) {
                0 => s = format!("every {}", units[rng.below(units.len())]),
                1 => s.push_str(&format!(" to {}", 1 + rng.below(60))),
                _ => {}
            }
            if rng.below(2) == 0 {
                let ats = [":17", "42:00", "10:30", "13:15:00", ":05", "25:00"];
                s.push_str(&format!(" at {}", ats[rng.below(ats.len())]));
            }
            if rng.below(3) == 0 {
                s.push_str(&format!(
                    " until {}-0{}-1{} 18:30",
                    1970 + rng.below(140),
                    1 + rng.below(9),
                    rng.below(10)
                ));
            }
            s
        }
        _ => (0..8)
            .map(|_| {
                if rng.below(2) == 0 {
                    ""
                } else {
                    ITEMS[rng.below(ITEMS.len())]
                }
            })
            .collect::<Vec<_>>()
            .join("|"),
    }
}

fn input(rng: &mut Rng) -> Vec<u8> {
    let mut v = vec![rng.next() as u8];
    if rng.below(2) == 0 {
        v.extend_from_slice(structured(rng).as_bytes());
        // Sometimes damage it.
        if rng.below(3) == 0 && v.len() > 1 {
            let i = 1 + rng.below(v.len() - 1);
            v[i] = TOKENS[rng.below(TOKENS.len())]
                .as_bytes()
                .first()
                .copied()
                .unwrap_or(b' ');
        }
        return v;
    }
    let parts = 1 + rng.below(12);
    for _ in 0..parts {
        match rng.below(10) {
            0 => {
                for _ in 0..rng.below(8) {
                    v.push(rng.next() as u8);
                }
            }
            1 => v.extend_from_slice(format!("{}", rng.next() % 3000).as_bytes()),
            _ => v.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes()),
        }
    }
    v
}

fn run(budget: Duration, max_iters: u64, seed: u64) -> (u64, u64, Duration) {
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let mut iters = 0;
    let mut slowest = Duration::ZERO;
    let mut accepted = 0;
    let mut slowest_input = String::new();
    while iters < max_iters && start.elapsed() < budget {
        let data = input(&mut rng);
        let t0 = Instant::now();
        if fuzz_one(&data) > 0 {
            accepted += 1;
        }
        let took = t0.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "possible hang: {took:?} on {:?}",
            String::from_utf8_lossy(&data)
        );
        if took > slowest {
            slowest = took;
            slowest_input = String::from_utf8_lossy(&data).into_owned();
        }
        iters += 1;
    }
    if std::env::var_os("FUZZ_VERBOSE").is_some() {
        println!("slowest input: {slowest_input:?}");
    }
    (iters, accepted, slowest)
}

#[test]
fn fuzz_quick() {
    let (iters, _, _) = run(Duration::from_secs(20), 3_000, 0x5eed);
    assert!(iters > 0);
}

#[test]
#[ignore = "long fuzz run; set FUZZ_SECS"]
fn fuzz_long() {
    let secs: u64 = std::env::var("FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xC0FFEE);
    let (iters, accepted, slowest) = run(Duration::from_secs(secs), u64::MAX, seed);
    println!(
        "fuzz_long: {iters} inputs in {secs}s ({accepted} accepted by at least one parser), slowest {slowest:?}, no panic"
    );
}

/// Inputs that were the slowest in past fuzz runs, with every control byte
/// (zone and start point): each must stay far below the hang threshold.
#[test]
fn past_slowest_inputs_stay_fast() {
    for text in [
        "||31|29|MON-FRI|2,4,6||*/10",
        "2052",
        "327\nlast",
        "0 0 0 29 2 ? 2096",
    ] {
        for ctl in 0..=255u8 {
            let mut data = vec![ctl];
            data.extend_from_slice(text.as_bytes());
            let t0 = Instant::now();
            fuzz_one(&data);
            let took = t0.elapsed();
            assert!(
                took < Duration::from_millis(500),
                "{text:?} ctl {ctl}: {took:?}"
            );
        }
    }
}
