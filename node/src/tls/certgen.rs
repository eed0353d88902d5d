//! Certificates for a dev cluster or bare machines, with rcgen: a cluster
//! CA, node certificates and user (client) certificates, in the encoding
//! of [`crate::tls`]. `clusterctl certs` and the tests use it; Kubernetes
//! uses cert-manager instead.
//!
//! Keys are ECDSA P-256 (PKCS#8 PEM). Key files are written with mode 0600
//! and every file is written to a temporary name and renamed, so a node
//! that reloads its directory never reads half a file. The CA key
//! (`ca-key.pem`) is written only by [`Ca::write`]; node and client
//! directories get a copy of `ca.pem` and never the key.

use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::ServerName;
use time::OffsetDateTime;

use super::identity::{CertIdentity, IdentityError, check_user_name};
use super::{CA_FILE, CERT_FILE, KEY_FILE};

/// The CA's private key, beside `ca.pem`, in the CA's directory only.
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// A user's certificate in a client directory.
pub const CLIENT_CERT_FILE: &str = "client.pem";
/// A user's private key in a client directory.
pub const CLIENT_KEY_FILE: &str = "client-key.pem";
/// Default validity of a CA, in days (10 years).
pub const CA_DAYS: u32 = 3650;
/// Default validity of a node or client certificate, in days (1 year).
pub const LEAF_DAYS: u32 = 365;
/// Certificates start this long before they are made, for clocks behind.
const BACKDATE: Duration = Duration::from_secs(3600);

/// Why certificates could not be made or written. Never holds key bytes.
#[derive(Debug, thiserror::Error)]
pub enum CertGenError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    BadCa { path: PathBuf, reason: String },
    #[error("{} is not the key of the CA certificate in {}", key.display(), cert.display())]
    CaKeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("{} exists; refusing to replace a CA (every certificate it signed would stop working)", path.display())]
    CaExists { path: PathBuf },
    #[error(
        "{} holds the CA key ({CA_KEY_FILE}): write node and client certificates to another \
         directory, so the CA key stays off the machines that use them",
        dir.display()
    )]
    CaKeyInOut { dir: PathBuf },
    #[error("host {host:?}: not a DNS name or an IP address")]
    BadHost { host: String },
    #[error(
        "a node certificate needs at least one --host (a DNS name or IP address peers and clients dial)"
    )]
    NoHosts,
    #[error("node id {0}: node ids start at 1")]
    BadNodeId(u64),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("validity: {0}")]
    Validity(String),
    #[error("certificate generation: {0}")]
    Generate(String),
}

/// When a certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    /// From an hour ago (clocks behind) to `days` days from now.
    pub fn days(days: u32) -> Validity {
        let now = SystemTime::now();
        Validity {
            not_before: now - BACKDATE,
            not_after: now + Duration::from_secs(u64::from(days) * 86_400),
        }
    }

    fn apply(&self, params: &mut CertificateParams) -> Result<(), CertGenError> {
        if self.not_after <= self.not_before {
            return Err(CertGenError::Validity(
                "it must end after it starts (--days at least 1)".into(),
            ));
        }
        params.not_before = OffsetDateTime::from(self.not_before);
        params.not_after = OffsetDateTime::from(self.not_after);
        Ok(())
    }
}

/// A certificate and its key, PEM. The key is secret: [`fmt::Debug`]
/// leaves it out.
pub struct Leaf {
    cert_pem: String,
    key_pem: String,
}

impl Leaf {
    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PEM (PKCS#8). Secret.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
}

impl fmt::Debug for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leaf").finish_non_exhaustive()
    }
}

