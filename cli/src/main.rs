//! clusterctl: drives the scheduler cluster.
//!
//! Global flags (`--cluster`, `-o`) are accepted before or after the
//! subcommand (DESIGN "Command-line contract"). Each subcommand lives in its
//! own module; errors go to stderr and exit non-zero.

mod schedule_cmd;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "clusterctl", version, about = "Drive the scheduler cluster")]
pub struct Cli {
    /// Cluster members to talk to (any one will do).
    #[arg(
        long,
        global = true,
        env = "CLUSTERCTL_CLUSTER",
        default_value = "127.0.0.1:7100",
        value_delimiter = ',',
        value_name = "ADDR[,ADDR...]"
    )]
    pub cluster: Vec<String>,

    /// Output format: text for people, json for scripts (alone on stdout).
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Offline schedule tools (no cluster needed).
    Schedule {
        #[command(subcommand)]
        command: schedule_cmd::ScheduleCommand,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Schedule { command } => schedule_cmd::run(command, cli.output),
    };
    if let Err(e) = result {
        eprintln!("clusterctl: {e:#}");
        std::process::exit(1);
    }
}
