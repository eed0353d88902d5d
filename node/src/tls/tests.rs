//! Certificates made per test with rcgen, in temp dirs; handshakes over
//! in-memory pipes and loopback TCP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ServerConfig};
use tokio::net::TcpListener;
use tokio_stream::StreamExt;

use super::certgen::{self, Ca, CertGenError, Validity};
use super::*;

fn ca(name: &str) -> Ca {
    Ca::generate(name, Validity::days(30)).unwrap()
}

fn hosts() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into()]
}

/// A node directory under `root` for node `id`, signed by `ca`.
fn node_dir(root: &Path, ca: &Ca, id: u64) -> PathBuf {
    let dir = root.join(format!("node{id}"));
    let leaf = ca.node(id, &hosts(), Validity::days(30)).unwrap();
    certgen::write_node_dir(&dir, ca, &leaf).unwrap();
    dir
}

/// A client directory under `root` for user `name`, signed by `ca`,
/// trusting `trust` (the cluster's CA) for the server.
fn user_config(
    root: &Path,
    ca: &Ca,
    trust: &Ca,
    name: &str,
    validity: Validity,
) -> Arc<ClientConfig> {
    let dir = root.join(format!("user-{name}"));
    let leaf = ca.user(name, validity).unwrap();
    certgen::write_client_dir(&dir, trust, &leaf).unwrap();
    client_config_from_files(
        &dir.join(CA_FILE),
        Some((
            &dir.join(certgen::CLIENT_CERT_FILE),
            &dir.join(certgen::CLIENT_KEY_FILE),
        )),
    )
    .unwrap()
}

struct Outcome {
    server: Result<tokio_rustls::server::TlsStream<tokio::io::DuplexStream>, std::io::Error>,
    client: Result<tokio_rustls::client::TlsStream<tokio::io::DuplexStream>, std::io::Error>,
}

impl Outcome {
    fn server_peer(&self) -> Option<CertIdentity> {
        let stream = self.server.as_ref().expect("server handshake");
        let certs = stream.get_ref().1.peer_certificates()?;
        Some(CertIdentity::from_der(&certs[0]).unwrap())
    }

    fn server_error(&self) -> String {
        match &self.server {
            Ok(_) => panic!("the server accepted the handshake"),
            Err(e) => e.to_string(),
        }
    }
}

/// One handshake over an in-memory pipe, dialling `name`.
async fn handshake(server: Arc<ServerConfig>, client: Arc<ClientConfig>, name: &str) -> Outcome {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let name = ServerName::try_from(name.to_string()).unwrap();
    let (server, client) = tokio::join!(
        tokio_rustls::TlsAcceptor::from(server).accept(a),
        tokio_rustls::TlsConnector::from(client).connect(name, b),
    );
    Outcome { server, client }
}

#[tokio::test]
async fn nodes_handshake_mutually_and_name_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca("test CA");
    let one = TlsDir::load(node_dir(tmp.path(), &ca, 1)).unwrap();
    let two = TlsDir::load(node_dir(tmp.path(), &ca, 2)).unwrap();
    assert_eq!((one.node_id(), two.node_id()), (1, 2));

    for name in ["localhost", "127.0.0.1"] {
        let out = handshake(
            one.server_config().unwrap(),
            two.client_config().unwrap(),
            name,
        )
        .await;
        assert_eq!(
            out.server_peer(),
            Some(CertIdentity::Node(2)),
            "dialling {name}"
        );
        let client = out.client.as_ref().expect("client handshake");
        let server_cert = &client.get_ref().1.peer_certificates().unwrap()[0];
        assert_eq!(
            CertIdentity::from_der(server_cert).unwrap(),
            CertIdentity::Node(1)
        );
        assert_eq!(client.get_ref().1.alpn_protocol(), Some(ALPN_H2));
    }
}

