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
use proto::v1::worker_service_server::WorkerServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::api::{cluster::Cluster, internal::Internal, jobs::Jobs};
use crate::app::App;
use crate::config::Args;
use crate::executor::Executors;
use crate::firing::journal::Journal;
use crate::firing::leader::{self, FiringConfig};
use crate::firing::lease::Lease;
use crate::firing::reporter::Reporter;
use crate::firing::runner::{Runner, RunnerConfig};
use crate::firing::timer::PreciseTimer;
use crate::node::Node;
use crate::raft::network::{Channels, Contacts, MAX_MESSAGE_BYTES, Network};
use crate::raft::{RaftTiming, config, service::RaftTransport};
use crate::workers::WorkerTiming;
use crate::workers::session::Workers;

/// File in the data dir that pins the node id to its data.
const ID_FILE: &str = "node.id";
/// How long a joining node keeps asking to be added.
const JOIN_DEADLINE: Duration = Duration::from_secs(300);
/// How long to wait for one peer's status.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between rounds of join or discovery attempts.
const RETRY: Duration = Duration::from_millis(500);
/// How long a leader waits for leadership to move before shutting down anyway.
const HANDOVER_WAIT: Duration = Duration::from_secs(3);

/// The id pinned to the data dir by an earlier start, if any (creating the
/// dir); fails if it belongs to another node id.
fn pinned_id(dir: &Path, id: u64) -> anyhow::Result<Option<u64>> {
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
            Ok(Some(existing))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Whether the Raft storage holds nothing: no log entry (purged or not) and
/// no vote. Read before Raft starts, so a node whose `node.id` is missing
/// but whose log is not (a first start that crashed after joining) is not
/// mistaken for a new one.
async fn storage_is_empty(log: &mut store::raft::LogStore) -> anyhow::Result<bool> {
    use openraft::storage::RaftLogStorage;
    let state = log
        .get_log_state()
        .await
        .context("reading the raft log state")?;
    let vote = log.read_vote().await.context("reading the raft vote")?;
    Ok(state.last_log_id.is_none() && vote.is_none())
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
    let id = args.node_id()?;
    let pinned = pinned_id(&args.data_dir, id)?;
    let advertise = args.advertise();
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding --listen {}", args.listen))?;

    let mut store = store::raft::open(&args.data_dir).context("opening raft storage")?;
    let fresh = match (pinned, storage_is_empty(&mut store.log_store).await?) {
        (Some(_), _) => false,
        (None, true) => true,
        (None, false) => {
            tracing::warn!(
                "data dir has raft state but no {ID_FILE} (an earlier first start stopped \
                 after joining): keeping the state and rejoining as before"
            );
            write_id(&args.data_dir, id)?;
            false
        }
    };
    let state = store.state_machine.handle();
    let journal =
        Journal::open(&args.data_dir, &store.db).context("opening the attempt journal")?;
    // The lease outlasts an election, so armed runs go ahead while a new
    // leader is elected (DESIGN.md, "Leases").
    let lease = Lease::new(Duration::from_millis(
        store::model::LEASE_ELECTIONS * args.election_max_ms,
    ));
    let channels = Channels::with_dial_via(args.dial_via()?);
    let timing = RaftTiming {
        heartbeat_ms: args.heartbeat_ms,
        election_min_ms: args.election_min_ms,
        election_max_ms: args.election_max_ms,
        snapshot_every: args.snapshot_every,
    };
    let contacts = Contacts::default();
    let raft = Raft::new(
        id,
        config(&timing)?,
        Network::new(channels.clone(), contacts.clone()),
        store.log_store,
        store.state_machine,
    )
    .await
    .context("starting raft")?;
    let node = Node {
        id,
        addr: advertise.clone(),
        raft: raft.clone(),
        state,
        channels,
        contacts,
        lease: lease.length(),
        hints: Default::default(),
        capacity: Default::default(),
    };
    // The executor kinds of this node; the worker sessions live in them.
    let executors = Executors::for_node(id, WorkerTiming::default());
    let hub = executors.workers().clone();
    // The application layer every adapter calls (gRPC today; HTTP next).
    let app = App::new(node.clone(), hub.clone());

    // One report batcher per node, shared by its runner and (when leading)
    // the reports other nodes send in.
    let reporter = Reporter::start(node.clone());

    let (health, health_service) = tonic_health::server::health_reporter();
    // Readiness ("" and the job service) waits for membership and a leader
    // (track_health); tonic-health starts "" as SERVING, which would make a
    // pod that is still joining ready.
    health.set_not_serving::<JobServiceServer<Jobs>>().await;
    health
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    // Liveness: the cluster service answers status with or without a
    // leader, so it is SERVING for as long as the process serves at all. A
    // liveness probe must not restart a node only because it is in a
    // minority partition.
    health.set_serving::<ClusterServiceServer<Cluster>>().await;
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
            NodeServiceServer::new(Internal::new(node.clone(), reporter.clone(), hub.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(WorkerServiceServer::new(Workers::new(app.clone())))
        .add_service(JobServiceServer::new(Jobs::new(app.clone())))
        .add_service(ClusterServiceServer::new(Cluster::new(node.clone())))
        .serve_with_incoming_shutdown(incoming(listener), async {
            let _ = stop_rx.await;
        });
    let server = tokio::spawn(server);
    tracing::info!(id, listen = %args.listen, advertise = %advertise, fresh, "schedulerd started");
    tokio::spawn(track_health(node.clone(), health));

    if fresh {
        if args.bootstrap {
            bootstrap(&node).await?;
        } else if !args.join.is_empty() {
            join(&node, &args.join, &args.data_dir).await?;
        } else if !args.peers.is_empty() {
            join_or_bootstrap(&node, &args.peers, &args.data_dir).await?;
        }
        write_id(&args.data_dir, id)?;
    } else if args.bootstrap || !args.join.is_empty() || !args.peers.is_empty() {
        tracing::info!(
            "data dir is not empty: ignoring --bootstrap/--join/--peers and rejoining as before"
        );
    }

    tokio::spawn(leader::run(node.clone(), FiringConfig::default()));
    tokio::spawn(crate::workers::capacity::report(node.clone(), hub.clone()));
    let runner_cfg = RunnerConfig {
        executors,
        shell_enabled: args.enable_shell_executor,
        labels: args.labels()?,
        work_dir: args.data_dir.clone(),
        timer: PreciseTimer::start().context("starting the precise timer thread")?,
    };
    tokio::spawn(Runner::new(node.clone(), journal, lease, reporter, runner_cfg).run());
    if let Some(addr) = args.metrics.clone() {
        let node = node.clone();
        let hub = hub.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(addr, node, hub).await {
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

/// The listener's connections with Nagle's algorithm off. tonic sets
/// TCP_NODELAY only on listeners it binds itself; on ours, a gRPC message
/// written in several small frames (a worker's assignment, a unary
/// answer's trailers) waited for the peer's delayed ACK, up to 40 ms.
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|s| {
            if let Err(e) = s.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY on an accepted connection");
            }
        })
    })
}

async fn bootstrap(node: &Node) -> anyhow::Result<()> {
    let members = BTreeMap::from([(node.id, BasicNode::new(&node.addr))]);
    node.raft
        .initialize(members)
        .await
        .context("bootstrapping a one-node cluster")?;
    tracing::info!("bootstrapped a new cluster");
    Ok(())
}

/// The cluster status as `addr` reports it.
async fn ask_status(node: &Node, addr: &str) -> Result<proto::v1::ClusterStatus, String> {
    let ch = node.channels.get(addr).map_err(|e| e.to_string())?;
    let mut client = ClusterServiceClient::new(ch);
    let mut req = tonic::Request::new(proto::v1::StatusRequest {});
    req.set_timeout(STATUS_TIMEOUT);
    match tokio::time::timeout(STATUS_TIMEOUT, client.status(req)).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(format!("{:?}: {}", s.code(), s.message())),
        Err(_) => Err(format!("no answer within {STATUS_TIMEOUT:?}")),
    }
}

