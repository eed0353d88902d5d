//! The outcome of a chaos run: a JSON report (seed, fault timeline,
//! counts, lateness, recoveries, every violation with its occurrence id)
//! and a human summary of it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use store::model::time::rfc3339_ms;

use crate::checker::{Counts, Lateness, Outcome, Recovery, Violation};
use crate::history::Ms;
use crate::run::RunConfig;
use crate::workload::OpLog;

/// One injected fault.
#[derive(Clone, Debug, Serialize)]
pub struct FaultEvent {
    pub at_ms: Ms,
    pub fault: &'static str,
    pub target: String,
    pub detail: String,
    /// The nodes it hit, as the checker reads them
    /// ([`FaultSpan::nodes`](crate::history::FaultSpan::nodes)).
    pub nodes: Vec<u64>,
    pub healed_at_ms: Ms,
    /// Nodes that were down at the heal and had to be started.
    pub restarted: Vec<u64>,
    /// Who led once the cluster settled (`None`: nobody within 60 s).
    pub leader_after_heal: Option<u64>,
}

/// Workload figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WorkloadSummary {
    pub requests: usize,
    pub creates: usize,
    pub updates: usize,
    pub pauses: usize,
    pub resumes: usize,
    pub deletes: usize,
    pub unknown_outcomes: usize,
    pub refused: usize,
    /// What of the scheduling features the run used.
    pub features: Features,
}