#[tokio::test]
async fn a_server_name_the_certificate_does_not_list_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca("test CA");
    let one = TlsDir::load(node_dir(tmp.path(), &ca, 1)).unwrap();
    let two = TlsDir::load(node_dir(tmp.path(), &ca, 2)).unwrap();
    let out = handshake(
        one.server_config().unwrap(),
        two.client_config().unwrap(),
        "elsewhere.example",
    )
    .await;
    let Err(err) = out.client else {
        panic!("the client accepted a certificate without the name it dialled")
    };
    let err = err.to_string();
    assert!(err.contains("not valid for name"), "{err}");
}

#[tokio::test]
async fn a_client_without_certificate_connects_and_names_no_one() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca("test CA");
    let dir = node_dir(tmp.path(), &ca, 1);
    let server = TlsDir::load(&dir).unwrap().server_config().unwrap();
    let token_only = client_config_from_files(&dir.join(CA_FILE), None).unwrap();
    let out = handshake(server, token_only, "localhost").await;
    assert!(out.client.is_ok());
    assert_eq!(out.server_peer(), None);
}

#[tokio::test]
async fn a_user_certificate_names_the_user() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca("test CA");
    let server = TlsDir::load(node_dir(tmp.path(), &ca, 1))
        .unwrap()
        .server_config()
        .unwrap();
    let alice = user_config(tmp.path(), &ca, &ca, "alice", Validity::days(1));
    let out = handshake(server, alice, "localhost").await;
    assert_eq!(out.server_peer(), Some(CertIdentity::User("alice".into())));
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca_ = ca("test CA");
    let foreign = ca("foreign CA");
    let server = TlsDir::load(node_dir(tmp.path(), &ca_, 1))
        .unwrap()
        .server_config()
        .unwrap();
    // Trusts the cluster's CA for the server, but its own certificate is
    // the foreign CA's.
    let mallory = user_config(tmp.path(), &foreign, &ca_, "mallory", Validity::days(1));
    let out = handshake(server.clone(), mallory, "localhost").await;
    let err = out.server_error();
    assert!(err.contains("UnknownIssuer"), "{err}");

    // A whole node directory of the foreign CA: refused both ways.
    let intruder = TlsDir::load(node_dir(&tmp.path().join("foreign"), &foreign, 9)).unwrap();
    let out = handshake(server, intruder.client_config().unwrap(), "localhost").await;
    assert!(out.client.is_err());
    assert!(out.server.is_err());
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ca("test CA");
    let server = TlsDir::load(node_dir(tmp.path(), &ca, 1))
        .unwrap()
        .server_config()
        .unwrap();
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let expired = Validity {
        not_before: now - 10 * day,
        not_after: now - day,
    };
    let bob = user_config(tmp.path(), &ca, &ca, "bob", expired);
    let out = handshake(server, bob, "localhost").await;
    let err = out.server_error();
    assert!(err.to_lowercase().contains("expired"), "{err}");

    // An expired node certificate does not even load, and says why.
    let dir = tmp.path().join("old-node");
    let leaf = ca.node(3, &hosts(), expired).unwrap();
    certgen::write_node_dir(&dir, &ca, &leaf).unwrap();
    let err = TlsDir::load(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::NotTrusted {
                usage: "as a server",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("node.pem") && text.to_lowercase().contains("expired"),
        "{text}"
    );
}

/// A self-signed certificate with these SAN URIs.
fn cert_with_uris(uris: &[&str]) -> CertificateDer<'static> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = uris
        .iter()
        .map(|u| SanType::URI(u.to_string().try_into().unwrap()))
        .collect();
    params.self_signed(&key).unwrap().der().clone()
}

