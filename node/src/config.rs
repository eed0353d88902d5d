//! schedulerd's command line. Every flag is also an environment variable
//! (`SCHEDULERD_ID`, `SCHEDULERD_DATA_DIR`, ...), as docs/cli.md's
//! "schedulerd" table lists them.

use std::path::PathBuf;

use clap::Parser;

/// One node of the scheduler cluster.
#[derive(Parser, Debug, Clone)]
#[command(name = "schedulerd", version, about)]
pub struct Args {
    /// This node's id (u64, unique in the cluster, stable across restarts).
    #[arg(
        long,
        env = "SCHEDULERD_ID",
        required_unless_present = "id_from_hostname"
    )]
    pub id: Option<u64>,
    /// Take the id from the hostname's trailing ordinal instead of --id:
    /// `scheduler-0` is node 1, `scheduler-4` node 5 (a StatefulSet pod's
    /// ordinal + 1, so ids start at 1 as everywhere else).
    #[arg(long, env = "SCHEDULERD_ID_FROM_HOSTNAME", conflicts_with = "id")]
    pub id_from_hostname: bool,
    /// Directory for the Raft log, snapshots and local state.
    #[arg(long, env = "SCHEDULERD_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address to listen on for gRPC (clients and peers), HOST:PORT.
    #[arg(long, env = "SCHEDULERD_LISTEN")]
    pub listen: String,
    /// Address peers and clients use to reach this node; defaults to --listen.
    #[arg(long, env = "SCHEDULERD_ADVERTISE")]
    pub advertise: Option<String>,
    /// Serve the peer services (Raft, forwarding, dispatch, reports) on
    /// their own listener, HOST:PORT, and no longer on --listen, so an
    /// operator can firewall them off from clients. Every member of a
    /// cluster must use it or none.
    #[arg(long, env = "SCHEDULERD_PEER_LISTEN")]
    pub peer_listen: Option<String>,
    /// Address peers use to reach --peer-listen; defaults to it.
    #[arg(long, env = "SCHEDULERD_PEER_ADVERTISE", requires = "peer_listen")]
    pub peer_advertise: Option<String>,
    /// Start a new one-node cluster (only on an empty data dir).
    #[arg(long, env = "SCHEDULERD_BOOTSTRAP", conflicts_with = "join")]
    pub bootstrap: bool,
    /// Ask this member to add this node, as `clusterctl join` would. A
    /// comma-separated list is tried in turn.
    #[arg(long, env = "SCHEDULERD_JOIN", value_delimiter = ',')]
    pub join: Vec<String>,
    /// Every member's address, this node's included (HOST:PORT,...), for a
    /// StatefulSet: on an empty data dir, join the cluster that one of them
    /// reports; if none has one, the first peer bootstraps it, but only once
    /// every other peer has answered that it has none (so a node that lost
    /// its volume never starts a second cluster). Ignored on a restart.
    #[arg(
        long,
        env = "SCHEDULERD_PEERS",
        value_delimiter = ',',
        conflicts_with_all = ["bootstrap", "join"]
    )]
    pub peers: Vec<String>,
    /// Run shell jobs on this node.
    #[arg(long, env = "SCHEDULERD_ENABLE_SHELL_EXECUTOR")]
    pub enable_shell_executor: bool,
    /// An admin token this node presents when it asks to join (`--join`,
    /// `--peers`) a cluster whose ACL is bootstrapped and that cannot
    /// authenticate it by a node certificate. Prefer the environment
    /// variable: a flag shows in the process list.
    #[arg(long, env = "SCHEDULERD_JOIN_TOKEN", hide_env_values = true)]
    pub join_token: Option<crate::auth::secret::Bearer>,
    /// Serve TLS from this directory (`ca.pem`, `node.pem`, `node-key.pem`,
    /// as `clusterctl certs node` writes them): clients use TLS, peers use
    /// mutual TLS with node certificates of the same CA, calls are checked
    /// from the start, and changed files are reloaded without a restart.
    #[arg(long, env = "SCHEDULERD_TLS_DIR")]
    pub tls_dir: Option<PathBuf>,
    /// Listen on a non-loopback address without TLS anyway: anyone who
    /// reaches the port can then speak Raft to this node and, until the ACL
    /// is bootstrapped, call anything.
    #[arg(long, env = "SCHEDULERD_INSECURE")]
    pub insecure: bool,
    /// A TOML file of flags (keys are the long names, e.g. `data-dir = "/d"`); the command line and the environment win over it.
    #[arg(long, env = "SCHEDULERD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve Prometheus metrics over HTTP at HOST:PORT (`/metrics`).
    #[arg(long, env = "SCHEDULERD_METRICS")]
    pub metrics: Option<String>,
    /// Raft heartbeat period in ms.
    #[arg(long, env = "SCHEDULERD_HEARTBEAT_MS", default_value_t = 100)]
    pub heartbeat_ms: u64,
    /// Lower end of the election timeout in ms. openraft's leader lease
    /// equals the upper end, and voters refuse votes within it; a follower
    /// campaigns just after it (`raft/campaign.rs`), so a failover takes
    /// about max plus up to half the range: keep the range narrow.
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
    /// On shutdown, stop without asking another voter to take over
    /// leadership (the dev cluster, whose nodes all stop together).
    #[arg(long, env = "SCHEDULERD_NO_HAND_OVER", hide = true)]
    pub no_hand_over: bool,
    /// Leave elections to openraft's own timers only, without campaigning
    /// as soon as a silent leader's lease has run out (for comparison runs).
    #[arg(long, env = "SCHEDULERD_NO_EARLY_CAMPAIGN", hide = true)]
    pub no_early_campaign: bool,
}

