//! Fuzz every schedule parser (cron, phrase, auto-detect, calendar fields)
//! and the next-fire search of whatever they accept: no panic, no hang,
//! strictly increasing fire times.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    store::schedule::fuzzing::fuzz_one(data);
});
