//! Running the harness's clusters with TLS and the ACL on (issue 18: the
//! chaos short profile and `bench lateness` on a secure cluster).
//!
//! [`enable`] makes a CA, one certificate per node (`<root>/tls-<id>`, for
//! `--tls-dir`) and a client certificate for the user [`USER`], and
//! switches this process's clients to mutual TLS with it. Once a cluster
//! has formed, [`bootstrap`] creates the cluster's first admin token under
//! the same name, so the certificate alone authenticates every call of the
//! harness (the workload, observers, workers, status polls) as an admin:
//! no call site handles a token. Every client of the harness connects
//! through [`connect`] (or [`connect_with`]), plain or secure alike.
//!
//! The switch is process-wide (a `OnceLock`): each test binary and each
//! `chaos`/`bench` run is its own process.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use node::tls::certgen::{Ca, Validity, write_client_dir, write_node_dir};
use proto::v1 as pb;
use proto::v1::acl_service_client::AclServiceClient;
use tonic::transport::{Channel, Endpoint};

/// The harness's user: its certificate's name and its admin token's.
pub const USER: &str = "chaos";

struct Secure {
    root: PathBuf,
    client: Arc<rustls::ClientConfig>,
}

static SECURE: OnceLock<Secure> = OnceLock::new();

/// Makes the CA and certificates for nodes `1..=max_node` under `root`
/// and switches this process's clients to TLS. Once on, it stays on with
/// the first root's certificates.
pub fn enable(root: &Path, max_node: u64) -> anyhow::Result<()> {
    if SECURE.get().is_some() {
        // On already: its certificates serve any cluster of this process
        // (node ids are 1..=n in every one).
        return Ok(());
    }
    let ca = Ca::generate("chaos cluster", Validity::days(2))?;
    let hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    for id in 1..=max_node {
        let leaf = ca.node(id, &hosts, Validity::days(2))?;
        write_node_dir(&root.join(format!("tls-{id}")), &ca, &leaf)?;
    }
    let user = ca.user(USER, Validity::days(2))?;
    let dir = root.join("client");
    write_client_dir(&dir, &ca, &user)?;
    let client = node::tls::client_config_from_files(
        &dir.join("ca.pem"),
        Some((&dir.join("client.pem"), &dir.join("client-key.pem"))),
    )?;
    let _ = SECURE.set(Secure {
        root: root.to_path_buf(),
        client,
    });
    Ok(())
}

/// Switches this process's clients to TLS with the client certificate
/// that [`enable`] wrote into `dir` (a worker process of a secure run).
pub fn use_client_dir(dir: &Path) -> anyhow::Result<()> {
    let client = node::tls::client_config_from_files(
        &dir.join("ca.pem"),
        Some((&dir.join("client.pem"), &dir.join("client-key.pem"))),
    )?;
    let root = dir.parent().unwrap_or(dir).to_path_buf();
    let _ = SECURE.set(Secure { root, client });
    Ok(())
}

/// The directory of the harness's client certificate, when TLS is on.
pub fn client_dir() -> Option<PathBuf> {
    SECURE.get().map(|s| s.root.join("client"))
}

/// Whether this process's clients use TLS.
pub fn enabled() -> bool {
    SECURE.get().is_some()
}

/// `--tls-dir` for node `id` when TLS is on; nothing otherwise.
pub fn node_args(id: u64) -> Vec<String> {
    match SECURE.get() {
        Some(s) => vec![
            "--tls-dir".into(),
            s.root.join(format!("tls-{id}")).display().to_string(),
        ],
        None => Vec::new(),
    }
}

fn endpoint(addr: &str) -> Result<Endpoint, tonic::transport::Error> {
    Endpoint::from_shared(format!("http://{addr}"))
}

/// A connected channel to `addr`: mutual TLS with the harness's
/// certificate when TLS is on, plaintext otherwise.
pub async fn connect(addr: &str) -> Result<Channel, tonic::transport::Error> {
    connect_with(addr, |e| e).await
}

/// [`connect`], with the endpoint configured by `configure` (timeouts).
pub async fn connect_with(
    addr: &str,
    configure: impl FnOnce(Endpoint) -> Endpoint,
) -> Result<Channel, tonic::transport::Error> {
    let ep = configure(endpoint(addr)?);
    match SECURE.get() {
        Some(s) => {
            ep.connect_with_connector(node::tls::TlsConnector::new(s.client.clone()))
                .await
        }
        None => ep.connect().await,
    }
}

/// Creates the cluster's first admin token, named [`USER`] (so the
/// harness's certificate carries the admin role), through `addr`. A
/// cluster bootstrapped already (a restart) is fine.
pub async fn bootstrap(addr: &str) -> anyhow::Result<()> {
    if !enabled() {
        return Ok(());
    }
    let mut acl = AclServiceClient::new(connect(addr).await?);
    match acl
        .bootstrap(pb::AclBootstrapRequest { name: USER.into() })
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == tonic::Code::FailedPrecondition => Ok(()),
        Err(e) => Err(anyhow::anyhow!("ACL bootstrap through {addr}: {e}")),
    }
}
