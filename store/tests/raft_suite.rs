//! openraft's own storage test suite against the sled store.

use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};
use store::raft::{LogStore, StateMachineStore, TypeConfig, open};
use tempfile::TempDir;

/// Each build opens a fresh store in a new temporary directory; the returned
/// guard keeps the directory alive as long as the store.
struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for SledBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path()).expect("open store");
        Ok((dir, store.log_store, store.state_machine))
    }
}

#[test]
fn openraft_storage_suite() {
    // Suite::test_all makes its own tokio runtimes, so this is a plain test.
    Suite::test_all(SledBuilder).expect("openraft storage suite");
}
