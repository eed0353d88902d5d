//! Access control as the replicated state keeps it: named tokens with a
//! role, stored only as the SHA-256 of the secret (the secret itself is
//! shown once, by the node that made it, and never enters the log).

use serde::{Deserialize, Serialize};

use super::UnixMs;

/// What a principal may do. Each role is a set of permissions
/// ([`Role::allows`]); the policy table in the node says which permission
/// each RPC needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Get, list, watch.
    Reader,
    /// Reader, plus HTTP and worker jobs, pause, resume, run now.
    Writer,
    /// Writer, plus shell jobs.
    Shell,
    /// Worker sessions (for the queues its token names, or any).
    Worker,
    /// Everything: membership, tokens, and all of the above.
    Admin,
}

/// A permission an RPC needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read jobs, runs, events, status, workers.
    Read,
    /// Change jobs (not shell ones).
    Write,
    /// Create or change shell jobs.
    WriteShell,
    /// Open a worker session.
    Work,
    /// Membership and tokens.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Reader,
        Role::Writer,
        Role::Shell,
        Role::Worker,
        Role::Admin,
    ];

    /// Its name: `reader`, `writer`, `shell`, `worker`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Shell => "shell",
            Role::Worker => "worker",
            Role::Admin => "admin",
        }
    }

    /// Parses [`Role::as_str`] names.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role carries `p`.
    pub fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            Role::Reader => p == P::Read,
            Role::Writer => matches!(p, P::Read | P::Write),
            Role::Shell => matches!(p, P::Read | P::Write | P::WriteShell),
            // A worker reads nothing but its own session.
            Role::Worker => p == P::Work,
        }
    }
}

/// One token as the replicated state keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Unique name (also the user a client certificate names).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Lower-case hex SHA-256 of the secret.
    pub hash: String,
    /// For a worker token: the queues it may serve (empty: any).
    pub queues: Vec<String>,
    /// When it was made (the leader's clock).
    pub created_at: UnixMs,
    /// Who made it (`bootstrap` for the first admin token).
    pub created_by: String,
}
