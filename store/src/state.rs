//! In-memory state machine data and its deterministic `apply`. (Stub.)

use serde::{Deserialize, Serialize};

use crate::command::{Command, Response};

/// Something that happened, for event watchers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub log_index: u64,
}

/// Errors of encoding or decoding the state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state encoding: {0}")]
    Codec(#[from] postcard::Error),
}

/// The replicated state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    applied: u64,
    #[serde(skip)]
    events: Vec<Event>,
}

impl State {
    /// Applies the command of log entry `index`. Deterministic and idempotent per key.
    pub fn apply(&mut self, index: u64, cmd: &Command) -> Response {
        let _ = cmd;
        self.applied = index;
        self.events.push(Event { log_index: index });
        Response::Ok
    }

    /// Takes the events produced since the last call.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Encodes the whole state for a snapshot.
    pub fn encode(&self) -> Result<Vec<u8>, StateError> {
        Ok(postcard::to_allocvec(self)?)
    }

    /// Decodes a state encoded by [`State::encode`].
    pub fn decode(bytes: &[u8]) -> Result<State, StateError> {
        Ok(postcard::from_bytes(bytes)?)
    }
}
