//! `clusterctl dev`: a local cluster for development, in this process.
//!
//! The nodes run in-process (not as child processes) so that `cargo run -p
//! cli --bin clusterctl -- dev` works without building or locating a
//! separate `schedulerd` binary; each node still has its own data dir, port
//! and Raft instance, and they talk real gRPC over loopback.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use node::config::Args;

use crate::client::Cluster;

/// What `--secure` set up: where the CA is, and the admin token.
struct Secure {
    ca_pem: PathBuf,
    token: String,
}

/// A CA under `dir/ca` and a certificate directory per node under
/// `dir/tls-N` (kept across runs: a restarted dev cluster keeps its CA).
fn make_certs(dir: &std::path::Path, nodes: u64) -> anyhow::Result<PathBuf> {
    use node::tls::certgen::{CA_DAYS, Ca, LEAF_DAYS, Validity, write_node_dir};
    let ca_dir = dir.join("ca");
    let ca = if ca_dir.join(node::tls::CA_FILE).exists() {
        Ca::load(&ca_dir).context("loading the dev cluster's CA")?
    } else {
        let ca = Ca::generate("schedulerd dev cluster", Validity::days(CA_DAYS))?;
        ca.write(&ca_dir, false)?;
        ca
    };
    for id in 1..=nodes {
        let out = dir.join(format!("tls-{id}"));
        if out.join(node::tls::CERT_FILE).exists() {
            continue;
        }
        let hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let leaf = ca.node(id, &hosts, Validity::days(LEAF_DAYS))?;
        write_node_dir(&out, &ca, &leaf)?;
    }
    Ok(ca_dir.join(node::tls::CA_FILE))
}

/// The admin token: bootstrapped now, or kept from an earlier run in
/// `dir/admin.token` (mode 0600).
async fn admin_token(cluster: &Cluster, dir: &std::path::Path) -> anyhow::Result<String> {
    let file = dir.join("admin.token");
    let boot = cluster
        .with_acl(|mut c| async move {
            c.bootstrap(proto::v1::AclBootstrapRequest::default())
                .await
                .map(tonic::Response::into_inner)
        })
        .await;
    match boot {
        Ok(t) => {
            node::tls::certgen::write_file(&file, format!("{}\n", t.secret).as_bytes(), 0o600)?;
            Ok(t.secret)
        }
        Err(e) => std::fs::read_to_string(&file)
            .map(|s| s.trim().to_string())
            .with_context(|| {
                format!(
                    "the ACL was bootstrapped before ({e:#}) and {} is gone",
                    file.display()
                )
            }),
    }
}

/// Runs `nodes` nodes on ports `port..port+nodes` until Ctrl-C; with
/// `secure`, over TLS with a bootstrapped ACL.
pub async fn run(
    nodes: u64,
    data_dir: Option<PathBuf>,
    port: u16,
    shell: bool,
    secure: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=9).contains(&nodes),
        "--nodes: {nodes} is out of range 1-9"
    );
    let dir = match data_dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("scheduler-dev-{port}")),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca_pem = if secure {
        Some(make_certs(&dir, nodes)?)
    } else {
        None
    };
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let first = format!("127.0.0.1:{port}");
    let mut tasks = Vec::new();
    for i in 0..nodes {
        let id = i + 1;
        let listen = format!("127.0.0.1:{}", u64::from(port) + i);
        let args = Args {
            id: Some(id),
            id_from_hostname: false,
            data_dir: dir.join(format!("node-{id}")),
            listen: listen.clone(),
            advertise: None,
            peer_listen: None,
            peer_advertise: None,
            bootstrap: id == 1,
            join: if id == 1 {
                Vec::new()
            } else {
                vec![first.clone()]
            },
            peers: Vec::new(),
            enable_shell_executor: shell,
            join_token: None,
            tls_dir: ca_pem.as_ref().map(|_| dir.join(format!("tls-{id}"))),
            insecure: false,
            config: None,
            metrics: None,
            heartbeat_ms: 100,
            election_min_ms: 300,
            election_max_ms: 500,
            snapshot_every: 20_000,
            label: Vec::new(),
            dial_via: Vec::new(),
            // Every node stops at once: a hand-over would only reach
            // nodes that are stopping too (and log errors about it).
            no_hand_over: true,
            no_early_campaign: false,
        };
        let mut stop = stop_tx.subscribe();
        tasks.push(tokio::spawn(async move {
            node::server::run(args, async move {
                let _ = stop.recv().await;
            })
            .await
        }));
        if id == 1 {
            // Let the first node bootstrap before the others ask to join.
            wait_for_leader(&first, ca_pem.as_deref()).await?;
        }
    }
    let addrs: Vec<String> = (0..nodes)
        .map(|i| format!("127.0.0.1:{}", u64::from(port) + i))
        .collect();
    let secure = match &ca_pem {
        Some(ca) => {
            let cluster = Cluster::parse(&addrs.join(","))?.with_tls(Some(ca), None)?;
            let token = admin_token(&cluster, &dir).await?;
            Some(Secure {
                ca_pem: ca.clone(),
                token,
            })
        }
        None => None,
    };
    println!(
        "dev cluster: {nodes} nodes{}",
        if secure.is_some() {
            ", TLS and tokens"
        } else {
            ""
        }
    );
    for (i, a) in addrs.iter().enumerate() {
        println!(
            "  node {}: {a}   data: {}",
            i + 1,
            dir.join(format!("node-{}", i + 1)).display()
        );
    }
    match &secure {
        Some(s) => {
            println!("use it with:");
            println!("  export CLUSTERCTL_CLUSTER={}", addrs.join(","));
            println!("  export CLUSTERCTL_TLS_CA={}", s.ca_pem.display());
            println!(
                "  export CLUSTERCTL_TOKEN=$(cat {})",
                dir.join("admin.token").display()
            );
            println!("  clusterctl status; clusterctl token create ci --role writer");
            println!(
                "the admin token (also in {}): {}",
                dir.join("admin.token").display(),
                s.token
            );
        }
        None => println!("try:  clusterctl --cluster {} status", addrs.join(",")),
    }
    println!(
        "Ctrl-C stops the cluster (data stays in {}).",
        dir.display()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    println!("stopping...");
    let _ = stop_tx.send(());
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("node stopped with an error: {e:#}"),
            Err(e) => eprintln!("node task failed: {e}"),
        }
    }
    Ok(())
}

async fn wait_for_leader(addr: &str, ca: Option<&std::path::Path>) -> anyhow::Result<()> {
    let cluster = Cluster::parse(addr)?.with_tls(ca, None)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = cluster
            .with_cluster(|mut c| async move { c.status(proto::v1::StatusRequest {}).await })
            .await
            && s.into_inner().leader.is_some()
        {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "node 1 at {addr} elected no leader within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
