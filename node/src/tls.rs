//! TLS for every listener and every node-to-node call (docs/security.md,
//! "The rules"): the node's directory of PEM files, the rustls configs built
//! from it, the identity a verified certificate names, reload without a
//! restart, and the transport glue for tonic.
//!
//! # The directory (`--tls-dir DIR`)
//!
//! | file | holds |
//! |---|---|
//! | [`CA_FILE`] `ca.pem` | the cluster CA certificate(s): every one is a trust anchor, so during a CA rotation it may hold the old and the new |
//! | [`CERT_FILE`] `node.pem` | this node's certificate first, then any intermediates |
//! | [`KEY_FILE`] `node-key.pem` | its private key (PKCS#8, PKCS#1 or SEC1) |
//!
//! The CA key never belongs here (`clusterctl certs` keeps it out).
//! cert-manager's `ca.crt`/`tls.crt`/`tls.key` are mapped to these names by
//! the secret volume's `items`.
//!
//! # Identities in certificates
//!
//! A certificate names whom it stands for with one SAN URI:
//!
//! - a node: `urn:schedulerd:node:<id>` ([`NODE_URI_PREFIX`]), the id in
//!   decimal, at least 1. Node certificates carry the EKUs serverAuth and
//!   clientAuth (they serve and they call peers), plus the DNS names and IP
//!   addresses the node is reached at.
//! - a user (a client certificate instead of a token):
//!   `urn:schedulerd:user:<name>` ([`USER_URI_PREFIX`]), a name of 1 to 64
//!   characters from `A-Z a-z 0-9 . _ @ -`; EKU clientAuth only, so a user
//!   certificate cannot serve.
//!
//! A URI and not the CN, because a CN is free text that every issuer fills
//! in somehow (cert-manager copies a DNS name into it), and a certificate
//! that named no one on purpose must not become a user by accident. Other
//! URIs (SPIFFE ids, say) are ignored; a certificate with both kinds, or
//! two of one kind, names no one ([`IdentityError::Ambiguous`]).
//!
//! # Listener and calls
//!
//! The listener's [`ServerConfig`] presents the node certificate and
//! verifies client certificates against the CA *when one is presented*
//! (token-only clients connect without one); ALPN `h2`. Peer services must
//! then require [`CertIdentity::Node`] of the caller's id: that is the
//! authorisation layer's job, with [`PeerInfo`]. The [`ClientConfig`] for
//! node-to-node calls presents the node certificate and verifies the server
//! against the CA and the name dialled.
//!
//! tonic's own `ServerTlsConfig`/`ClientTlsConfig` are not used: they are
//! built once (no reload), and they hand handlers raw certificates only. So
//! the handshake is done here: [`incoming`] for `serve_with_incoming`, which
//! puts a [`PeerInfo`] (address and identity) into every request's
//! extensions, and [`TlsConnector`] for `Endpoint::connect_with_connector`.
//!
//! # Reload
//!
//! [`ReloadingTls`] re-reads the directory every [`RELOAD_EVERY`] and swaps
//! in new configs when the files' *contents* changed and load cleanly; a
//! half-written or mismatched set keeps the old configs and is logged once.
//! New connections get the new configs; open ones keep theirs.
//!
//! Nothing here puts key material into an error or a log line.

pub mod certgen;
mod identity;
mod net;
mod reload;
#[cfg(test)]
mod tests;

pub use identity::{
    CertIdentity, IdentityError, NODE_URI_PREFIX, USER_URI_PREFIX, check_user_name,
};
pub use net::{HANDSHAKE_TIMEOUT, PeerInfo, TlsConn, TlsConnector, incoming, peer_identity};
pub use reload::{RELOAD_EVERY, ReloadingTls, TlsConfigs};

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The cluster CA certificate(s) in a TLS directory.
pub const CA_FILE: &str = "ca.pem";
/// The node's certificate (then intermediates) in a TLS directory.
pub const CERT_FILE: &str = "node.pem";
/// The node's private key in a TLS directory.
pub const KEY_FILE: &str = "node-key.pem";
/// ALPN of every listener and call: gRPC is HTTP/2 only.
pub const ALPN_H2: &[u8] = b"h2";