/// Refuses to join a cluster that already lists this node: this data dir is
/// empty, so its volume was lost or replaced, and a voter that comes back
/// with an empty log can elect a leader that lacks committed entries.
fn refuse_if_member(node: &Node, s: &proto::v1::ClusterStatus, dir: &Path) -> anyhow::Result<()> {
    if let Some(m) = s.members.iter().find(|m| m.id == node.id) {
        bail!(
            "node {id} is already a {role} of the cluster (at {addr}), but data dir {dir} is \
             empty: its volume was lost or replaced. Rejoining with an empty log could lose \
             committed writes, so this node will not. Remove the old member first \
             (`clusterctl leave --id {id}`), then start this node again: it joins as new.",
            id = node.id,
            role = if m.voter { "voter" } else { "learner" },
            addr = m.addr,
            dir = dir.display(),
        );
    }
    Ok(())
}

/// Asks each of `seeds` in turn to add this node until one does or the
/// deadline passes; refuses first if a seed lists this node already.
async fn join(node: &Node, seeds: &[String], dir: &Path) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + JOIN_DEADLINE;
    let mut last_error = String::new();
    // Once asked, this node may be listed because of its own request (an
    // answer lost on the way back), so only the first check can tell.
    let mut asked = false;
    while tokio::time::Instant::now() < deadline {
        for seed in seeds {
            if !asked {
                match ask_status(node, seed).await {
                    Ok(s) => refuse_if_member(node, &s, dir)?,
                    // Not reachable yet: ask the next seed.
                    Err(e) => {
                        let e = format!("{seed}: {e}");
                        if e != last_error {
                            tracing::warn!(error = %e, "join: seed not reachable yet; retrying");
                        }
                        last_error = e;
                        continue;
                    }
                }
            }
            asked = true;
            let attempt = async {
                let ch = node.channels.get(seed).map_err(|e| e.to_string())?;
                let mut client = ClusterServiceClient::new(ch);
                client
                    .add_member(proto::v1::AddMemberRequest {
                        id: node.id,
                        addr: node.addr.clone(),
                    })
                    .await
                    .map_err(|s| {
                        if s.code() == tonic::Code::AlreadyExists {
                            format!("AlreadyExists: {}", s.message())
                        } else {
                            format!("{:?}: {}", s.code(), s.message())
                        }
                    })
            };
            match attempt.await {
                Ok(_) => {
                    tracing::info!(seed, "joined the cluster");
                    return Ok(());
                }
                Err(e) if e.starts_with("AlreadyExists") => {
                    bail!("join refused by {seed}: {e}");
                }
                Err(e) => {
                    let e = format!("{seed}: {e}");
                    if e != last_error {
                        tracing::warn!(error = %e, "join not accepted yet; retrying");
                    }
                    last_error = e;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
    bail!(
        "could not join through {} within {JOIN_DEADLINE:?}: {last_error}",
        seeds.join(",")
    )
}

/// `--peers` on an empty data dir: join the cluster that any peer reports;
/// when none reports one, the first peer bootstraps, but only after every
/// other peer has answered that it has no cluster either. A peer that does
/// not answer might hold the cluster's data (pod 0 lost its volume while the
/// others restart), so silence never counts as "no cluster": that is why
/// the StatefulSet starts its pods in parallel.
async fn join_or_bootstrap(node: &Node, peers: &[String], dir: &Path) -> anyhow::Result<()> {
    let first = peers.first().is_some_and(|p| *p == node.addr);
    let others: Vec<&String> = peers.iter().filter(|p| **p != node.addr).collect();
    let deadline = tokio::time::Instant::now() + JOIN_DEADLINE;
    let mut last_wait = String::new();
    while tokio::time::Instant::now() < deadline {
        let mut silent = Vec::new();
        let mut cluster = None;
        for peer in &others {
            match ask_status(node, peer).await {
                // This node under another of its names.
                Ok(s) if s.answered_by == node.id => {}
                Ok(s) if !s.members.is_empty() => {
                    cluster = Some(s);
                    break;
                }
                Ok(_) => {}
                Err(e) => silent.push(format!("{peer} ({e})")),
            }
        }
        if let Some(s) = cluster {
            refuse_if_member(node, &s, dir)?;
            tracing::info!(leader = ?s.leader, "a cluster exists: joining it");
            let seeds: Vec<String> = others.iter().map(|p| (*p).clone()).collect();
            return join(node, &seeds, dir).await;
        }
        if first && silent.is_empty() {
            return bootstrap(node).await;
        }
        let wait = if first {
            format!(
                "waiting for every peer to answer before bootstrapping; silent: {}",
                silent.join(", ")
            )
        } else {
            format!(
                "waiting for {} (the first peer) to bootstrap the cluster",
                peers.first().map_or("", String::as_str)
            )
        };
        if wait != last_wait {
            tracing::info!("{wait}");
            last_wait = wait;
        }
        tokio::time::sleep(RETRY).await;
    }
    bail!("--peers: no cluster formed within {JOIN_DEADLINE:?}: {last_wait}")
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
