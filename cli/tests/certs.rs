//! `clusterctl certs ca | node | client`, parsed as on the command line and
//! run into temp dirs: the files, their modes, the CA key kept home, and a
//! node directory that `schedulerd --tls-dir` loads.

#[path = "../src/certs.rs"]
mod certs;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use clap::Parser;
use node::tls::{CertIdentity, TlsDir};

/// `clusterctl certs ...` as main.rs nests it.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    certs: certs::CertsCmd,
}

fn certs(args: &[&str]) -> anyhow::Result<()> {
    let cli = Cli::try_parse_from(std::iter::once("certs").chain(args.iter().copied()))?;
    certs::run(cli.certs)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn ca_node_and_client_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let node = tmp.path().join("node-3");
    let client = tmp.path().join("alice");

    certs(&["ca", "--out", s(&ca)]).unwrap();
    assert_eq!(mode(&ca.join("ca-key.pem")), 0o600);
    assert_eq!(mode(&ca), 0o700);
    let again = certs(&["ca", "--out", s(&ca)]).unwrap_err().to_string();
    assert!(again.contains("exists"), "{again}");

    certs(&[
        "node",
        "--id",
        "3",
        "--host",
        "localhost",
        "127.0.0.1",
        "--host",
        "node-3.example",
        "--ca-dir",
        s(&ca),
        "--out",
        s(&node),
    ])
    .unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&node)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["ca.pem", "node-key.pem", "node.pem"]);
    assert_eq!(mode(&node.join("node-key.pem")), 0o600);
    let loaded = TlsDir::load(&node).unwrap();
    assert_eq!(loaded.node_id(), 3);
    let days = loaded
        .not_after()
        .duration_since(std::time::SystemTime::now())
        .unwrap()
        .as_secs()
        / 86_400;
    assert_eq!(days, 364, "a year by default");

    certs(&[
        "client",
        "alice",
        "--ca-dir",
        s(&ca),
        "--out",
        s(&client),
        "--days",
        "7",
    ])
    .unwrap();
    assert_eq!(mode(&client.join("client-key.pem")), 0o600);
    let pem = std::fs::read(client.join("client.pem")).unwrap();
    let der = rustls_cert(&pem);
    assert_eq!(
        CertIdentity::from_der(&der).unwrap(),
        CertIdentity::User("alice".into())
    );
    node::tls::client_config_from_files(
        &client.join("ca.pem"),
        Some((&client.join("client.pem"), &client.join("client-key.pem"))),
    )
    .unwrap();

    // The CA key stays out of node and client directories.
    let err = certs(&[
        "node",
        "--id",
        "4",
        "--host",
        "localhost",
        "--ca-dir",
        s(&ca),
        "--out",
        s(&ca),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("CA key"), "{err}");

    // Refusals, each with its reason.
    for (args, expect) in [
        (
            vec!["node", "--id", "5", "--ca-dir", s(&ca), "--out", "x"],
            "--host",
        ),
        (
            vec![
                "node",
                "--id",
                "0",
                "--host",
                "h",
                "--ca-dir",
                s(&ca),
                "--out",
                s(&node),
            ],
            "start at 1",
        ),
        (
            vec!["client", "a b", "--ca-dir", s(&ca), "--out", s(&client)],
            "only A-Z",
        ),
        (
            vec!["client", "bob", "--ca-dir", s(&node), "--out", s(&client)],
            "ca-key.pem",
        ),
        (vec!["ca", "--out", "y", "--days", "0"], "--days"),
    ] {
        let err = format!("{:#}", certs(&args).unwrap_err());
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

fn rustls_cert(pem: &[u8]) -> rustls::pki_types::CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem).unwrap()
}