/// Why TLS material could not be loaded. Every variant names the file; none
/// holds any of a key's bytes.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a valid PEM file ({reason})", path.display())]
    Pem { path: PathBuf, reason: &'static str },
    #[error("{}: no certificate in it (expected a `BEGIN CERTIFICATE` block)", path.display())]
    NoCertificate { path: PathBuf },
    #[error(
        "{}: no private key in it (expected a `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` \
         or `BEGIN EC PRIVATE KEY` block)",
        path.display()
    )]
    NoKey { path: PathBuf },
    #[error("{}: the private key cannot be used: {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{} is not the key of the certificate in {}", key.display(), cert.display())]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("{} is not valid under the CA in {} {usage}: {reason}", cert.display(), ca.display())]
    NotTrusted {
        cert: PathBuf,
        ca: PathBuf,
        /// "as a server" or "as a client".
        usage: &'static str,
        reason: String,
    },
    #[error(
        "{}: {source} (a node certificate needs the SAN URI {NODE_URI_PREFIX}<id>)",
        path.display()
    )]
    NoNodeIdentity {
        path: PathBuf,
        #[source]
        source: IdentityError,
    },
    #[error(
        "{}: names {found}, not a node (a node certificate needs the SAN URI {NODE_URI_PREFIX}<id>)",
        path.display()
    )]
    NotANode { path: PathBuf, found: CertIdentity },
    #[error(
        "{}: names node {new}, but this node is {old}; keeping the old certificate",
        path.display()
    )]
    NodeIdChanged { path: PathBuf, old: u64, new: u64 },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The crypto provider of every config here: ring, as reqwest's (see
/// ARCHITECTURE.md, "Dependencies"). Passed explicitly, so no process-wide
/// default has to be installed.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> =
        LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}

/// A node's TLS directory, loaded and checked: the CA parses, the key is
/// the certificate's, the certificate chains to the CA as a server and as a
/// client and is valid now, and it names a node.
pub struct TlsDir {
    dir: PathBuf,
    ca: Vec<CertificateDer<'static>>,
    roots: Arc<RootCertStore>,
    key: Arc<CertifiedKey>,
    node_id: u64,
    not_after: SystemTime,
    fingerprint: u128,
}

impl fmt::Debug for TlsDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsDir")
            .field("dir", &self.dir)
            .field("node_id", &self.node_id)
            .field("ca_certs", &self.ca.len())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// The three files' bytes, read once, so what is fingerprinted is what is
/// parsed.
pub(crate) struct RawDir {
    pub(crate) ca: Vec<u8>,
    pub(crate) cert: Vec<u8>,
    pub(crate) key: Vec<u8>,
}

impl RawDir {
    pub(crate) fn read(dir: &Path) -> Result<RawDir, TlsError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| TlsError::Read { path, source })
        };
        Ok(RawDir {
            ca: read(CA_FILE)?,
            cert: read(CERT_FILE)?,
            key: read(KEY_FILE)?,
        })
    }

    /// A hash of the contents (not secret-bearing: 128 bits of xxh3 say
    /// nothing usable about a key), to tell whether anything changed.
    pub(crate) fn fingerprint(&self) -> u128 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for part in [&self.ca, &self.cert, &self.key] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.digest128()
    }
}

impl TlsDir {
    /// Loads `dir/ca.pem`, `dir/node.pem` and `dir/node-key.pem` and checks
    /// them (see [`TlsDir`]).
    pub fn load(dir: impl AsRef<Path>) -> Result<TlsDir, TlsError> {
        let dir = dir.as_ref();
        Self::from_raw(dir, &RawDir::read(dir)?)
    }

    pub(crate) fn from_raw(dir: &Path, raw: &RawDir) -> Result<TlsDir, TlsError> {
        let ca_path = dir.join(CA_FILE);
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);

        let ca = parse_certs(&ca_path, &raw.ca)?;
        let roots = Arc::new(root_store(&ca_path, &ca)?);
        let chain = parse_certs(&cert_path, &raw.cert)?;
        let key = parse_key(&key_path, &raw.key)?;

