//! Harness over real `schedulerd` processes (start, kill, restart, poll
//! cluster status), a fencing-aware HTTP sink, and the chaos runs of
//! issue 6: proxies on every node-to-node link, faults, a workload, the
//! exactly-once checker and its report. Used by the cluster tests, the
//! benchmarks (`bench`) and the chaos runs (`chaos`, `tests/chaos_short.rs`).

pub mod binaries;
pub mod checker;
pub mod cluster;
pub mod harness;
pub mod history;
pub mod observe;
pub mod pb;
pub mod proxy;
pub mod report;
pub mod run;
pub mod secure;
pub mod sink;
pub mod steal;
pub mod worker;
pub mod workload;
