//! Commands of the Raft log and their responses. (Stub; filled in by issue 2.)

use serde::{Deserialize, Serialize};

/// One entry's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Does nothing; used by tests.
    Noop,
}

/// What applying a command returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Response {
    #[default]
    Ok,
}