#[test]
fn identities_are_read_from_san_uris() {
    let ca = ca("test CA");
    let node = ca.node(7, &hosts(), Validity::days(1)).unwrap();
    let node = CertificateDer::from_pem_slice(node.cert_pem().as_bytes()).unwrap();
    assert_eq!(CertIdentity::from_der(&node), Ok(CertIdentity::Node(7)));
    let user = ca.user("ci-bot@example", Validity::days(1)).unwrap();
    let user = CertificateDer::from_pem_slice(user.cert_pem().as_bytes()).unwrap();
    assert_eq!(
        CertIdentity::from_der(&user),
        Ok(CertIdentity::User("ci-bot@example".into()))
    );

    let id = |uris: &[&str]| CertIdentity::from_der(&cert_with_uris(uris));
    assert_eq!(
        id(&["spiffe://x/y", "urn:schedulerd:node:42"]),
        Ok(CertIdentity::Node(42))
    );
    assert_eq!(id(&[]), Err(IdentityError::Missing));
    assert_eq!(id(&["spiffe://x/y"]), Err(IdentityError::Missing));
    assert!(matches!(
        id(&["urn:schedulerd:node:1", "urn:schedulerd:user:root"]),
        Err(IdentityError::Ambiguous(..))
    ));
    assert!(matches!(
        id(&["urn:schedulerd:node:1", "urn:schedulerd:node:2"]),
        Err(IdentityError::Ambiguous(..))
    ));
    for bad in ["0", "+5", "05", "", "1x", "99999999999999999999999"] {
        let uri = format!("urn:schedulerd:node:{bad}");
        assert!(
            matches!(id(&[&uri]), Err(IdentityError::BadNodeId { .. })),
            "{uri}"
        );
    }
    assert!(matches!(
        id(&["urn:schedulerd:user:a/b"]),
        Err(IdentityError::BadUserName { .. })
    ));
    assert_eq!(
        CertIdentity::from_der(&CertificateDer::from(vec![1, 2, 3])),
        Err(IdentityError::Unparsable)
    );
    assert_eq!(CertIdentity::Node(3).uri(), "urn:schedulerd:node:3");
    assert_eq!(CertIdentity::User("a".into()).to_string(), "user a");
}

#[test]
fn load_errors_name_the_file_and_never_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let ca_ = ca("test CA");
    let dir = node_dir(tmp.path(), &ca_, 1);
    let key_path = dir.join(KEY_FILE);
    let key_pem = std::fs::read_to_string(&key_path).unwrap();

    // Missing file.
    std::fs::remove_file(&key_path).unwrap();
    let err = TlsDir::load(&dir).unwrap_err();
    assert!(
        matches!(&err, TlsError::Read { path, .. } if path == &key_path),
        "{err:?}"
    );
    assert!(err.to_string().contains("node-key.pem"));

    // A corrupted key: the message says what is wrong, and quotes nothing.
    let body: Vec<&str> = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let corrupted = key_pem.replacen(&body[0][..8], "!!!!!!!!", 1);
    std::fs::write(&key_path, &corrupted).unwrap();
    let err = TlsDir::load(&dir).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("node-key.pem"), "{text}");
    for line in &body {
        for chunk in line.as_bytes().chunks(8) {
            let chunk = std::str::from_utf8(chunk).unwrap();
            assert!(
                chunk.len() < 8 || !text.contains(chunk),
                "key bytes in {text}"
            );
        }
    }

    // No key at all.
    std::fs::write(&key_path, ca_.cert_pem()).unwrap();
    assert!(matches!(
        TlsDir::load(&dir).unwrap_err(),
        TlsError::NoKey { .. }
    ));

    // Another certificate's key.
    let other = ca_.node(1, &hosts(), Validity::days(1)).unwrap();
    std::fs::write(&key_path, other.key_pem()).unwrap();
    let err = TlsDir::load(&dir).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");

    // A user's certificate is not a node's.
    let user = ca_.user("alice", Validity::days(1)).unwrap();
    std::fs::write(dir.join(CERT_FILE), user.cert_pem()).unwrap();
    std::fs::write(&key_path, user.key_pem()).unwrap();
    let err = TlsDir::load(&dir).unwrap_err();
    // It has no serverAuth EKU, so it fails as a server first.
    assert!(
        matches!(
            err,
            TlsError::NotTrusted {
                usage: "as a server",
                ..
            }
        ),
        "{err:?}"
    );

    // Not PEM at all.
    std::fs::write(dir.join(CA_FILE), "hello").unwrap();
    let err = TlsDir::load(&dir).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
    assert!(err.to_string().contains("ca.pem"));

    // Debug output of a loaded dir shows no key.
    let dir = node_dir(tmp.path(), &ca_, 2);
    let loaded = TlsDir::load(&dir).unwrap();
    let debug = format!("{loaded:?} {:?}", ReloadingTls::load(&dir).unwrap());
    assert!(!debug.contains("PRIVATE"), "{debug}");
}

