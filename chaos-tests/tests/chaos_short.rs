//! The short chaos profile (issue 6): 80 seeded seconds of faults (kill
//! the leader, partitions, SIGSTOP, whole-cluster restart, a one-way cut,
//! kill -9 of a worker, a worker stopped past its lease) on three real
//! nodes and three Rust workers under a varied workload (a third of the
//! jobs run on the workers). Safety always; liveness with
//! generous bounds. Long runs: `cargo run -p chaos-tests --release -- run`.

use std::time::Duration;

use chaos_tests::run::{Fault, RunConfig, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_chaos_run_keeps_every_guarantee() {
    let mut cfg = RunConfig::long(
        6,
        Duration::from_secs(80),
        vec![
            Fault::KillLeader,
            Fault::PartitionLeader,
            Fault::Stop,
            Fault::RestartAll,
            Fault::OneWay,
            Fault::KillWorker,
            Fault::StopWorker,
        ],
    );
    cfg.initial_jobs = 6;
    cfg.max_jobs = 12;
    cfg.quiet_secs = (3, 5);
    cfg.hold_secs = (3, 6);
    cfg.drain = Duration::from_secs(60);
    cfg.recovery_bound = Duration::from_secs(30);
    let report = run(cfg)
        .await
        .expect("the chaos run could not be carried out");
    let summary = report.summary();
    eprintln!("{summary}");
    if let Ok(dir) = std::env::var("CHAOS_REPORT_DIR") {
        let path = std::path::Path::new(&dir).join("chaos-short-report.json");
        let _ = std::fs::write(
            &path,
            serde_json::to_vec_pretty(&report).unwrap_or_default(),
        );
    }
    assert!(
        report.safety_violations().is_empty(),
        "safety violated:\n{summary}"
    );
    assert!(
        report.violations.is_empty(),
        "an occurrence went missing:\n{summary}"
    );
    assert!(
        report.liveness_failures.is_empty(),
        "liveness out of bounds:\n{summary}"
    );
    assert!(
        report.faults.len() >= 6,
        "too few faults injected:\n{summary}"
    );
    assert!(
        report.counts.expected > 20 && report.counts.accepted > 20,
        "the workload hardly ran:\n{summary}"
    );
}
