//! schedulerd: one node of the scheduler cluster.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("schedulerd is not built yet: the cluster issue (#4) adds it")
}