#[test]
fn generation_writes_private_files_and_keeps_the_ca_key_home() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let ca_dir = tmp.path().join("ca");
    let ca_ = ca("test CA");
    ca_.write(&ca_dir, false).unwrap();
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(ca_dir.join(certgen::CA_KEY_FILE)), 0o600);
    assert_eq!(mode(ca_dir.join(CA_FILE)), 0o644);
    assert!(matches!(
        ca_.write(&ca_dir, false),
        Err(CertGenError::CaExists { .. })
    ));

    // Loaded back, it signs certificates that the dirs it wrote accept.
    let loaded = Ca::load(&ca_dir).unwrap();
    let leaf = loaded.node(5, &hosts(), Validity::days(1)).unwrap();
    assert!(matches!(
        certgen::write_node_dir(&ca_dir, &loaded, &leaf),
        Err(CertGenError::CaKeyInOut { .. })
    ));
    let node = tmp.path().join("node5");
    let files = certgen::write_node_dir(&node, &loaded, &leaf).unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(mode(node.join(KEY_FILE)), 0o600);
    assert!(!node.join(certgen::CA_KEY_FILE).exists());
    assert_eq!(TlsDir::load(&node).unwrap().node_id(), 5);

    // A CA key that is not the CA certificate's.
    let other = ca("other CA");
    std::fs::write(ca_dir.join(certgen::CA_KEY_FILE), other.key_pem()).unwrap();
    assert!(matches!(
        Ca::load(&ca_dir),
        Err(CertGenError::CaKeyMismatch { .. })
    ));

    assert!(matches!(
        ca_.node(1, &["bad host".into()], Validity::days(1)),
        Err(CertGenError::BadHost { .. })
    ));
    assert!(matches!(
        ca_.node(1, &[], Validity::days(1)),
        Err(CertGenError::NoHosts)
    ));
    assert!(matches!(
        ca_.node(0, &hosts(), Validity::days(1)),
        Err(CertGenError::BadNodeId(0))
    ));
    assert!(matches!(
        ca_.user("a b", Validity::days(1)),
        Err(CertGenError::Identity(_))
    ));
}

/// The certificate a server at `addr` presents to a token-only client.
async fn served_cert(addr: std::net::SocketAddr, ca_pem: &Path) -> CertificateDer<'static> {
    let connector = TlsConnector::new(client_config_from_files(ca_pem, None).unwrap());
    let uri = format!("http://localhost:{}", addr.port()).parse().unwrap();
    let stream = connector.connect(&uri).await.unwrap();
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

fn leaf_der(dir: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(dir.join(CERT_FILE)).unwrap()
}

