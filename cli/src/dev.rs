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

/// Runs `nodes` nodes on ports `port..port+nodes` until Ctrl-C.
pub async fn run(
    nodes: u64,
    data_dir: Option<PathBuf>,
    port: u16,
    shell: bool,
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
            bootstrap: id == 1,
            join: if id == 1 {
                Vec::new()
            } else {
                vec![first.clone()]
            },
            peers: Vec::new(),
            enable_shell_executor: shell,
            join_token: None,
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
            wait_for_leader(&first).await?;
        }
    }
    let addrs: Vec<String> = (0..nodes)
        .map(|i| format!("127.0.0.1:{}", u64::from(port) + i))
        .collect();
    println!("dev cluster: {nodes} nodes");
    for (i, a) in addrs.iter().enumerate() {
        println!(
            "  node {}: {a}   data: {}",
            i + 1,
            dir.join(format!("node-{}", i + 1)).display()
        );
    }
    println!("try:  clusterctl --cluster {} status", addrs.join(","));
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

async fn wait_for_leader(addr: &str) -> anyhow::Result<()> {
    let cluster = Cluster::parse(addr)?;
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
