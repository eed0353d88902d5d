//! The access-control part of the state: whether the ACL was
//! bootstrapped, and the tokens by name (with an index by hash, rebuilt on
//! decode). Only hashes are kept; see [`crate::model::TokenRecord`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{CommandError, Response};
use crate::model::{MAX_TOKENS, TokenRecord};

use super::State;

/// Tokens and the bootstrap flag, as replicated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// Set by the first (and only) bootstrap; stays set when its token is
    /// revoked, so a bootstrap can never be replayed to take a cluster over.
    pub bootstrapped: bool,
    /// By name.
    pub tokens: BTreeMap<String, TokenRecord>,
}

impl State {
    pub(super) fn acl_bootstrap(&mut self, token: &TokenRecord) -> Response {
        if self.acl.bootstrapped {
            return Response::Error(CommandError::AclBootstrapped);
        }
        self.acl.bootstrapped = true;
        self.insert_token(token.clone());
        Response::Ok
    }

    pub(super) fn create_token(&mut self, token: &TokenRecord) -> Response {
        if self.acl.tokens.contains_key(&token.name) {
            return Response::Error(CommandError::TokenExists(token.name.clone()));
        }
        if self.acl.tokens.len() >= MAX_TOKENS {
            return Response::Error(CommandError::TooManyTokens(MAX_TOKENS));
        }
        self.insert_token(token.clone());
        Response::Ok
    }

    pub(super) fn revoke_token(&mut self, name: &str) -> Response {
        match self.acl.tokens.remove(name) {
            Some(t) => {
                self.token_by_hash.remove(&t.hash);
                Response::Ok
            }
            None => Response::Error(CommandError::TokenNotFound(name.to_string())),
        }
    }

    fn insert_token(&mut self, token: TokenRecord) {
        self.token_by_hash
            .insert(token.hash.clone(), token.name.clone());
        self.acl.tokens.insert(token.name.clone(), token);
    }

    /// Whether the ACL was bootstrapped (from then on every call needs a
    /// principal).
    pub fn acl_bootstrapped(&self) -> bool {
        self.acl.bootstrapped
    }

    /// The token whose secret hashes to `hash` (lower-case hex SHA-256).
    pub fn token_by_hash(&self, hash: &str) -> Option<&TokenRecord> {
        let name = self.token_by_hash.get(hash)?;
        self.acl.tokens.get(name)
    }

    /// The token named `name` (a client certificate's user is looked up
    /// by name).
    pub fn token(&self, name: &str) -> Option<&TokenRecord> {
        self.acl.tokens.get(name)
    }

    /// Every token, by name.
    pub fn tokens(&self) -> impl Iterator<Item = &TokenRecord> {
        self.acl.tokens.values()
    }
}