#[tokio::test]
async fn reload_serves_a_swapped_directory_to_new_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let ca_ = ca("test CA");
    let live = tmp.path().join("tls");
    let first = node_dir(tmp.path(), &ca_, 1);
    std::fs::rename(&first, &live).unwrap();
    let v1 = leaf_der(&live);

    let tls = ReloadingTls::load(&live).unwrap();
    let watcher = tls.watch(Duration::from_millis(50));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut conns = incoming(listener, tls.clone());
    let held = Arc::new(Mutex::new(Vec::new()));
    let server = tokio::spawn({
        let held = held.clone();
        async move {
            while let Some(conn) = conns.next().await {
                held.lock().unwrap().push(conn.unwrap());
            }
        }
    });
    let ca_pem = live.join(CA_FILE);
    assert_eq!(served_cert(addr, &ca_pem).await, v1);
    assert!(!tls.reload().unwrap(), "nothing changed");

    // Swap the whole directory, as an operator or a secret volume does.
    let next = tmp.path().join("next");
    let leaf = ca_.node(1, &hosts(), Validity::days(30)).unwrap();
    certgen::write_node_dir(&next, &ca_, &leaf).unwrap();
    let v2 = leaf_der(&next);
    assert_ne!(v1, v2);
    std::fs::rename(&live, tmp.path().join("old")).unwrap();
    std::fs::rename(&next, &live).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if served_cert(addr, &ca_pem).await == v2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A half-written set (a new key beside the current certificate) is
    // refused and the current one stays served.
    let v3 = ca_.node(1, &hosts(), Validity::days(30)).unwrap();
    std::fs::write(live.join(KEY_FILE), v3.key_pem()).unwrap();
    assert!(matches!(tls.reload(), Err(TlsError::KeyMismatch { .. })));
    assert_eq!(served_cert(addr, &ca_pem).await, v2);
    // Completed, it loads.
    std::fs::write(live.join(CERT_FILE), v3.cert_pem()).unwrap();
    tls.reload().unwrap();
    assert_eq!(served_cert(addr, &ca_pem).await, leaf_der(&live));

    // Another node's certificate is refused: the id is fixed.
    let other = ca_.node(2, &hosts(), Validity::days(30)).unwrap();
    certgen::write_node_dir(&live, &ca_, &other).unwrap();
    assert!(matches!(
        tls.reload(),
        Err(TlsError::NodeIdChanged { old: 1, new: 2, .. })
    ));
    assert_eq!(tls.node_id(), 1);

    // The server saw token-only clients: no identity.
    assert!(
        held.lock()
            .unwrap()
            .iter()
            .all(|c| c.info().identity.is_none())
    );
    server.abort();
    watcher.abort();
}

#[tokio::test]
async fn tonic_over_tls_gives_handlers_the_peer_identity() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let tmp = tempfile::tempdir().unwrap();
    let ca_ = ca("test CA");
    let server_tls = ReloadingTls::load(node_dir(tmp.path(), &ca_, 1)).unwrap();
    let client_tls = ReloadingTls::load(node_dir(tmp.path(), &ca_, 2)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();

    let seen: Arc<Mutex<Vec<Option<PeerInfo>>>> = Arc::default();
    let record = {
        let seen = seen.clone();
        move |req: tonic::Request<()>| {
            seen.lock()
                .unwrap()
                .push(req.extensions().get::<PeerInfo>().cloned());
            Ok(req)
        }
    };
    let (_reporter, health) = tonic_health::server::health_reporter();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(tonic::service::InterceptorLayer::new(record))
            .add_service(health)
            .serve_with_incoming(incoming(listener, server_tls)),
    );

    let endpoint =
        tonic::transport::Endpoint::from_shared(format!("http://localhost:{}", addr.port()))
            .unwrap()
            .connect_timeout(Duration::from_secs(5));
    let channel = endpoint
        .connect_with_connector(client_tls.connector())
        .await
        .unwrap();
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
    {
        let seen = seen.lock().unwrap();
        let info = seen[0].as_ref().expect("PeerInfo in the extensions");
        assert_eq!(info.identity, Some(CertIdentity::Node(2)));
        assert_eq!(info.remote_addr.unwrap().ip(), addr.ip());
    }

    // A plaintext client on the TLS port gets nowhere.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    let refused = match plain.connect().await {
        Err(_) => true,
        Ok(ch) => HealthClient::new(ch)
            .check(HealthCheckRequest::default())
            .await
            .is_err(),
    };
    assert!(refused);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the plaintext call reached no handler"
    );
    server.abort();
}
