//! schedulerd: one node of the scheduler cluster.

/// mimalloc instead of glibc's malloc: a profile of a follower at 4,000
/// fires/s spent about a quarter of its CPU in glibc's allocator
/// (`_int_malloc`, `malloc_consolidate`, `unlink_chunk`, `free`); see
/// BENCHMARKS.md, "CPU per fire".
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // A reaper of this node's shell jobs is this binary too.
    node::executor::reaper::serve_if_asked();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,openraft=warn,sled=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let args =
        match node::config_file::load(std::env::args_os().collect(), |k| std::env::var(k).ok()) {
            Ok(a) => a,
            // Help, version and usage errors print as clap prints them.
            Err(e) => match e.downcast::<clap::Error>() {
                Ok(clap_error) => clap_error.exit(),
                Err(e) => return Err(e),
            },
        };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(node::server::run(args, shutdown_signal()))
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
