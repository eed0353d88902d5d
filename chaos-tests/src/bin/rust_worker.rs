//! A worker process in Rust, for the tests, chaos runs and benchmarks: it
//! opens a `WorkerService.Session`, runs the functions it is assigned and
//! posts each effect to a fencing sink from inside the function, with the
//! attempt's contract headers, so the sink judges the effect by its token.
//!
//! Every function sleeps `args.sleep_ms` (cancellable), then posts to
//! `--sink` (if given), then succeeds, or fails when `args.fail` is true.
//! It fences itself: with nothing heard from its node for the lease, it
//! cancels every running function. `--log FILE` records each start, effect,
//! cancel and fence as a JSON line with a Unix-ms timestamp.

use clap::Parser;

#[derive(Parser, Debug)]
struct Args {
    /// Node addresses, HOST:PORT[,HOST:PORT...]; tried in turn, the last
    /// that worked first.
    #[arg(long)]
    cluster: String,
    /// Stable worker id.
    #[arg(long)]
    id: String,
    /// Queues served.
    #[arg(long, value_delimiter = ',')]
    queues: Vec<String>,
    /// Functions served.
    #[arg(long, value_delimiter = ',')]
    functions: Vec<String>,
    /// Attempts at once.
    #[arg(long, default_value_t = 8)]
    slots: u32,
    /// Fencing sink URL to post effects to.
    #[arg(long)]
    sink: Option<String>,
    /// JSON-lines log of what the functions did.
    #[arg(long)]
    log: Option<std::path::PathBuf>,
    /// Connect with mutual TLS, with the client certificate in this
    /// directory (`ca.pem`, `client.pem`, `client-key.pem`).
    #[arg(long)]
    tls_client_dir: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let a = Args::parse();
    if let Some(dir) = &a.tls_client_dir {
        chaos_tests::secure::use_client_dir(dir)?;
    }
    let cfg = chaos_tests::worker::WorkerConfig {
        addrs: a.cluster.split(',').map(str::to_string).collect(),
        worker_id: a.id,
        queues: a.queues,
        functions: a.functions,
        slots: a.slots,
        sink: a.sink,
        log: a.log,
    };
    chaos_tests::worker::run(cfg).await
}
