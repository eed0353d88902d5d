//! clusterctl: drives the scheduler cluster.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("clusterctl is not built yet")
}
