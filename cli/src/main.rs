//! clusterctl: drives the scheduler cluster.

mod acl_cmd;
mod calendar_cmd;
mod certs;
mod client;
mod cluster_cmd;
mod dev;
mod job_cmd;
mod ledger;
mod schedule_cmd;
mod verify_cmd;
mod workers_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// JSON on stdout, alone.
    Json,
    /// JSON lines (`runs export`); elsewhere the same as json.
    Jsonl,
}

/// Drives the scheduler cluster.
#[derive(Parser, Debug)]
#[command(name = "clusterctl", version, about)]
struct Cli {
    /// Cluster members to talk to (any member will do).
    #[arg(
        long,
        global = true,
        env = "CLUSTERCTL_CLUSTER",
        default_value = "127.0.0.1:7100"
    )]
    cluster: String,
    /// A token (see `clusterctl acl bootstrap`, `token create`). Prefer the
    /// environment variable: a flag shows in the process list.
    #[arg(long, global = true, env = "CLUSTERCTL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Talk TLS, trusting this CA certificate (`ca.pem` of `clusterctl certs`).
    #[arg(long, global = true, env = "CLUSTERCTL_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// A client certificate naming a user (with --tls-key), instead of a token.
    #[arg(long, global = true, env = "CLUSTERCTL_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The client certificate's key.
    #[arg(long, global = true, env = "CLUSTERCTL_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        global = true,
        value_enum,
        default_value = "text"
    )]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size difference between variants is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Offline schedule tools (no cluster needed).
    Schedule {
        #[command(subcommand)]
        command: schedule_cmd::ScheduleCommand,
    },
    /// Run a local cluster in the foreground; Ctrl-C stops it.
    Dev {
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        /// Where the nodes keep their data (default: a dir under the system temp dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// First node's port; the others follow.
        #[arg(long, default_value_t = 7100)]
        port: u16,
        /// Enable the shell executor on every node.
        #[arg(long)]
        enable_shell_executor: bool,
        /// TLS between everyone (a CA and node certificates made in the data
        /// dir) and a bootstrapped ACL; prints how to use it.
        #[arg(long)]
        secure: bool,
    },
    /// Members, leader, term, log and applied index, lag, health.
    Status,
    /// The ACL: `acl bootstrap` makes the first admin token, once.
    Acl {
        #[command(subcommand)]
        command: acl_cmd::AclCommand,
    },
    /// Create a cluster CA and node or client certificates.
    #[command(subcommand)]
    Certs(certs::CertsCmd),
    /// Exclusion calendars: days (dates, ranges, cron days) in a zone on
    /// which the jobs that name them do not fire.
    Calendar {
        #[command(subcommand)]
        command: calendar_cmd::CalendarCommand,
    },
    /// Tokens with roles (admin only): create, list, revoke.
    Token {
        #[command(subcommand)]
        command: acl_cmd::TokenCommand,
    },
    /// Add a node: learner, catch up, voter.
    Join {
        /// The new node's id.
        #[arg(long)]
        id: u64,
        /// The new node's address, HOST:PORT.
        #[arg(long)]
        addr: String,
    },
    /// Remove a node from the membership.
    Leave {
        /// The node's id.
        #[arg(long)]
        id: u64,
    },
    /// Register, list, change, pause, resume, delete or run jobs.
    Job {
        #[command(subcommand)]
        command: job_cmd::JobCommand,
    },
    /// Runs (occurrences with their latest attempt).
    #[command(args_conflicts_with_subcommands = true)]
    Runs {
        /// `export`: every occurrence with its attempts, as JSON lines.
        #[command(subcommand)]
        export: Option<RunsCommand>,
        /// Only this job's runs.
        job_id: Option<String>,
        /// Only runs scheduled at or after this instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only runs in this state.
        #[arg(long)]
        state: Option<String>,
    },
    /// Check an exported ledger: `ledger verify FILE` (no cluster needed).
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Worker processes connected to any member: node, id, queues, functions, slots, in flight.
    Workers,
    /// A live self-check: probe jobs post to a sink inside clusterctl for
    /// --duration; exactly once, lateness, leader changes. Exit 0 only when all is well.
    Verify(verify_cmd::VerifyArgs),
    /// Events as they happen (not stored; --follow keeps watching).
    Events {
        /// Keep watching until Ctrl-C.
        #[arg(long)]
        follow: bool,
        /// Without --follow: how long to listen, in seconds.
        #[arg(long, default_value_t = 2)]
        wait: u64,
    },
}

