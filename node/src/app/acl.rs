//! Tokens: the first admin token, named tokens with a role, revocation.
//! A secret is made here, returned once, and only its SHA-256 enters the
//! log; nothing here logs a secret.

use store::command::{Command, Response as CmdResponse};
use store::model::{MAX_TOKEN_NAME, MAX_TOKEN_QUEUES, Role, TokenRecord, validate_name};

use super::{ApiError, App, Caller};
use crate::auth::secret;
use crate::node::now_ms;

/// A new token and its secret, shown this once.
pub struct NewToken {
    /// As the state keeps it.
    pub record: TokenRecord,
    /// The secret to pass as `authorization: Bearer ...`.
    pub secret: String,
}

fn ok_of(r: CmdResponse) -> Result<(), ApiError> {
    match r {
        CmdResponse::Ok => Ok(()),
        CmdResponse::Error(e) => Err(e.into()),
        other => Err(ApiError::Internal(format!("unexpected response {other:?}"))),
    }
}

impl App {
    fn new_token(
        &self,
        name: &str,
        role: Role,
        queues: Vec<String>,
        by: &str,
    ) -> Result<NewToken, ApiError> {
        validate_name("name", name, MAX_TOKEN_NAME)?;
        if queues.len() > MAX_TOKEN_QUEUES {
            return Err(ApiError::invalid(
                "queues",
                format!("at most {MAX_TOKEN_QUEUES} queues, got {}", queues.len()),
            ));
        }
        for (i, q) in queues.iter().enumerate() {
            validate_name(&format!("queues[{i}]"), q, store::model::MAX_QUEUE_LEN)?;
        }
        if !queues.is_empty() && role != Role::Worker {
            return Err(ApiError::invalid(
                "queues",
                format!(
                    "only a worker token names queues, not a {} token",
                    role.as_str()
                ),
            ));
        }
        let secret = secret::new_secret()
            .map_err(|e| ApiError::Internal(format!("no randomness from the OS: {e}")))?;
        Ok(NewToken {
            record: TokenRecord {
                name: name.to_string(),
                role,
                hash: secret::hash(&secret),
                queues,
                created_at: now_ms(),
                created_by: by.to_string(),
            },
            secret,
        })
    }

    /// Makes the first admin token, once per cluster.
    pub async fn acl_bootstrap(&self, _caller: &Caller, name: &str) -> Result<NewToken, ApiError> {
        let name = if name.is_empty() { "admin" } else { name };
        let t = self.new_token(name, Role::Admin, Vec::new(), "bootstrap")?;
        let w = self
            .writes
            .write(Command::AclBootstrap {
                token: t.record.clone(),
            })
            .await?;
        ok_of(w.response)?;
        tracing::info!(name, "ACL bootstrapped: calls are checked from now on");
        Ok(t)
    }

    /// Makes a token named `name` with `role` (`reader`, `writer`,
    /// `shell`, `worker`, `admin`).
    pub async fn create_token(
        &self,
        caller: &Caller,
        name: &str,
        role: &str,
        queues: Vec<String>,
    ) -> Result<NewToken, ApiError> {
        let Some(role) = Role::parse(role) else {
            return Err(ApiError::invalid(
                "role",
                format!("{role:?} is not a role; use reader, writer, shell, worker or admin"),
            ));
        };
        let t = self.new_token(name, role, queues, &caller.name)?;
        let w = self
            .writes
            .write(Command::CreateToken {
                token: t.record.clone(),
            })
            .await?;
        ok_of(w.response)?;
        tracing::info!(name, role = role.as_str(), by = %caller.name, "token created");
        Ok(t)
    }

    /// Every token, by name, from this node's applied state.
    pub fn list_tokens(&self, _caller: &Caller) -> Vec<TokenRecord> {
        self.node.state.read(|s| s.tokens().cloned().collect())
    }

    /// Revokes the token `name`; every node refuses it once applied.
    pub async fn revoke_token(&self, caller: &Caller, name: &str) -> Result<(), ApiError> {
        validate_name("name", name, MAX_TOKEN_NAME)?;
        let w = self
            .writes
            .write(Command::RevokeToken {
                name: name.to_string(),
            })
            .await?;
        ok_of(w.response)?;
        tracing::info!(name, by = %caller.name, "token revoked");
        Ok(())
    }
}