impl Args {
    /// The node id: `--id`, or the hostname's ordinal + 1 with
    /// `--id-from-hostname`.
    pub fn node_id(&self) -> anyhow::Result<u64> {
        match self.id {
            Some(id) => Ok(id),
            None if self.id_from_hostname => {
                let host = hostname()?;
                id_from_hostname(&host)
            }
            None => Err(anyhow::anyhow!(
                "--id: required (or --id-from-hostname in a StatefulSet)"
            )),
        }
    }

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

    /// The address peers dial: the peer listener's when there is one, else
    /// the advertised address. It is this node's address in the Raft
    /// membership.
    pub fn peer_advertise(&self) -> String {
        match (&self.peer_advertise, &self.peer_listen) {
            (Some(a), _) => a.clone(),
            (None, Some(l)) => l.clone(),
            (None, None) => self.advertise(),
        }
    }
}

/// The node id for a StatefulSet pod's hostname: the ordinal after the last
/// `-` of its first label, plus 1 (`scheduler-0` and
/// `scheduler-0.scheduler-peers.ns.svc.cluster.local` are node 1).
pub fn id_from_hostname(hostname: &str) -> anyhow::Result<u64> {
    let label = hostname.split('.').next().unwrap_or_default();
    let ordinal = label
        .rsplit_once('-')
        .map(|(_, n)| n)
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--id-from-hostname: hostname {hostname:?} does not end in -N \
                 (a StatefulSet pod ordinal such as scheduler-0); give --id instead"
            )
        })?;
    ordinal
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--id-from-hostname: ordinal {ordinal} of hostname {hostname:?} is out of range"
            )
        })
}

/// The kernel's hostname (the pod name in Kubernetes). Read from the
/// kernel, not from `$HOSTNAME`, which a parent process may have set for
/// another host.
fn hostname() -> anyhow::Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return Err(anyhow::anyhow!(
            "--id-from-hostname: cannot read the hostname: {}",
            std::io::Error::last_os_error()
        ));
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec())
        .map_err(|_| anyhow::anyhow!("--id-from-hostname: the hostname is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_pod_ordinal_plus_one() {
        assert_eq!(id_from_hostname("scheduler-0").unwrap(), 1);
        assert_eq!(id_from_hostname("scheduler-12").unwrap(), 13);
        assert_eq!(id_from_hostname("my-sched-3.peers.ns.svc").unwrap(), 4);
    }

    #[test]
    fn a_hostname_without_an_ordinal_is_refused_by_name() {
        for bad in [
            "scheduler",
            "scheduler-",
            "scheduler-x1",
            "node1",
            "-",
            "scheduler-+1",
        ] {
            let e = id_from_hostname(bad).unwrap_err().to_string();
            assert!(e.contains("--id-from-hostname") && e.contains(bad), "{e}");
        }
        let e = id_from_hostname("s-18446744073709551615").unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn join_and_peers_take_lists_and_exclude_each_other() {
        let a = Args::try_parse_from([
            "schedulerd",
            "--id-from-hostname",
            "--data-dir",
            "/d",
            "--listen",
            "0:1",
            "--peers",
            "a:1,b:1,c:1",
        ])
        .unwrap();
        assert_eq!(a.peers, ["a:1", "b:1", "c:1"]);
        assert!(a.id.is_none());
        let a = Args::try_parse_from([
            "schedulerd",
            "--id",
            "2",
            "--data-dir",
            "/d",
            "--listen",
            "0:1",
            "--join",
            "a:1,b:1",
        ])
        .unwrap();
        assert_eq!(a.join, ["a:1", "b:1"]);
        for conflict in [
            &["--peers", "a:1", "--join", "b:1"][..],
            &["--peers", "a:1", "--bootstrap"][..],
            &["--id", "1", "--id-from-hostname"][..],
        ] {
            let base = ["schedulerd", "--data-dir", "/d", "--listen", "0:1"];
            let mut argv: Vec<&str> = base.to_vec();
            argv.extend_from_slice(conflict);
            if !argv.contains(&"--id") {
                argv.extend_from_slice(&["--id", "1"]);
            }
            assert!(
                Args::try_parse_from(&argv).is_err(),
                "{argv:?} was accepted"
            );
        }
        let missing = Args::try_parse_from(["schedulerd", "--data-dir", "/d", "--listen", "0:1"]);
        assert!(missing.is_err(), "no --id accepted");
    }
}
