//! What a run executes: a process, an HTTP request, or a function in a
//! worker process connected to the assignee.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thin_vec::ThinVec;

/// An executor kind a node can run, as it advertises it (`NodeInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Capability {
    /// Processes (`--enable-shell-executor`).
    Shell,
    /// HTTP requests.
    Http,
    /// Functions of connected workers (which workers serve which queue is
    /// reported to the leader apart, as it changes by the second).
    Worker,
}

impl Capability {
    /// Its name: `shell`, `http` or `worker`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Shell => "shell",
            Capability::Http => "http",
            Capability::Worker => "worker",
        }
    }
}

/// The executor of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutorSpec {
    /// A process on the assignee (which needs `--enable-shell-executor`).
    Shell(ShellSpec),
    /// An HTTP request from the assignee.
    Http(HttpSpec),
    /// A function run by a worker process connected to the assignee.
    Worker(WorkerSpec),
}

/// A named function in a queue, run by a worker that serves both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// The queue.
    pub queue: String,
    /// The function's name within the queue.
    pub function: String,
    /// Arguments as JSON text (validated as JSON; `None`: null).
    pub args: Option<String>,
}

/// A process. Exactly one of `argv` and `command` is given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellSpec {
    /// Program and arguments, run without a shell.
    pub argv: ThinVec<String>,
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
    pub headers: ThinVec<(String, String)>,
    /// Request body.
    pub body: ThinVec<u8>,
    /// Status codes that count as success; empty means any 2xx.
    pub success_codes: ThinVec<u16>,
}

impl ExecutorSpec {
    /// The capability a node needs to run this.
    pub fn capability(&self) -> Capability {
        match self {
            ExecutorSpec::Shell(_) => Capability::Shell,
            ExecutorSpec::Http(_) => Capability::Http,
            ExecutorSpec::Worker(_) => Capability::Worker,
        }
    }

    /// The worker queue and function this runs, if it is a worker job.
    pub fn worker(&self) -> Option<&WorkerSpec> {
        match self {
            ExecutorSpec::Worker(w) => Some(w),
            _ => None,
        }
    }

    /// The kind's name, for metrics and messages: `shell`, `http` or `worker`.
    pub fn kind(&self) -> &'static str {
        self.capability().as_str()
    }
}

impl WorkerSpec {
    /// Why an occurrence of this job could not be given to anyone.
    pub fn no_worker_reason(&self) -> String {
        format!(
            "no worker for queue {} (function {})",
            self.queue, self.function
        )
    }
}
