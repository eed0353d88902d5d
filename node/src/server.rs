//! Starting and stopping a node: storage, Raft, the gRPC server (public
//! API, Raft transport, internal services, health, reflection), bootstrap
//! or join, and graceful shutdown.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use openraft::{BasicNode, Raft, ServerState};
use proto::internal::node_service_client::NodeServiceClient;
use proto::internal::node_service_server::NodeServiceServer;
use proto::internal::raft_service_server::RaftServiceServer;
use proto::v1::cluster_service_client::ClusterServiceClient;
use proto::v1::cluster_service_server::ClusterServiceServer;
use proto::v1::job_service_server::JobServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::api::{cluster::Cluster, internal::Internal, jobs::Jobs};
use crate::config::Args;
use crate::firing::journal::Journal;
use crate::firing::leader::{self, FiringConfig};
use crate::firing::lease::Lease;
use crate::firing::runner::{Runner, RunnerConfig};
use crate::node::Node;
use crate::raft::network::{Channels, Contacts, MAX_MESSAGE_BYTES, Network};
use crate::raft::{RaftTiming, config, service::RaftTransport};

/// File in the data dir that pins the node id to its data.
const ID_FILE: &str = "node.id";
/// How long a joining node keeps asking to be added.
const JOIN_DEADLINE: Duration = Duration::from_secs(300);
/// How long a leader waits for leadership to move before shutting down anyway.
const HANDOVER_WAIT: Duration = Duration::from_secs(3);

/// Whether the data dir is new; fails if it belongs to another node id.
fn claim_data_dir(dir: &Path, id: u64) -> anyhow::Result<bool> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let existing: u64 = s
                .trim()
                .parse()
                .with_context(|| format!("{} is corrupt", path.display()))?;
            if existing != id {
                bail!(
                    "data dir {} belongs to node {existing}, not node {id}",
                    dir.display()
                );
            }
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_id(dir: &Path, id: u64) -> anyhow::Result<()> {
    let tmp = dir.join(format!("{ID_FILE}.tmp"));
    std::fs::write(&tmp, format!("{id}\n"))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join(ID_FILE))?;
    Ok(())
}

