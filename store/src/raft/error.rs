//! Errors of the sled Raft storage, and their mapping into openraft's
//! [`openraft::StorageError`] (which carries what was being touched and how).

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};

use super::{NodeId, StorageError};
use crate::state::StateError;

/// An error of the sled Raft storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O error, corruption it detected, ...).
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A sled transaction failed.
    #[error("sled transaction: {0}")]
    Transaction(#[from] sled::transaction::TransactionError),
    /// A value could not be encoded or decoded.
    #[error("encoding of {what}: {source}")]
    Codec {
        what: &'static str,
        #[source]
        source: postcard::Error,
    },
    /// The replicated state could not be encoded or decoded.
    #[error("state: {0}")]
    State(#[from] StateError),
    /// Stored bytes are not what this module writes.
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// A lock was poisoned by a panic while the state was being changed; the
    /// in-memory state may be half-updated and must not be used further.
    #[error("state lock poisoned by an earlier panic")]
    Poisoned,
}

impl StoreError {
    /// Converts into openraft's storage error, naming what was touched and how.
    pub(crate) fn into_storage(
        self,
        subject: ErrorSubject<NodeId>,
        verb: ErrorVerb,
    ) -> StorageError {
        StorageIOError::new(subject, verb, AnyError::new(&self)).into()
    }
}

/// Shorthand for mapping a `Result<T, E: Into<StoreError>>` into openraft's error.
pub(crate) trait IntoStorage<T> {
    // openraft's traits fix StorageError (large) as the error type.
    #[allow(clippy::result_large_err)]
    fn sto(self, subject: ErrorSubject<NodeId>, verb: ErrorVerb) -> Result<T, StorageError>;
}

impl<T, E: Into<StoreError>> IntoStorage<T> for Result<T, E> {
    fn sto(self, subject: ErrorSubject<NodeId>, verb: ErrorVerb) -> Result<T, StorageError> {
        self.map_err(|e| e.into().into_storage(subject, verb))
    }
}
