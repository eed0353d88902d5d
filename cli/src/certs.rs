//! `clusterctl certs ca | node | client`: a cluster CA and the
//! certificates of nodes and users, for a dev cluster or bare machines
//! (Kubernetes uses cert-manager). The generation is
//! `node::tls::certgen`; this is its command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use node::tls::certgen::{self, CA_DAYS, Ca, LEAF_DAYS, Validity};

/// `clusterctl certs ...` subcommands.
#[derive(Subcommand, Debug)]
pub enum CertsCmd {
    /// Create a cluster CA: writes ca.pem and ca-key.pem (mode 0600) into
    /// --out. Keep ca-key.pem where the nodes are not.
    Ca {
        /// Directory to write into (created, mode 0700, if missing).
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = CA_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
        days: u32,
        /// The CA's common name.
        #[arg(long, default_value = "schedulerd cluster CA")]
        name: String,
        /// Replace a CA already in --out (every certificate it signed stops
        /// being trusted once nodes get the new ca.pem).
        #[arg(long)]
        force: bool,
    },
    /// A node's certificate, signed by the CA in --ca-dir: writes ca.pem,
    /// node.pem and node-key.pem (mode 0600) into --out, the directory
    /// `schedulerd --tls-dir` reads. Never the CA key.
    Node {
        /// The node id (the certificate names it: SAN URI urn:schedulerd:node:<id>).
        #[arg(long)]
        id: u64,
        /// A DNS name or IP address that peers and clients dial this node
        /// by; repeat it (or list several) for every name.
        #[arg(long = "host", value_name = "NAME", required = true, num_args = 1..)]
        hosts: Vec<String>,
        /// The directory holding ca.pem and ca-key.pem (`certs ca --out`).
        #[arg(long)]
        ca_dir: PathBuf,
        /// Directory to write into (created, mode 0700, if missing).
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = LEAF_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
        days: u32,
    },
    /// A user's client certificate (instead of a token), signed by the CA
    /// in --ca-dir: writes ca.pem, client.pem and client-key.pem (mode
    /// 0600) into --out.
    Client {
        /// The user name (SAN URI urn:schedulerd:user:<name>): 1 to 64 of
        /// A-Z a-z 0-9 . _ @ -.
        name: String,
        /// The directory holding ca.pem and ca-key.pem (`certs ca --out`).
        #[arg(long)]
        ca_dir: PathBuf,
        /// Directory to write into (created, mode 0700, if missing).
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = LEAF_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
        days: u32,
    },
}

/// Runs a `certs` subcommand; prints the files written.
pub fn run(cmd: CertsCmd) -> anyhow::Result<()> {
    let written = match cmd {
        CertsCmd::Ca {
            out,
            days,
            name,
            force,
        } => {
            let ca = Ca::generate(&name, Validity::days(days)).context("creating the CA")?;
            ca.write(&out, force)?
        }
        CertsCmd::Node {
            id,
            hosts,
            ca_dir,
            out,
            days,
        } => {
            let ca = Ca::load(&ca_dir)?;
            let leaf = ca
                .node(id, &hosts, Validity::days(days))
                .with_context(|| format!("node {id}'s certificate"))?;
            certgen::write_node_dir(&out, &ca, &leaf)?
        }
        CertsCmd::Client {
            name,
            ca_dir,
            out,
            days,
        } => {
            let ca = Ca::load(&ca_dir)?;
            let leaf = ca
                .user(&name, Validity::days(days))
                .with_context(|| format!("{name}'s certificate"))?;
            certgen::write_client_dir(&out, &ca, &leaf)?
        }
    };
    for path in &written {
        println!("wrote {}", path.display());
    }
    Ok(())
}
