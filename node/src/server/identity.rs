//! The data dir's identity: `node.id` pins a node id to its data, and a
//! node is "fresh" only with no `node.id` and an empty Raft log and vote.

use std::path::Path;

use anyhow::{Context, bail};

/// File in the data dir that pins the node id to its data.
pub(super) const ID_FILE: &str = "node.id";

/// The id pinned to the data dir by an earlier start, if any (creating the
/// dir); fails if it belongs to another node id.
pub(super) fn pinned_id(dir: &Path, id: u64) -> anyhow::Result<Option<u64>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let existing: u64 = s
                .trim()
                .parse()
                .with_context(|| format!("{} is corrupt", path.display()))?;
            if existing != id {
                bail!(
                    "data dir {} belongs to node {existing}, not node {id}",
                    dir.display()
                );
            }
            Ok(Some(existing))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Whether the Raft storage holds nothing: no log entry (purged or not) and
/// no vote. Read before Raft starts, so a node whose `node.id` is missing
/// but whose log is not (a first start that crashed after joining) is not
/// mistaken for a new one.
pub(super) async fn storage_is_empty(log: &mut store::raft::LogStore) -> anyhow::Result<bool> {
    use openraft::storage::RaftLogStorage;
    let state = log
        .get_log_state()
        .await
        .context("reading the raft log state")?;
    let vote = log.read_vote().await.context("reading the raft vote")?;
    Ok(state.last_log_id.is_none() && vote.is_none())
}

pub(super) fn write_id(dir: &Path, id: u64) -> anyhow::Result<()> {
    let tmp = dir.join(format!("{ID_FILE}.tmp"));
    std::fs::write(&tmp, format!("{id}\n"))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join(ID_FILE))?;
    Ok(())
}