/// `clusterctl runs ...` subcommands.
#[derive(Subcommand, Debug)]
enum RunsCommand {
    /// Every occurrence (with all its attempts) and the jobs' schedules,
    /// as JSON lines, for `clusterctl ledger verify` or an auditor.
    Export {
        /// Only this job.
        job_id: Option<String>,
        /// Only occurrences scheduled at or after this (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only occurrences scheduled at or before this (RFC 3339); default now.
        #[arg(long)]
        until: Option<String>,
    },
}

/// `clusterctl ledger ...` subcommands.
#[derive(Subcommand, Debug)]
enum LedgerCommand {
    /// Check an exported ledger against itself and the schedule engine.
    Verify {
        /// The file `clusterctl runs export` wrote.
        file: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    // The dev cluster's nodes run in this process; their shell-job reaper
    // is this binary too.
    node::executor::reaper::serve_if_asked();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,openraft=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clusterctl: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Offline commands need no runtime and no cluster.
    if let Command::Schedule { command } = &cli.command {
        return schedule_cmd::run(command, cli.output);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let token = cli.token.clone();
        let (ca, cert, key) = (
            cli.tls_ca.clone(),
            cli.tls_cert.clone(),
            cli.tls_key.clone(),
        );
        let cluster = || {
            client::Cluster::parse(&cli.cluster)?
                .with_token(token.as_deref())?
                .with_tls(ca.as_deref(), cert.as_deref().zip(key.as_deref()))
        };
        match cli.command {
            Command::Dev {
                nodes,
                data_dir,
                port,
                enable_shell_executor,
                secure,
            } => dev::run(nodes, data_dir, port, enable_shell_executor, secure).await,
            Command::Status => cluster_cmd::status(&cluster()?, cli.output).await,
            Command::Certs(cmd) => certs::run(cmd),
            Command::Acl { command } => acl_cmd::acl(&cluster()?, command, cli.output).await,
            Command::Token { command } => acl_cmd::token(&cluster()?, command, cli.output).await,
            Command::Calendar { command } => {
                calendar_cmd::run(&cluster()?, command, cli.output).await
            }
            Command::Join { id, addr } => {
                cluster_cmd::join(&cluster()?, id, addr, cli.output).await
            }
            Command::Leave { id } => cluster_cmd::leave(&cluster()?, id, cli.output).await,
            Command::Job { command } => job_cmd::run(&cluster()?, command, cli.output).await,
            Command::Runs {
                export:
                    Some(RunsCommand::Export {
                        job_id,
                        since,
                        until,
                    }),
                ..
            } => {
                let ts = |flag: &str, t: Option<String>| {
                    t.map(|t| {
                        chrono::DateTime::parse_from_rfc3339(&t)
                            .map(|d| proto::time::timestamp(d.timestamp_millis()))
                            .map_err(|e| anyhow::anyhow!("{flag}: {t:?} is not RFC 3339: {e}"))
                    })
                    .transpose()
                };
                let (since, until) = (ts("--since", since)?, ts("--until", until)?);
                ledger::export(&cluster()?, job_id, since, until).await
            }
            Command::Runs {
                export: None,
                job_id,
                since,
                state,
            } => job_cmd::runs(&cluster()?, job_id, since, state, cli.output).await,
            Command::Ledger {
                command: LedgerCommand::Verify { file },
            } => match ledger::verify(&file) {
                Ok(true) => Ok(()),
                Ok(false) => Err(anyhow::anyhow!("ledger verify: violations found")),
                Err(e) => Err(e),
            },
            Command::Events { follow, wait } => {
                job_cmd::events(
                    &cluster()?,
                    follow,
                    std::time::Duration::from_secs(wait),
                    cli.output,
                )
                .await
            }
            Command::Workers => workers_cmd::list(&cluster()?, cli.output).await,
            Command::Verify(args) => match verify_cmd::run(&cluster()?, args, cli.output).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(anyhow::anyhow!("verify: the cluster did not pass")),
                Err(e) => Err(e),
            },
            Command::Schedule { .. } => Ok(()),
        }
    })
}
