//! What a run executes: a process or an HTTP request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The executor of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutorSpec {
    /// A process on the assignee (which needs `--enable-shell-executor`).
    Shell(ShellSpec),
    /// An HTTP request from the assignee.
    Http(HttpSpec),
}

/// A process. Exactly one of `argv` and `command` is given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellSpec {
    /// Program and arguments, run without a shell.
    pub argv: Vec<String>,
    /// A command line, run as `sh -c COMMAND`.
    pub command: Option<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory; `None` means the node's data dir.
    pub working_dir: Option<String>,
}

/// An HTTP request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSpec {
    /// Upper-case method.
    pub method: String,
    /// Absolute http:// or https:// URL.
    pub url: String,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Status codes that count as success; empty means any 2xx.
    pub success_codes: Vec<u16>,
}

impl ExecutorSpec {
    /// Whether running this needs a node with the shell executor enabled.
    pub fn needs_shell(&self) -> bool {
        matches!(self, ExecutorSpec::Shell(_))
    }
}