/// A cluster CA: its certificate and signing key.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl Ca {
    /// A new self-signed CA named `name` (its CN). It signs leaves only
    /// (path length 0).
    pub fn generate(name: &str, validity: Validity) -> Result<Ca, CertGenError> {
        let key = KeyPair::generate().map_err(generate)?;
        let mut params = CertificateParams::default();
        validity.apply(&mut params)?;
        params.distinguished_name = dn(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(generate)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA in `dir` (`ca.pem` and `ca-key.pem`), as [`Ca::write`] left it.
    pub fn load(dir: &Path) -> Result<Ca, CertGenError> {
        let cert_path = dir.join(CA_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| CertGenError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read(&cert_path)?;
        let key_pem = read(&key_path)?;
        // rcgen's parse errors may quote the input: say what is wrong
        // without them.
        let key = KeyPair::from_pem(&key_pem).map_err(|_| CertGenError::BadCa {
            path: key_path.clone(),
            reason: "not a PEM private key that can sign (PKCS#8: ECDSA P-256/P-384, \
                     Ed25519 or RSA)"
                .into(),
        })?;
        let certs = super::parse_certs(&cert_path, cert_pem.as_bytes()).map_err(|e| {
            CertGenError::BadCa {
                path: cert_path.clone(),
                reason: e.to_string(),
            }
        })?;
        // The first certificate is the one `ca-key.pem` signs with.
        let ca_der = &certs[0];
        let (_, parsed) =
            x509_parser::parse_x509_certificate(ca_der).map_err(|e| CertGenError::BadCa {
                path: cert_path.clone(),
                reason: format!("not a parsable X.509 certificate: {e}"),
            })?;
        if !parsed.is_ca() {
            return Err(CertGenError::BadCa {
                path: cert_path,
                reason: "not a CA certificate (no basicConstraints CA:TRUE)".into(),
            });
        }
        if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(CertGenError::CaKeyMismatch {
                key: key_path,
                cert: cert_path,
            });
        }
        let issuer = Issuer::from_ca_cert_der(ca_der, key).map_err(|e| CertGenError::BadCa {
            path: cert_path.clone(),
            reason: e.to_string(),
        })?;
        // `ca.pem` goes to node and client directories as it is: during a
        // CA rotation it may hold the next CA too.
        Ok(Ca { cert_pem, issuer })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key, PEM (PKCS#8). Secret.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Writes `ca.pem` and `ca-key.pem` (mode 0600) into `dir`, created
    /// (mode 0700) if missing. Refuses to replace an existing CA unless
    /// `replace`.
    pub fn write(&self, dir: &Path, replace: bool) -> Result<Vec<PathBuf>, CertGenError> {
        let cert = dir.join(CA_FILE);
        let key = dir.join(CA_KEY_FILE);
        if !replace {
            for path in [&key, &cert] {
                if path.exists() {
                    return Err(CertGenError::CaExists { path: path.clone() });
                }
            }
        }
        create_dir(dir)?;
        write_file(&key, self.key_pem().as_bytes(), 0o600)?;
        write_file(&cert, self.cert_pem.as_bytes(), 0o644)?;
        Ok(vec![cert, key])
    }

    /// A node certificate: SAN URI `urn:schedulerd:node:<id>`, a DNS or IP
    /// SAN per host, EKUs serverAuth and clientAuth.
    pub fn node(
        &self,
        id: u64,
        hosts: &[String],
        validity: Validity,
    ) -> Result<Leaf, CertGenError> {
        if id == 0 {
            return Err(CertGenError::BadNodeId(id));
        }
        if hosts.is_empty() {
            return Err(CertGenError::NoHosts);
        }
        let mut sans = vec![uri_san(&CertIdentity::Node(id))?];
        for host in hosts {
            sans.push(host_san(host)?);
        }
        self.leaf(
            &format!("schedulerd node {id}"),
            sans,
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            validity,
        )
    }

    /// A user's client certificate: SAN URI `urn:schedulerd:user:<name>`
    /// (and CN `name`), EKU clientAuth only.
    pub fn user(&self, name: &str, validity: Validity) -> Result<Leaf, CertGenError> {
        check_user_name(name)?;
        self.leaf(
            name,
            vec![uri_san(&CertIdentity::User(name.to_string()))?],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
            validity,
        )
    }

    fn leaf(
        &self,
        cn: &str,
        sans: Vec<SanType>,
        ekus: Vec<ExtendedKeyUsagePurpose>,
        validity: Validity,
    ) -> Result<Leaf, CertGenError> {
        let key = KeyPair::generate().map_err(generate)?;
        let mut params = CertificateParams::default();
        validity.apply(&mut params)?;
        params.distinguished_name = dn(cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.subject_alt_names = sans;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = ekus;
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).map_err(generate)?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Writes a node's TLS directory: `ca.pem`, `node.pem` and `node-key.pem`
/// (mode 0600), as `schedulerd --tls-dir` reads it.
pub fn write_node_dir(out: &Path, ca: &Ca, node: &Leaf) -> Result<Vec<PathBuf>, CertGenError> {
    write_leaf_dir(out, ca, node, CERT_FILE, KEY_FILE)
}

/// Writes a user's directory: `ca.pem`, `client.pem` and `client-key.pem`
/// (mode 0600).
pub fn write_client_dir(out: &Path, ca: &Ca, user: &Leaf) -> Result<Vec<PathBuf>, CertGenError> {
    write_leaf_dir(out, ca, user, CLIENT_CERT_FILE, CLIENT_KEY_FILE)
}

fn write_leaf_dir(
    out: &Path,
    ca: &Ca,
    leaf: &Leaf,
    cert_name: &str,
    key_name: &str,
) -> Result<Vec<PathBuf>, CertGenError> {
    if out.join(CA_KEY_FILE).exists() {
        return Err(CertGenError::CaKeyInOut {
            dir: out.to_path_buf(),
        });
    }
    create_dir(out)?;
    let (ca_path, cert, key) = (out.join(CA_FILE), out.join(cert_name), out.join(key_name));
    write_file(&ca_path, ca.cert_pem.as_bytes(), 0o644)?;
    write_file(&key, leaf.key_pem.as_bytes(), 0o600)?;
    write_file(&cert, leaf.cert_pem.as_bytes(), 0o644)?;
    Ok(vec![ca_path, cert, key])
}

/// Writes `contents` to `path` with `mode`: to a temporary file beside it
/// (created with that mode, so a key is never readable by others, even
/// briefly), synced, then renamed over `path`.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), CertGenError> {
    let err = |source| CertGenError::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| err(std::io::Error::other("not a file path")))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

fn create_dir(dir: &Path) -> Result<(), CertGenError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| CertGenError::Write {
            path: dir.to_path_buf(),
            source,
        })
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn uri_san(identity: &CertIdentity) -> Result<SanType, CertGenError> {
    Ok(SanType::URI(identity.uri().try_into().map_err(generate)?))
}

/// An IP address SAN, or a DNS name SAN that rustls would dial by.
fn host_san(host: &str) -> Result<SanType, CertGenError> {
    let bad = || CertGenError::BadHost {
        host: host.to_string(),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    match ServerName::try_from(host) {
        Ok(ServerName::DnsName(_)) => Ok(SanType::DnsName(
            host.to_string().try_into().map_err(|_| bad())?,
        )),
        _ => Err(bad()),
    }
}

fn generate(e: rcgen::Error) -> CertGenError {
    CertGenError::Generate(e.to_string())
}
