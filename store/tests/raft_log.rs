//! Log store behaviour beyond openraft's suite: purges larger than one purge
//! step, and what survives a reopen.

mod support;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, EntryPayload, RaftLogReader};
use store::command::Command;
use store::raft::{Entry, LogId, MAX_ENTRIES_PER_READ, PURGE_CHUNK, Vote, open};

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn entry(index: u64) -> Entry {
    Entry {
        log_id: log_id(2, index),
        payload: EntryPayload::Normal(Command::Noop),
    }
}

#[tokio::test]
async fn purge_of_several_steps_then_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let total = 2 * PURGE_CHUNK as u64 + 500;
    let upto = 2 * PURGE_CHUNK as u64 + 100;
    {
        let mut log = open(dir.path()).expect("open").log_store;
        for start in (1..=total).step_by(1000) {
            let end = (start + 999).min(total);
            log.blocking_append((start..=end).map(entry))
                .await
                .expect("append");
        }
        log.save_vote(&Vote::new(2, 1)).await.expect("vote");
        log.save_committed(Some(log_id(2, upto)))
            .await
            .expect("committed");
        log.purge(log_id(2, upto)).await.expect("purge");
        let state = log.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id, Some(log_id(2, upto)));
        assert_eq!(state.last_log_id, Some(log_id(2, total)));
    }
    let mut log = support::reopen(dir.path()).await.log_store;
    let state = log.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id, Some(log_id(2, upto)));
    assert_eq!(state.last_log_id, Some(log_id(2, total)));
    assert_eq!(log.read_vote().await.expect("vote"), Some(Vote::new(2, 1)));
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(log_id(2, upto))
    );
    let entries = log.try_get_log_entries(..).await.expect("read");
    assert_eq!(entries.len() as u64, total - upto);
    assert_eq!(entries[0].log_id, log_id(2, upto + 1));

    // Purging everything leaves no entry; the last log id is the purge point.
    log.purge(log_id(2, total)).await.expect("purge all");
    let state = log.get_log_state().await.expect("state");
    assert_eq!(state.last_log_id, Some(log_id(2, total)));
    assert!(log.try_get_log_entries(..).await.expect("read").is_empty());

    // Bounded replication reads.
    log.blocking_append((total + 1..=total + 10_000).map(entry))
        .await
        .expect("append");
    let got = log
        .limited_get_log_entries(total + 1, total + 10_001)
        .await
        .expect("limited");
    assert!(!got.is_empty() && got.len() <= MAX_ENTRIES_PER_READ);
    assert_eq!(got[0].log_id.index, total + 1);
}
