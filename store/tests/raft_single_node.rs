//! End to end through openraft itself: a one-node cluster on the sled store
//! commits commands, builds a snapshot and purges the log; after a restart
//! the state machine restores the snapshot and openraft re-applies the
//! committed log after it, before any new leader is elected.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode, Config, Raft, ServerState, SnapshotPolicy};
use store::command::{Command, Response};
use store::raft::{TypeConfig, open};
use store::state::State;

/// A one-node cluster never sends anything; every RPC fails.
struct NoNetwork;

fn unreachable<E: std::error::Error>() -> RPCError<u64, BasicNode, E> {
    RPCError::Network(NetworkError::new(&AnyError::error(
        "single-node test has no network",
    )))
}

impl RaftNetwork<TypeConfig> for NoNetwork {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        Err(unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(unreachable())
    }
}

impl RaftNetworkFactory<TypeConfig> for NoNetwork {
    type Network = NoNetwork;
    async fn new_client(&mut self, _target: u64, _node: &BasicNode) -> NoNetwork {
        NoNetwork
    }
}

fn config() -> Arc<Config> {
    Arc::new(
        Config {
            // Snapshots only when the test triggers one.
            snapshot_policy: SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: 0,
            purge_batch_size: 1,
            ..Default::default()
        }
        .validate()
        .expect("config"),
    )
}

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_snapshot_and_reapplies_committed_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut normal_indexes = Vec::new();

    let (snap_index, last_index) = {
        let store = open(dir.path()).expect("open");
        let raft = Raft::new(1, config(), NoNetwork, store.log_store, store.state_machine)
            .await
            .expect("raft");
        raft.initialize(BTreeMap::from([(1, BasicNode::new("127.0.0.1:1"))]))
            .await
            .expect("initialize");
        raft.wait(TIMEOUT)
            .state(ServerState::Leader, "leader")
            .await
            .expect("leader");
        let mut write = async |n: usize| {
            let mut last = 0;
            for _ in 0..n {
                let r = raft
                    .client_write(Command::Noop)
                    .await
                    .expect("client_write");
                assert_eq!(r.data, Response::default());
                normal_indexes.push(r.log_id.index);
                last = r.log_id.index;
            }
            last
        };
        let snap_at = write(30).await;
        // Snapshot there; the log behind it is purged (nothing kept).
        raft.trigger().snapshot().await.expect("trigger snapshot");
        raft.wait(TIMEOUT)
            .metrics(
                |m| {
                    m.snapshot.is_some_and(|s| s.index >= snap_at)
                        && m.purged.is_some_and(|p| p.index >= snap_at)
                },
                "snapshot and purge",
            )
            .await
            .expect("snapshot built and log purged");
        // These stay in the log only: restart must re-apply them.
        let last = write(15).await;
        raft.shutdown().await.expect("shutdown");
        (snap_at, last)
    };
    let store = support::reopen(dir.path()).await;
    let handle = store.state_machine.handle();
    let restored = handle.last_applied().expect("restored from snapshot").index;
    assert_eq!(restored, snap_index, "restored from the snapshot");

    let raft = Raft::new(1, config(), NoNetwork, store.log_store, store.state_machine)
        .await
        .expect("raft after restart");
    // Re-applied during start-up, from the saved committed log id: no
    // election or new commit was needed.
    assert_eq!(handle.last_applied().map(|l| l.index), Some(last_index));

    let mut want = State::default();
    for &i in &normal_indexes {
        want.apply(i, &Command::Noop);
    }
    let _ = want.drain_events();
    let got = handle.read(|s| s.encode().expect("encode"));
    assert!(
        got == want.encode().expect("encode"),
        "state after restart differs"
    );

    raft.wait(TIMEOUT)
        .state(ServerState::Leader, "leader again")
        .await
        .expect("leader");
    let r = raft
        .client_write(Command::Noop)
        .await
        .expect("write after restart");
    assert!(r.log_id.index > last_index);
    assert_eq!(
        handle.wait_applied(r.log_id.index).await.expect("applied"),
        r.log_id.index
    );
    raft.shutdown().await.expect("shutdown");
}
