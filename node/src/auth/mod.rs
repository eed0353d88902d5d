//! Who is calling, and whether they may (docs/security.md, "The rules").
//!
//! - [`policy`]: the one table that says which permission every RPC needs
//!   (default deny: a method without an entry is refused, and a test fails
//!   on any generated method that has none).
//! - [`layer`]: the tower layer in front of every gRPC service that reads
//!   the bearer token (or the connection's certificate), finds the
//!   principal in the replicated state and applies the table.
//! - [`secret`]: token secrets (256 random bits) and their hashes.
//!
//! Calls are checked ("enforced") once the ACL is bootstrapped, or from the
//! start on a node that serves TLS. Before, a node without TLS is open, as
//! a development cluster on a laptop is.

pub mod decide;
pub mod policy;
pub mod secret;

use store::model::{Permission, Role};

/// Who is calling, as the application layer sees it. Never holds a
/// secret in a form that `Debug` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The principal's name: a token's name, a certificate's user,
    /// `node-<id>` for a peer, `anonymous` when nothing is checked.
    pub name: String,
    /// Its role (none for anonymous callers and nodes).
    pub role: Option<Role>,
    /// Whether calls are checked on this node now.
    pub enforced: bool,
    /// A worker token's queues (empty: any).
    pub queues: Vec<String>,
    /// A peer node, authenticated by its certificate.
    pub node: Option<u64>,
    /// The caller's bearer token, passed on when a follower forwards the
    /// call to the leader as a client call (membership changes).
    pub bearer: Option<secret::Bearer>,
}

impl Default for Caller {
    fn default() -> Self {
        Caller::anonymous(false)
    }
}

impl Caller {
    /// Nobody in particular.
    pub fn anonymous(enforced: bool) -> Caller {
        Caller {
            name: "anonymous".into(),
            role: None,
            enforced,
            queues: Vec::new(),
            node: None,
            bearer: None,
        }
    }

    /// Whether the caller holds `p` (always, when nothing is checked).
    pub fn may(&self, p: Permission) -> bool {
        !self.enforced || self.role.is_some_and(|r| r.allows(p))
    }

    /// `cmd` as asked for by this caller: the job and its events record
    /// the principal (audit).
    pub fn by(&self, cmd: store::command::Command) -> store::command::Command {
        store::command::Command::By {
            principal: self.name.clone(),
            cmd: Box::new(cmd),
        }
    }

    /// Whether a worker with this caller's token may serve `queue`.
    pub fn may_serve(&self, queue: &str) -> bool {
        !self.enforced || self.queues.is_empty() || self.queues.iter().any(|q| q == queue)
    }
}

/// A connection's verified certificate identity (a node of the cluster's
/// CA, or a user looked up as a token name), from the TLS acceptor.
pub use crate::tls::CertIdentity as CertPrincipal;
