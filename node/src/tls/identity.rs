//! Whom a certificate names: a node (`urn:schedulerd:node:<id>`) or a user
//! (`urn:schedulerd:user:<name>`), in a SAN URI. See the module docs of
//! [`crate::tls`] for the encoding and the reasons.

use std::fmt;

use rustls::pki_types::CertificateDer;
use store::model::MAX_TOKEN_NAME as MAX_USER_NAME;
use x509_parser::extensions::GeneralName;

/// The SAN URI prefix of a node certificate; the node id follows in decimal.
pub const NODE_URI_PREFIX: &str = "urn:schedulerd:node:";
/// The SAN URI prefix of a user certificate; the user name follows.
pub const USER_URI_PREFIX: &str = "urn:schedulerd:user:";

// Longest user name in a certificate: a token name's limit (a user may
// hold a certificate or a token). The messages below spell out 64.
const _: () = assert!(MAX_USER_NAME == 64);

/// Whom a verified certificate stands for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CertIdentity {
    /// A cluster member, by node id.
    Node(u64),
    /// A user or tool with a client certificate instead of a token.
    User(String),
}

/// Why a certificate names no one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("not a parsable X.509 certificate")]
    Unparsable,
    #[error(
        "the certificate names no one: no SAN URI {NODE_URI_PREFIX}<id> or {USER_URI_PREFIX}<name>"
    )]
    Missing,
    #[error("the certificate names more than one identity: {0} and {1}")]
    Ambiguous(String, String),
    #[error("{uri:?}: a node id is a decimal number of at least 1")]
    BadNodeId { uri: String },
    #[error("user name {name:?}: {reason}")]
    BadUserName { name: String, reason: &'static str },
}

impl CertIdentity {
    /// Whom `cert` names, from its SAN URIs. Call it only on a certificate
    /// that a verifier accepted: this reads, it does not verify.
    pub fn from_der(cert: &CertificateDer<'_>) -> Result<CertIdentity, IdentityError> {
        let (_, parsed) =
            x509_parser::parse_x509_certificate(cert).map_err(|_| IdentityError::Unparsable)?;
        let san = parsed
            .subject_alternative_name()
            .map_err(|_| IdentityError::Unparsable)?;
        let uris = san
            .iter()
            .flat_map(|ext| ext.value.general_names.iter())
            .filter_map(|name| match name {
                GeneralName::URI(uri) => Some(*uri),
                _ => None,
            });
        let mut found: Option<(CertIdentity, &str)> = None;
        for uri in uris {
            let identity = if let Some(id) = uri.strip_prefix(NODE_URI_PREFIX) {
                CertIdentity::Node(parse_node_id(id).ok_or_else(|| IdentityError::BadNodeId {
                    uri: uri.to_string(),
                })?)
            } else if let Some(name) = uri.strip_prefix(USER_URI_PREFIX) {
                check_user_name(name)?;
                CertIdentity::User(name.to_string())
            } else {
                continue;
            };
            if let Some((_, first)) = &found {
                return Err(IdentityError::Ambiguous(first.to_string(), uri.to_string()));
            }
            found = Some((identity, uri));
        }
        found
            .map(|(identity, _)| identity)
            .ok_or(IdentityError::Missing)
    }

    /// The SAN URI that names this identity.
    pub fn uri(&self) -> String {
        match self {
            CertIdentity::Node(id) => format!("{NODE_URI_PREFIX}{id}"),
            CertIdentity::User(name) => format!("{USER_URI_PREFIX}{name}"),
        }
    }
}

impl fmt::Display for CertIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertIdentity::Node(id) => write!(f, "node {id}"),
            CertIdentity::User(name) => write!(f, "user {name}"),
        }
    }
}

/// Digits only (no sign, no leading zero), at least 1.
fn parse_node_id(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// A user name a certificate may carry: 1 to 64 characters from
/// `A-Z a-z 0-9 . _ @ -`.
pub fn check_user_name(name: &str) -> Result<(), IdentityError> {
    let bad = |reason| {
        Err(IdentityError::BadUserName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_USER_NAME {
        return bad("longer than 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
    {
        return bad("only A-Z a-z 0-9 . _ @ - are allowed");
    }
    Ok(())
}
