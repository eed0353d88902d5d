//! Harness over real `schedulerd` processes: start, kill, restart, poll
//! cluster status. Used by the cluster tests, the benchmarks and (issue 6)
//! the chaos runs; and a fencing-aware HTTP sink.

pub mod harness;
pub mod sink;
pub mod steal;
