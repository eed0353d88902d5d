//! A benchmark's cluster: real `schedulerd` processes under a temp dir,
//! with schedulerd's default timing (heartbeat 100 ms, election 300-500
//! ms) passed explicitly, since the harness otherwise slows elections
//! down for tests on a loaded machine.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chaos_tests::harness::{self, Proc, status, wait_cluster};
use proto::v1::job_service_client::JobServiceClient;
use tonic::transport::Channel;

use crate::poll;

/// schedulerd's default election timing.
pub const TIMING: [&str; 4] = ["--election-min-ms", "300", "--election-max-ms", "500"];

/// Nodes started for one scenario; killed (and their dirs removed) on drop.
pub struct Cluster {
    /// The processes, node `i + 1` at index `i`.
    pub procs: Vec<Proc>,
    /// The `schedulerd` binary, to start more nodes.
    pub bin: PathBuf,
    /// Where the nodes' data dirs and logs are. Declared after `procs`,
    /// so the nodes die before their dirs go.
    pub root: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` nodes with the default timing and `extra` flags, and
    /// waits until they form one cluster.
    pub async fn start(n: u64, extra: &[&str]) -> anyhow::Result<Cluster> {
        let bin = chaos_tests::binaries::schedulerd()?;
        let root = tempfile::tempdir()?;
        let flags = [&TIMING[..], extra].concat();
        let procs = harness::start_cluster(&bin, root.path(), n, &flags).await?;
        Ok(Cluster { procs, bin, root })
    }

    /// Every node's address.
    pub fn addrs(&self) -> Vec<String> {
        self.procs.iter().map(|p| p.addr.clone()).collect()
    }

    /// The node `id`.
    pub fn node(&self, id: u64) -> anyhow::Result<&Proc> {
        self.procs
            .iter()
            .find(|p| p.id == id)
            .with_context(|| format!("no node {id}"))
    }

    /// The node `id`, to kill or restart it.
    pub fn node_mut(&mut self, id: u64) -> anyhow::Result<&mut Proc> {
        self.procs
            .iter_mut()
            .find(|p| p.id == id)
            .with_context(|| format!("no node {id}"))
    }

    /// The leader's id and address, once the first node reports one with
    /// every node a voter.
    pub async fn leader(&self) -> anyhow::Result<(u64, String)> {
        let ids: Vec<u64> = self.procs.iter().map(|p| p.id).collect();
        let s = wait_cluster(&self.procs[0].addr, &ids).await;
        let id = s.leader.context("no leader")?;
        Ok((id, self.node(id)?.addr.clone()))
    }

    /// Every address, the leader's first: clients that fail over try the
    /// others in turn.
    pub async fn addrs_leader_first(&self) -> anyhow::Result<Vec<String>> {
        let (_, leader) = self.leader().await?;
        let mut addrs = vec![leader.clone()];
        addrs.extend(self.addrs().into_iter().filter(|a| *a != leader));
        Ok(addrs)
    }

    /// Waits (up to `within`) until `addr` reports every member healthy
    /// and `members` of them.
    pub async fn wait_healthy(addr: &str, members: usize, within: Duration) -> anyhow::Result<()> {
        poll::until(
            "every member healthy",
            within,
            Duration::from_millis(50),
            || async {
                let s = status(addr).await?;
                (s.leader.is_some()
                    && s.members.len() == members
                    && s.members.iter().all(|m| m.healthy))
                .then_some(())
            },
        )
        .await
    }
}

/// A job client for `addr`.
pub async fn jobs_client(addr: &str) -> anyhow::Result<JobServiceClient<Channel>> {
    Ok(JobServiceClient::new(
        chaos_tests::secure::connect(addr)
            .await
            .with_context(|| format!("connect to {addr}"))?,
    ))
}