/// Runs a node until `shutdown` resolves.
pub async fn run(
    args: Args,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let fresh = claim_data_dir(&args.data_dir, args.id)?;
    let advertise = args.advertise();
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding --listen {}", args.listen))?;

    let store = store::raft::open(&args.data_dir).context("opening raft storage")?;
    let state = store.state_machine.handle();
    let journal = Journal::open(&store.db).context("opening the attempt journal")?;
    // The lease outlasts an election, so armed runs go ahead while a new
    // leader is elected (DESIGN.md, "Leases").
    let lease = Lease::new(Duration::from_millis(3 * args.election_max_ms));
    let channels = Channels::with_dial_via(args.dial_via()?);
    let timing = RaftTiming {
        heartbeat_ms: args.heartbeat_ms,
        election_min_ms: args.election_min_ms,
        election_max_ms: args.election_max_ms,
        snapshot_every: args.snapshot_every,
    };
    let contacts = Contacts::default();
    let raft = Raft::new(
        args.id,
        config(&timing)?,
        Network::new(channels.clone(), contacts.clone()),
        store.log_store,
        store.state_machine,
    )
    .await
    .context("starting raft")?;
    let node = Node {
        id: args.id,
        addr: advertise.clone(),
        raft: raft.clone(),
        state,
        channels,
        contacts,
        lease: lease.length(),
        hints: Default::default(),
    };

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_not_serving::<JobServiceServer<Jobs>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building reflection service")?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(
            RaftServiceServer::new(RaftTransport::new(raft.clone(), lease.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            NodeServiceServer::new(Internal::new(node.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(JobServiceServer::new(Jobs::new(node.clone())))
        .add_service(ClusterServiceServer::new(Cluster::new(node.clone())))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
            let _ = stop_rx.await;
        });
    let server = tokio::spawn(server);
    tracing::info!(id = args.id, listen = %args.listen, advertise = %advertise, fresh, "schedulerd started");

    if fresh {
        if args.bootstrap {
            let members = BTreeMap::from([(args.id, BasicNode::new(&advertise))]);
            raft.initialize(members)
                .await
                .context("bootstrapping a one-node cluster")?;
            tracing::info!("bootstrapped a new cluster");
        } else if let Some(seed) = &args.join {
            join(&node, seed).await?;
        }
        write_id(&args.data_dir, args.id)?;
    } else if args.bootstrap || args.join.is_some() {
        tracing::info!(
            "data dir is not empty: ignoring --bootstrap/--join and rejoining as before"
        );
    }

    tokio::spawn(track_health(node.clone(), health));
    tokio::spawn(leader::run(node.clone(), FiringConfig::default()));
    let runner_cfg = RunnerConfig {
        shell_enabled: args.enable_shell_executor,
        labels: args.labels()?,
        work_dir: args.data_dir.clone(),
    };
    tokio::spawn(Runner::new(node.clone(), journal, lease, runner_cfg).run());
    if let Some(addr) = args.metrics.clone() {
        let node = node.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(addr, node).await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
    }

    shutdown.await;
    tracing::info!("shutting down");
    hand_over(&node).await;
    if let Err(e) = raft.shutdown().await {
        tracing::warn!(error = %e, "raft shutdown");
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(())
}

/// Asks `seed` to add this node until it succeeds or the deadline passes.
async fn join(node: &Node, seed: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + JOIN_DEADLINE;
    let mut last_error = String::new();
    while tokio::time::Instant::now() < deadline {
        let attempt = async {
            let ch = node.channels.get(seed).map_err(|e| e.to_string())?;
            let mut client = ClusterServiceClient::new(ch);
            client
                .add_member(proto::v1::AddMemberRequest {
                    id: node.id,
                    addr: node.addr.clone(),
                })
                .await
                .map_err(|s| format!("{}: {}", s.code(), s.message()))
        };
        match attempt.await {
            Ok(_) => {
                tracing::info!(seed, "joined the cluster");
                return Ok(());
            }
            Err(e) if e.contains("AlreadyExists") || e.starts_with("Already") => {
                bail!("join refused by {seed}: {e}");
            }
            Err(e) => {
                if e != last_error {
                    tracing::warn!(seed, error = %e, "join not accepted yet; retrying");
                }
                last_error = e;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("could not join through {seed} within {JOIN_DEADLINE:?}: {last_error}")
}

/// SERVING once this node is a member and knows a leader.
async fn track_health(node: Node, health: tonic_health::server::HealthReporter) {
    let mut metrics = node.raft.metrics();
    let mut serving = None;
    loop {
        let now_serving = {
            let m = metrics.borrow_and_update();
            let member = m
                .membership_config
                .membership()
                .get_node(&node.id)
                .is_some();
            member && m.current_leader.is_some() && m.state != ServerState::Shutdown
        };
        if serving != Some(now_serving) {
            if now_serving {
                health.set_serving::<JobServiceServer<Jobs>>().await;
                health
                    .set_service_status("", tonic_health::ServingStatus::Serving)
                    .await;
            } else {
                health.set_not_serving::<JobServiceServer<Jobs>>().await;
                health
                    .set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await;
            }
            serving = Some(now_serving);
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// A leader that stops asks its most up-to-date voter to take over, so the
/// cluster does not wait for an election timeout.
async fn hand_over(node: &Node) {
    let m = node.raft.metrics().borrow().clone();
    if m.state != ServerState::Leader {
        return;
    }
    let membership = m.membership_config.membership();
    let best = m
        .replication
        .as_ref()
        .and_then(|r| {
            r.iter()
                .filter(|(id, _)| **id != node.id && membership.voter_ids().any(|v| v == **id))
                .max_by_key(|(_, lid)| lid.map(|l| l.index))
                .map(|(id, _)| *id)
        })
        .and_then(|id| membership.get_node(&id).map(|n| (id, n.addr.clone())));
    let Some((target, addr)) = best else { return };
    let Ok(ch) = node.channels.get(&addr) else {
        return;
    };
    let mut client = NodeServiceClient::new(ch);
    let asked = client
        .transfer_leadership(proto::internal::TransferLeadershipRequest { from: node.id })
        .await;
    if let Err(e) = asked {
        tracing::warn!(target, error = %e, "leadership hand-over refused");
        return;
    }
    let mut rx = node.raft.metrics();
    let moved = tokio::time::timeout(
        HANDOVER_WAIT,
        rx.wait_for(|m| m.state != ServerState::Leader),
    )
    .await;
    tracing::info!(target, moved = moved.is_ok(), "leadership hand-over");
}
