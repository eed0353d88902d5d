//! Harness over real `schedulerd` processes: start, kill, restart, poll
//! cluster status. Used by the cluster tests, the benchmarks and (issue 6)
//! the chaos runs.

pub mod harness;
pub mod steal;
