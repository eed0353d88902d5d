//! Encodings of keys and values in sled.
//!
//! Values are postcard: compact, and every openraft type we store (entries,
//! votes, log ids, memberships, snapshot meta) round-trips through it (see the
//! tests below). Keys of the log tree are big-endian `u64` so that sled's
//! byte order is index order and range scans are index ranges.

use serde::{Serialize, de::DeserializeOwned};

use super::StoreError;

/// Encodes a value for storage.
pub(crate) fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|source| StoreError::Codec { what, source })
}

/// Decodes a stored value.
pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|source| StoreError::Codec { what, source })
}

/// The key of log entry `index`.
pub(crate) fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The index of a log-tree key.
pub(crate) fn key_index(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        what: "log key",
        detail: format!("expected 8 bytes, found {}", key.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::{BasicNode, EntryPayload, Membership, StoredMembership};

    use super::*;
    use crate::command::Command;
    use crate::raft::{Entry, LogId, SnapshotMeta, Vote};

    fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: T) {
        let bytes = encode("test", &v).expect("encode");
        let back: T = decode("test", &bytes).expect("decode");
        assert_eq!(v, back);
    }

    #[test]
    fn openraft_types_roundtrip_through_postcard() {
        let log_id = LogId::new(openraft::CommittedLeaderId::new(7, 3), 42);
        roundtrip(log_id);
        roundtrip(Some(log_id));
        roundtrip(None::<LogId>);
        roundtrip(Vote::new(5, 2));
        roundtrip(Vote::new_committed(6, 1));

        let nodes: BTreeMap<u64, BasicNode> =
            [(1, BasicNode::new("a:1")), (2, BasicNode::new("b:2"))].into();
        let membership = Membership::new(vec![BTreeSet::from([1, 2])], nodes);
        for payload in [
            EntryPayload::Blank,
            EntryPayload::Normal(Command::Noop),
            EntryPayload::Membership(membership.clone()),
        ] {
            let e = Entry { log_id, payload };
            let bytes = encode("entry", &e).expect("encode");
            let back: Entry = decode("entry", &bytes).expect("decode");
            assert_eq!(format!("{e:?}"), format!("{back:?}"));
        }

        roundtrip(SnapshotMeta {
            last_log_id: Some(log_id),
            last_membership: StoredMembership::new(Some(log_id), membership),
            snapshot_id: "42-7-1".to_string(),
        });
    }

    #[test]
    fn index_keys_sort_by_index() {
        assert!(index_key(255) < index_key(256));
        assert_eq!(key_index(&index_key(u64::MAX)).expect("key"), u64::MAX);
        assert!(key_index(b"short").is_err());
    }
}