/// How much of the scheduling features a run exercised.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Features {
    /// Exclusion calendars created.
    pub calendars: usize,
    /// Jobs that name the calendar that excludes the run's days (they
    /// must never fire).
    pub jobs_excluded_today: usize,
    /// Jobs that name the calendar that excludes other days.
    pub jobs_excluded_other_days: usize,
    /// Dependent jobs created (each `after` an upstream).
    pub dependents: usize,
    /// Backfills acknowledged (some repeat a range: nothing may run twice).
    pub backfills: usize,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub seed: u64,
    pub passed: bool,
    pub config: RunConfig,
    pub started_at: String,
    pub run_end_at: String,
    pub drain_secs: f64,
    /// Node data dirs and logs (`node-N.log`); kept when the run failed.
    pub work_dir: PathBuf,
    pub faults: Vec<FaultEvent>,
    /// Faults this machine cannot inject, and why.
    pub skipped_faults: Vec<String>,
    pub workload: WorkloadSummary,
    pub counts: Counts,
    pub lateness_ms: Lateness,
    pub recoveries: Vec<Recovery>,
    /// Liveness beyond the generous bounds (no leader, firing not resumed).
    pub liveness_failures: Vec<String>,
    pub violations: Vec<Violation>,
    pub requests: Vec<OpLog>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: &RunConfig,
        started: Ms,
        run_end: Ms,
        drained: Duration,
        work_dir: PathBuf,
        faults: Vec<FaultEvent>,
        skipped_faults: Vec<String>,
        liveness_failures: Vec<String>,
        requests: Vec<OpLog>,
        outcome: Outcome,
    ) -> Report {
        let count = |op: &str| requests.iter().filter(|r| r.op == op).count();
        let workload = WorkloadSummary {
            requests: requests.len(),
            creates: count("create"),
            updates: count("update"),
            pauses: count("pause"),
            resumes: count("resume"),
            deletes: count("delete"),
            unknown_outcomes: requests
                .iter()
                .filter(|r| r.outcome.starts_with("unknown"))
                .count(),
            refused: requests
                .iter()
                .filter(|r| r.outcome.starts_with("refused"))
                .count(),
            features: Features::default(),
        };
        Report {
            seed: cfg.seed,
            passed: outcome.violations.is_empty() && liveness_failures.is_empty(),
            config: cfg.clone(),
            started_at: rfc3339_ms(started),
            run_end_at: rfc3339_ms(run_end),
            drain_secs: drained.as_secs_f64(),
            work_dir,
            faults,
            skipped_faults,
            workload,
            counts: outcome.counts,
            lateness_ms: outcome.lateness,
            recoveries: outcome.recoveries,
            liveness_failures,
            violations: outcome.violations,
            requests,
        }
    }

    /// Safety violations (everything but missing occurrences).
    pub fn safety_violations(&self) -> Vec<&Violation> {
        self.violations
            .iter()
            .filter(|v| v.kind.is_safety())
            .collect()
    }

    /// The human summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let c = &self.counts;
        let l = &self.lateness_ms;
        let opt = |v: Option<Ms>| v.map_or("-".to_string(), |v| v.to_string());
        let _ = writeln!(
            s,
            "chaos run, seed {}: {} ({} violations, {} liveness failures)",
            self.seed,
            if self.passed { "PASSED" } else { "FAILED" },
            self.violations.len(),
            self.liveness_failures.len()
        );
        let _ = writeln!(
            s,
            "  {} nodes, {:?} of faults [{}], {} -> {}, drain {:.1} s",
            self.config.nodes,
            self.config.duration,
            self.config
                .faults
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(","),
            self.started_at,
            self.run_end_at,
            self.drain_secs
        );
        let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
        for f in &self.faults {
            *kinds.entry(f.fault).or_default() += 1;
        }
        let _ = writeln!(
            s,
            "  faults injected: {} ({})",
            self.faults.len(),
            kinds
                .iter()
                .map(|(k, n)| format!("{k} x{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for why in &self.skipped_faults {
            let _ = writeln!(s, "  skipped: {why}");
        }
        let w = &self.workload;
        let _ = writeln!(
            s,
            "  workload: {} jobs, {} requests ({} creates, {} updates, {} pauses, {} resumes, {} deletes; {} unknown outcomes, {} refused)",
            c.jobs,
            w.requests,
            w.creates,
            w.updates,
            w.pauses,
            w.resumes,
            w.deletes,
            w.unknown_outcomes,
            w.refused
        );
        let f = &w.features;
        let _ = writeln!(
            s,
            "  features: {} calendars ({} jobs excluded today, {} on other days), {} dependent jobs, {} backfills",
            f.calendars,
            f.jobs_excluded_today,
            f.jobs_excluded_other_days,
            f.dependents,
            f.backfills
        );
        let _ = writeln!(
            s,
            "  sink: {} requests, {} effects accepted, {} refused as duplicates, {} as stale ({} occurrences only refused)",
            c.deliveries,
            c.accepted,
            c.refused_duplicate,
            c.refused_stale,
            c.refused_only_occurrences
        );
        let _ = writeln!(
            s,
            "  reruns explained: {} ({} re-runs, {} unexplained)",
            if c.reruns_explained.is_empty() {
                "none".to_string()
            } else {
                c.reruns_explained
                    .iter()
                    .map(|(k, n)| format!("{k} x{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            c.reruns,
            c.reruns_unexplained
        );
        let _ = writeln!(
            s,
            "  expected occurrences: {} ({} delivered, {} recorded not run, {} failed during a fault); {} not-run records in all",
            c.expected,
            c.expected_delivered,
            c.expected_recorded,
            c.expected_failed,
            c.recorded_not_run
        );
        let _ = writeln!(
            s,
            "  lateness ms (n={}): p50 {} p90 {} p99 {} p99.9 {} max {}",
            l.count,
            opt(l.p50),
            opt(l.p90),
            opt(l.p99),
            opt(l.p999),
            opt(l.max)
        );
        let mut rec: Vec<Ms> = self
            .recoveries
            .iter()
            .filter_map(|r| r.recovered_ms)
            .collect();
        rec.sort_unstable();
        let _ = writeln!(
            s,
            "  recovery after heal ms: n={} median {} max {} (never: {})",
            self.recoveries.len(),
            opt(rec.get(rec.len() / 2).copied()),
            opt(rec.last().copied()),
            self.recoveries
                .iter()
                .filter(|r| r.recovered_ms.is_none())
                .count()
        );
        let _ = writeln!(
            s,
            "  leader samples: {} over {} terms",
            c.leader_samples, c.terms_seen
        );
        for f in &self.liveness_failures {
            let _ = writeln!(s, "  LIVENESS: {f}");
        }
        for v in self.violations.iter().take(50) {
            let _ = writeln!(
                s,
                "  VIOLATION {:?} job {} occurrence {}: {}",
                v.kind,
                v.job_id,
                v.occurrence_id.as_deref().unwrap_or("-"),
                v.detail
            );
        }
        if self.violations.len() > 50 {
            let _ = writeln!(
                s,
                "  ... {} more in the JSON report",
                self.violations.len() - 50
            );
        }
        let _ = writeln!(s, "  node data and logs: {}", self.work_dir.display());
        s
    }
}
