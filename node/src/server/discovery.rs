//! Joining a cluster on a fresh data dir: `--bootstrap`, `--join` (seeds
//! tried in turn) and `--peers` (join whatever cluster a peer reports, or,
//! as the first peer, bootstrap once every other peer answered that none
//! exists). A fresh node the cluster already lists refuses to join.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use openraft::BasicNode;

use crate::auth::secret::Bearer;
use crate::node::Node;
use crate::raft::service::Admission;

/// How long a joining node keeps asking to be added.
const JOIN_DEADLINE: Duration = Duration::from_secs(300);
/// How long to wait for one peer's status.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between rounds of join or discovery attempts.
const RETRY: Duration = Duration::from_millis(500);

pub(super) async fn bootstrap(node: &Node) -> anyhow::Result<()> {
    let members = BTreeMap::from([(node.id, BasicNode::new(&node.addr))]);
    node.raft
        .initialize(members)
        .await
        .context("bootstrapping a one-node cluster")?;
    tracing::info!("bootstrapped a new cluster");
    Ok(())
}

/// The cluster status as `addr` reports it.
async fn ask_status(node: &Node, addr: &str) -> Result<proto::v1::ClusterStatus, String> {
    crate::peers::probe(&node.channels, addr, STATUS_TIMEOUT).await
}

/// Refuses to join a cluster that already lists this node: this data dir is
/// empty, so its volume was lost or replaced, and a voter that comes back
/// with an empty log can elect a leader that lacks committed entries.
fn refuse_if_member(node: &Node, s: &proto::v1::ClusterStatus, dir: &Path) -> anyhow::Result<()> {
    if let Some(m) = s.members.iter().find(|m| m.id == node.id) {
        bail!(
            "node {id} is already a {role} of the cluster (at {addr}), but data dir {dir} is \
             empty: its volume was lost or replaced. Rejoining with an empty log could lose \
             committed writes, so this node will not. Remove the old member first \
             (`clusterctl leave --id {id}`), then start this node again: it joins as new.",
            id = node.id,
            role = if m.voter { "voter" } else { "learner" },
            addr = m.addr,
            dir = dir.display(),
        );
    }
    Ok(())
}

/// Asks each of `seeds` in turn (then each member the first answer names)
/// to add this node until one does or the deadline passes; refuses first
/// if a seed lists this node already.
pub(super) async fn join(
    node: &Node,
    seeds: &[String],
    dir: &Path,
    token: Option<&Bearer>,
    admission: &Admission,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + JOIN_DEADLINE;
    let mut last_error = String::new();
    // Once asked, this node may be listed because of its own request (an
    // answer lost on the way back), so only the first check can tell.
    let mut asked = false;
    // The seeds, then every member the first answer names: if the seed
    // dies while it adds this node, another member finishes the join.
    let mut seeds: Vec<String> = seeds.to_vec();
    while tokio::time::Instant::now() < deadline {
        let mut i = 0;
        while let Some(seed) = seeds.get(i).cloned() {
            i += 1;
            let seed = seed.as_str();
            if !asked {
                match ask_status(node, seed).await {
                    Ok(s) => {
                        refuse_if_member(node, &s, dir)?;
                        for m in s.members.iter().filter(|m| m.id != node.id) {
                            if !seeds.contains(&m.addr) {
                                seeds.push(m.addr.clone());
                            }
                        }
                    }
                    // Not reachable yet: ask the next seed.
                    Err(e) => {
                        let e = format!("{seed}: {e}");
                        if e != last_error {
                            tracing::warn!(error = %e, "join: seed not reachable yet; retrying");
                        }
                        last_error = e;
                        continue;
                    }
                }
            }
            asked = true;
            // Not a lost member: answer the leader's appends, which adding
            // this node starts.
            admission.open();
            let attempt = async {
                crate::peers::add_member(&node.channels, seed, node.id, &node.addr, token)
                    .await
                    .map_err(|e| match e {
                        crate::error::ApiError::AlreadyExists(m) => format!("AlreadyExists: {m}"),
                        e => e.to_string(),
                    })
            };
            match attempt.await {
                Ok(_) => {
                    tracing::info!(seed, "joined the cluster");
                    return Ok(());
                }
                Err(e) if e.starts_with("AlreadyExists") => {
                    bail!("join refused by {seed}: {e}");
                }
                Err(e) => {
                    let e = format!("{seed}: {e}");
                    if e != last_error {
                        tracing::warn!(error = %e, "join not accepted yet; retrying");
                    }
                    last_error = e;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
    bail!(
        "could not join through {} within {JOIN_DEADLINE:?}: {last_error}",
        seeds.join(",")
    )
}

/// `--peers` on an empty data dir: join the cluster that any peer reports;
/// when none reports one, the first peer bootstraps, but only after every
/// other peer has answered that it has no cluster either. A peer that does
/// not answer might hold the cluster's data (pod 0 lost its volume while the
/// others restart), so silence never counts as "no cluster": that is why
/// the StatefulSet starts its pods in parallel.
pub(super) async fn join_or_bootstrap(
    node: &Node,
    peers: &[String],
    dir: &Path,
    token: Option<&Bearer>,
    admission: &Admission,
) -> anyhow::Result<()> {
    let first = peers.first().is_some_and(|p| *p == node.addr);
    let others: Vec<&String> = peers.iter().filter(|p| **p != node.addr).collect();
    let deadline = tokio::time::Instant::now() + JOIN_DEADLINE;
    let mut last_wait = String::new();
    while tokio::time::Instant::now() < deadline {
        let mut silent = Vec::new();
        let mut cluster = None;
        for peer in &others {
            match ask_status(node, peer).await {
                // This node under another of its names.
                Ok(s) if s.answered_by == node.id => {}
                Ok(s) if !s.members.is_empty() => {
                    cluster = Some(s);
                    break;
                }
                Ok(_) => {}
                Err(e) => silent.push(format!("{peer} ({e})")),
            }
        }
        if let Some(s) = cluster {
            refuse_if_member(node, &s, dir)?;
            tracing::info!(leader = ?s.leader, "a cluster exists: joining it");
            let seeds: Vec<String> = others.iter().map(|p| (*p).clone()).collect();
            return join(node, &seeds, dir, token, admission).await;
        }
        if first && silent.is_empty() {
            admission.open();
            return bootstrap(node).await;
        }
        let wait = if first {
            format!(
                "waiting for every peer to answer before bootstrapping; silent: {}",
                silent.join(", ")
            )
        } else {
            format!(
                "waiting for {} (the first peer) to bootstrap the cluster",
                peers.first().map_or("", String::as_str)
            )
        };
        if wait != last_wait {
            tracing::info!("{wait}");
            last_wait = wait;
        }
        tokio::time::sleep(RETRY).await;
    }
    bail!("--peers: no cluster formed within {JOIN_DEADLINE:?}: {last_wait}")
}
