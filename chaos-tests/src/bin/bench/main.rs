//! Benchmarks over real `schedulerd` processes (issue 8). Each scenario
//! prints JSON lines on stdout (progress goes to stderr); BENCHMARKS.md
//! records them with the command. Figures, not tests: nothing here fails
//! because the machine is slow.
//!
//! ```text
//! cargo run -p chaos-tests --release --bin bench -- lateness [--jobs 1000,10000] [--secs 60]
//! cargo run -p chaos-tests --release --bin bench -- burst [--jobs 1000] [--rounds 1]
//! cargo run -p chaos-tests --release --bin bench -- throughput [--steps 1000,2000,5000,10000] [--secs 20]
//! cargo run -p chaos-tests --release --bin bench -- registration [--secs 10]
//! cargo run -p chaos-tests --release --bin bench -- failover [--kills 10] [--load 1000]
//! cargo run -p chaos-tests --release --bin bench -- scale [--jobs 1000000]
//! cargo run -p chaos-tests --release --bin bench -- api [--jobs 100000] [--runs-per-job 10]
//! ```
//!
//! `schedulerd` is taken from beside this binary (or `$SCHEDULERD_BIN`);
//! the bench builds it if missing.

mod api;
mod burst;
mod cluster;
mod deliveries;
mod failover;
mod jobs;
mod lateness;
mod ledger;
mod poll;
mod procfs;
mod registration;
mod scale;
mod stats;
mod throughput;
mod time;
mod window;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Benchmarks over real schedulerd processes; one JSON line per figure set"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Lateness of every-second HTTP jobs at a local sink.
    Lateness(lateness::Args),
    /// Lateness of many jobs due on the same second.
    Burst(burst::Args),
    /// The highest sustained fires/s with exactly-once checked.
    Throughput(throughput::Args),
    /// Job creates per second through the public API.
    Registration(registration::Args),
    /// kill -9 of the leader: election, write gap, and firing under load.
    Failover(failover::Args),
    /// A million mostly-daily jobs: memory, disk, first fire, join.
    Scale(scale::Args),
    /// HTTP API and dashboard answer times over a large history.
    Api(api::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().scenario {
        Scenario::Lateness(a) => lateness::run(a).await,
        Scenario::Burst(a) => burst::run(a).await,
        Scenario::Throughput(a) => throughput::run(a).await,
        Scenario::Registration(a) => registration::run(a).await,
        Scenario::Failover(a) => failover::run(a).await,
        Scenario::Scale(a) => scale::run(a).await,
        Scenario::Api(a) => api::run(a).await,
    }
}
