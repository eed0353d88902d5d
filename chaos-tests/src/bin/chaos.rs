//! Chaos runs over real `schedulerd` processes.
//!
//! ```text
//! cargo run -p chaos-tests --release -- run --duration 30m --faults all --seed 7
//! ```
//!
//! Prints a human summary, writes the JSON report (`--report`, default
//! `chaos-report-<seed>.json` in the current dir) and exits non-zero when
//! the checker found a violation or liveness failed its bounds.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chaos_tests::run::{Fault, RunConfig, run};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chaos",
    about = "Fault injection and an exactly-once checker over real schedulerd nodes"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One chaos run.
    Run {
        /// How long faults and the workload go on: 90s, 30m, 1h.
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        duration: Duration,
        /// `all`, `none`, or a comma-separated list: kill, kill-leader,
        /// stop, restart, restart-all, partition, partition-leader,
        /// blackhole, one-way, delay, skew, disk-full, kill-worker,
        /// stop-worker.
        #[arg(long, default_value = "all", value_parser = Fault::parse_list)]
        faults: std::vec::Vec<Fault>,
        /// Seed of the jobs, requests and faults; random when not given.
        #[arg(long)]
        seed: Option<u64>,
        /// Cluster size.
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        /// Where the JSON report goes.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Where node data and logs go (default: a temp dir, kept if the run fails).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Creates stop at this many live jobs.
        #[arg(long, default_value_t = 30)]
        max_jobs: usize,
        /// TLS everywhere and the ACL on (certificates made for the run).
        #[arg(long)]
        secure: bool,
    },
}

/// `90s`, `30m`, `1h`, `1h30m`, `500ms` (Go durations, as schedules take them).
fn parse_duration(s: &str) -> Result<Duration, String> {
    store::schedule::parse_go_duration(s).map(Duration::from_millis)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "chaos_tests=info,chaos=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Cli {
        cmd:
            Cmd::Run {
                duration,
                faults,
                seed,
                nodes,
                report,
                work_dir,
                max_jobs,
                secure,
            },
    } = Cli::parse();
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let mut cfg = RunConfig::long(seed, duration, faults);
    anyhow::ensure!(nodes >= 3, "--nodes: at least 3 (faults take one node out)");
    cfg.nodes = nodes;
    cfg.max_jobs = max_jobs;
    cfg.work_dir = work_dir;
    cfg.secure = secure;
    eprintln!("chaos: seed {seed}, {duration:?}, faults {:?}", cfg.faults);
    let rep = run(cfg).await.context("chaos run")?;
    let path = report.unwrap_or_else(|| PathBuf::from(format!("chaos-report-{seed}.json")));
    std::fs::write(&path, serde_json::to_vec_pretty(&rep)?)
        .with_context(|| format!("writing {}", path.display()))?;
    print!("{}", rep.summary());
    println!("  report: {}", path.display());
    if !rep.passed {
        std::process::exit(1);
    }
    Ok(())
}