        let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                key: key_path.clone(),
                cert: cert_path.clone(),
            },
            other => TlsError::BadKey {
                path: key_path.clone(),
                reason: other.to_string(),
            },
        })?;
        let chain = &certified.cert;
        check_chain(&cert_path, &ca_path, chain, &roots)?;

        let leaf = &chain[0];
        let node_id = match CertIdentity::from_der(leaf) {
            Ok(CertIdentity::Node(id)) => id,
            Ok(found) => {
                return Err(TlsError::NotANode {
                    path: cert_path,
                    found,
                });
            }
            Err(source) => {
                return Err(TlsError::NoNodeIdentity {
                    path: cert_path,
                    source,
                });
            }
        };
        let not_after = not_after(leaf).map_err(|reason| TlsError::BadCertificate {
            path: cert_path.clone(),
            reason,
        })?;
        Ok(TlsDir {
            dir: dir.to_path_buf(),
            ca,
            roots,
            key: Arc::new(certified),
            node_id,
            not_after,
            fingerprint: raw.fingerprint(),
        })
    }

    /// The directory it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The node id the certificate names.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// When the node certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The CA certificates (the trust anchors), DER.
    pub fn ca_certs(&self) -> &[CertificateDer<'static>] {
        &self.ca
    }

    /// The node certificate chain, leaf first, DER.
    pub fn cert_chain(&self) -> &[CertificateDer<'static>] {
        &self.key.cert
    }

    /// The listener's config: presents the node certificate; verifies a
    /// client certificate against the CA when one is presented, and lets a
    /// client without one in (it must then bring a token); ALPN `h2`.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let verifier = client_verifier(&self.roots)?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(self.key.clone())));
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }

    /// The config of node-to-node calls: presents the node certificate
    /// (mutual TLS) and verifies the server against the CA and the name
    /// dialled; ALPN `h2`.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(self.roots.clone())
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(self.key.clone())));
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }

    pub(crate) fn fingerprint(&self) -> u128 {
        self.fingerprint
    }
}

/// A client config for a user or tool (`clusterctl --tls-ca`): trusts the
/// CA in `ca`, and presents the certificate and key in `identity`, when
/// given, as a user certificate (`clusterctl certs client`); ALPN `h2`.
pub fn client_config_from_files(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let ca_certs = parse_certs(ca, &read(ca)?)?;
    let roots = Arc::new(root_store(ca, &ca_certs)?);
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert_path, key_path)) => {
            let chain = parse_certs(cert_path, &read(cert_path)?)?;
            let key = parse_key(key_path, &read(key_path)?)?;
            let certified =
                CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
                    rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                        key: key_path.to_path_buf(),
                        cert: cert_path.to_path_buf(),
                    },
                    other => TlsError::BadKey {
                        path: key_path.to_path_buf(),
                        reason: other.to_string(),
                    },
                })?;
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
        }
    };
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file (other blocks are skipped).
pub(crate) fn parse_certs(
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            reason: pem_reason(&e),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file.
fn parse_key(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        other => TlsError::Pem {
            path: path.to_path_buf(),
            reason: pem_reason(&other),
        },
    })
}

/// A PEM error, said without the offending bytes: in a key file, those
/// would be key material.
fn pem_reason(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a block has no END line",
        pem::Error::IllegalSectionStart { .. } => "a malformed BEGIN line",
        pem::Error::Base64Decode(_) => "a block is not valid base64",
        pem::Error::NoItemsFound => "no PEM block",
        pem::Error::SectionTooLarge => "a block is too large",
        _ => "unreadable",
    }
}

fn root_store(path: &Path, ca: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in ca.iter().enumerate() {
        roots
            .add(cert.clone())
            .map_err(|e| TlsError::BadCertificate {
                path: path.to_path_buf(),
                reason: format!("certificate {} is not a usable CA: {e}", i + 1),
            })?;
    }
    Ok(roots)
}

fn client_verifier(roots: &Arc<RootCertStore>) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))
}

/// The node certificate must be usable both ways: peers verify it as a
/// server and as a client.
fn check_chain(
    cert_path: &Path,
    ca_path: &Path,
    chain: &[CertificateDer<'static>],
    roots: &Arc<RootCertStore>,
) -> Result<(), TlsError> {
    let not_trusted = |usage, e: rustls::Error| TlsError::NotTrusted {
        cert: cert_path.to_path_buf(),
        ca: ca_path.to_path_buf(),
        usage,
        reason: e.to_string(),
    };
    let now = UnixTime::now();
    // The chain alone: which name a peer dials is the dialler's business.
    let parsed = ParsedCertificate::try_from(&chain[0]).map_err(|e| TlsError::BadCertificate {
        path: cert_path.to_path_buf(),
        reason: e.to_string(),
    })?;
    rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        roots,
        &chain[1..],
        now,
        provider().signature_verification_algorithms.all,
    )
    .map_err(|e| not_trusted("as a server", e))?;
    client_verifier(roots)?
        .verify_client_cert(&chain[0], &chain[1..], now)
        .map_err(|e| not_trusted("as a client", e))?;
    Ok(())
}

/// A certificate's notAfter.
fn not_after(cert: &CertificateDer<'_>) -> Result<SystemTime, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("not a parsable X.509 certificate: {e}"))?;
    let secs = parsed.validity().not_after.timestamp();
    Ok(if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    })
}
