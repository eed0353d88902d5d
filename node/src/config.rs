//! schedulerd's command line. Every flag is also an environment variable
//! (`SCHEDULERD_ID`, `SCHEDULERD_DATA_DIR`, ...), as DESIGN.md's
//! command-line contract requires.

use std::path::PathBuf;

use clap::Parser;

/// One node of the scheduler cluster.
#[derive(Parser, Debug, Clone)]
#[command(name = "schedulerd", version, about)]
pub struct Args {
    /// This node's id (u64, unique in the cluster, stable across restarts).
    #[arg(long, env = "SCHEDULERD_ID")]
    pub id: u64,
    /// Directory for the Raft log, snapshots and local state.
    #[arg(long, env = "SCHEDULERD_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address to listen on for gRPC (clients and peers), HOST:PORT.
    #[arg(long, env = "SCHEDULERD_LISTEN")]
    pub listen: String,
    /// Address peers and clients use to reach this node; defaults to --listen.
    #[arg(long, env = "SCHEDULERD_ADVERTISE")]
    pub advertise: Option<String>,
    /// Start a new one-node cluster (only on an empty data dir).
    #[arg(long, env = "SCHEDULERD_BOOTSTRAP", conflicts_with = "join")]
    pub bootstrap: bool,
    /// Ask this member to add this node, as `clusterctl join` would.
    #[arg(long, env = "SCHEDULERD_JOIN")]
    pub join: Option<String>,
    /// Run shell jobs on this node.
    #[arg(long, env = "SCHEDULERD_ENABLE_SHELL_EXECUTOR")]
    pub enable_shell_executor: bool,
    /// Optional configuration file (TOML): timing and labels.
    #[arg(long, env = "SCHEDULERD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve Prometheus metrics over HTTP at HOST:PORT (`/metrics`).
    #[arg(long, env = "SCHEDULERD_METRICS")]
    pub metrics: Option<String>,
    /// Raft heartbeat period in ms.
    #[arg(long, env = "SCHEDULERD_HEARTBEAT_MS", default_value_t = 100)]
    pub heartbeat_ms: u64,
    /// Lower end of the election timeout in ms. openraft's leader lease
    /// equals the upper end, so a failover takes between max and about
    /// twice max: keep the range narrow.
    #[arg(long, env = "SCHEDULERD_ELECTION_MIN_MS", default_value_t = 300)]
    pub election_min_ms: u64,
    /// Upper end of the election timeout in ms.
    #[arg(long, env = "SCHEDULERD_ELECTION_MAX_MS", default_value_t = 500)]
    pub election_max_ms: u64,
    /// A label of this node (KEY=VALUE), matched by job node selectors. Repeatable.
    #[arg(long = "label", env = "SCHEDULERD_LABELS", value_delimiter = ',')]
    pub label: Vec<String>,
    /// Build a snapshot after this many log entries.
    #[arg(long, env = "SCHEDULERD_SNAPSHOT_EVERY", default_value_t = 20_000)]
    pub snapshot_every: u64,
    /// Testing: dial peer ADDR through PROXY instead (ADDR=PROXY, repeatable).
    /// The chaos harness routes every node-to-node link through its own
    /// proxy this way, to cut or delay it without root. Advertised
    /// addresses stay the real ones.
    #[arg(long = "dial-via", env = "SCHEDULERD_DIAL_VIA", value_delimiter = ',')]
    pub dial_via: Vec<String>,
}

impl Args {
    /// The node's labels, parsed.
    pub fn labels(&self) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
        self.label
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => Err(anyhow::anyhow!("--label: {kv:?} is not KEY=VALUE")),
            })
            .collect()
    }

    /// `--dial-via` as a map from peer address to the address to dial.
    pub fn dial_via(&self) -> anyhow::Result<std::collections::HashMap<String, String>> {
        self.dial_via
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((a, p)) if !a.is_empty() && !p.is_empty() => {
                    Ok((a.to_string(), p.to_string()))
                }
                _ => Err(anyhow::anyhow!("--dial-via: {kv:?} is not ADDR=PROXY")),
            })
            .collect()
    }

    /// The advertised address.
    pub fn advertise(&self) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| self.listen.clone())
    }
}
