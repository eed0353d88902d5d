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
    "*", "?", "/", "-", ",", " ", "  ", "#", "L", "l", "W", "0", "1", "2", "5", "7", "12", "13",
    "23", "29", "30", "31", "32", "59", "60", "99", "1970", "2099", "2100", "4294967296", "MON",
    "fri", "SUN", "jan", "DEC", "5L", "L5", "5#3", "FRI#L", "#6", "@hourly", "@daily", "@every",
    "@at", "@reboot", "every", "to", "at", "until", "seconds", "minute", "hours", "day", "days",
    "week", "monday", "wednesday", ":17", "42:00", "10:30", "13:15:00", "25:61", "2030-01-01",
    "18:30", "2026-12-01T10:00:00Z", "1h30m", "10s", "300ms", "1.5h", "0s", "last", "last fri",
    "3rd fri", "5th", "|", "\u{0}", "é", "\u{1F600}", "\t", "\n",
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

fn input(rng: &mut Rng) -> Vec<u8> {
    let mut v = vec![rng.next() as u8];
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

fn run(budget: Duration, max_iters: u64, seed: u64) -> (u64, Duration) {
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let mut iters = 0;
    let mut slowest = Duration::ZERO;
    while iters < max_iters && start.elapsed() < budget {
        let data = input(&mut rng);
        let t0 = Instant::now();
        fuzz_one(&data);
        let took = t0.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "possible hang: {took:?} on {:?}",
            String::from_utf8_lossy(&data)
        );
        slowest = slowest.max(took);
        iters += 1;
    }
    (iters, slowest)
}

#[test]
fn fuzz_quick() {
    let (iters, _) = run(Duration::from_secs(20), 3_000, 0x5eed);
    assert!(iters > 0);
}

#[test]
#[ignore = "long fuzz run; set FUZZ_SECS"]
fn fuzz_long() {
    let secs: u64 = std::env::var("FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xC0FFEE);
    let (iters, slowest) = run(Duration::from_secs(secs), u64::MAX, seed);
    println!("fuzz_long: {iters} inputs in {secs}s, slowest {slowest:?}, no panic");
}
