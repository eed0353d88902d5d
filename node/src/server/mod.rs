//! Starting and stopping a node: storage, Raft, the gRPC server (public
//! API, Raft transport, internal services, health, reflection), bootstrap
//! or join, and graceful shutdown. This module wires the parts; each
//! responsibility has its own:
//!
//! - [`identity`]: the data dir's `node.id` and whether the dir is fresh;
//! - [`discovery`]: bootstrap, `--join`, `--peers`;
//! - [`health`]: readiness and liveness;
//! - [`handover`]: a stopping leader hands leadership over.

mod auth_layer;
mod discovery;
mod handover;
mod health;
mod identity;

use discovery::{bootstrap, join, join_or_bootstrap};
use handover::hand_over;
use health::track_health;
use identity::{ID_FILE, pinned_id, storage_is_empty, write_id};

use std::time::Duration;

use anyhow::Context;
use openraft::Raft;
use proto::internal::node_service_server::NodeServiceServer;
use proto::internal::raft_service_server::RaftServiceServer;
use proto::v1::acl_service_server::AclServiceServer;
use proto::v1::cluster_service_server::ClusterServiceServer;
use proto::v1::job_service_server::JobServiceServer;
use proto::v1::worker_service_server::WorkerServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::api::workers::Workers;
use crate::api::{cluster::Cluster, internal::Internal, jobs::Jobs};
use crate::app::App;
use crate::clock::lease::Lease;
use crate::config::Args;
use crate::executor::Executors;
use crate::firing::journal::Journal;
use crate::firing::leader::{self, FiringConfig};
use crate::firing::runner::{Runner, RunnerConfig};
use crate::firing::timer::PreciseTimer;
use crate::node::Node;
use crate::peers::{Channels, Contacts, MAX_MESSAGE_BYTES};
use crate::raft::network::Network;
use crate::raft::{RaftTiming, config, service::RaftTransport};
use crate::workers::WorkerTiming;

/// Runs a node until `shutdown` resolves.
pub async fn run(
    args: Args,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let id = args.node_id()?;
    let pinned = pinned_id(&args.data_dir, id)?;
    let advertise = args.advertise();
    let peer_advertise = args.peer_advertise();
    let tls = load_tls(&args, id)?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding --listen {}", args.listen))?;
    let peer_listener = match &args.peer_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding --peer-listen {addr}"))?,
        ),
        None => None,
    };

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
    // leader is elected (docs/guarantees.md, "Exceptions").
    let lease = Lease::new(Duration::from_millis(
        store::model::LEASE_ELECTIONS * args.election_max_ms,
    ));
    let channels = Channels::with_dial_via(args.dial_via()?).with_tls(tls.clone());
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
        addr: peer_advertise.clone(),
        client_addr: advertise.clone(),
        raft: raft.clone(),
        state,
        channels,
        contacts,
        lease: lease.length(),
        hints: Default::default(),
    };
    // The executor kinds of this node; the worker sessions live in them.
    let mut executors =
        Executors::for_node(id, args.enable_shell_executor, WorkerTiming::default());
    if args.enable_shell_executor {
        // Shell jobs die with this node, even on kill -9.
        let reaper = crate::executor::reaper::ShellReaper::start()
            .context("starting the shell-job reaper process")?;
        executors = executors.with_reaper(reaper);
    }
    // The application layer every adapter calls (gRPC, HTTP), holding the
    // write and report batchers and the executors.
    let metrics = crate::metrics::Metrics::new();
    let app = App::new(node.clone(), executors, metrics.clone());
    let hub = app.workers.clone();
    // What each node's workers serve, as the leader knows it.
    let capacity = crate::workers::CapacityTable::default();

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
    // Reflection as v1 and as v1alpha: grpcio-reflection (Python), older
    // grpcurl, Postman and Evans speak only v1alpha.
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building reflection service")?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building reflection service (v1alpha)")?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    use store::model::{MAX_CLIENT_MESSAGE_BYTES, MAX_CONCURRENT_PER_CONNECTION, MAX_REQUEST_SECS};
    // gRPC services and the HTTP API and dashboard share the listener:
    // tonic's router is an axum router, and the HTTP routes merge into it.
    // The peer services (Raft, NodeService) are on the same listener, or
    // alone on --peer-listen (with the cluster service, which peers ask for
    // status and joins, and health).
    // A fresh node answers Raft only once it is known not to be a lost
    // member: after its own check (--join, --peers) or when the leader
    // adds it (raft/service.rs, `Admission`).
    let admission = crate::raft::service::Admission::new(!fresh || args.bootstrap);
    let raft_service = RaftServiceServer::new(RaftTransport::new(
        raft.clone(),
        lease.clone(),
        admission.clone(),
    ))
    .max_decoding_message_size(MAX_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let node_service = NodeServiceServer::new(Internal::new(
        node.clone(),
        app.reporter.clone(),
        hub.clone(),
        capacity.clone(),
        admission.clone(),
    ))
    .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let cluster_service = ClusterServiceServer::new(Cluster::new(app.clone()))
        .max_decoding_message_size(MAX_CLIENT_MESSAGE_BYTES);
    let mut grpc = tonic::service::RoutesBuilder::default();
    grpc.add_service(health_service.clone())
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(
            WorkerServiceServer::new(Workers::new(app.clone()))
                .max_decoding_message_size(MAX_CLIENT_MESSAGE_BYTES),
        )
        .add_service(
            JobServiceServer::new(Jobs::new(app.clone()))
                .max_decoding_message_size(MAX_CLIENT_MESSAGE_BYTES),
        )
        .add_service(
            AclServiceServer::new(crate::api::acl::Acl::new(app.clone()))
                .max_decoding_message_size(MAX_CLIENT_MESSAGE_BYTES),
        )
        .add_service(
            proto::v1::calendar_service_server::CalendarServiceServer::new(
                crate::api::calendars::Calendars::new(app.clone()),
            )
            .max_decoding_message_size(MAX_CLIENT_MESSAGE_BYTES),
        )
        .add_service(cluster_service.clone());
    let peer_routes = if peer_listener.is_some() {
        let mut peer_grpc = tonic::service::RoutesBuilder::default();
        peer_grpc
            .add_service(raft_service)
            .add_service(node_service)
            .add_service(cluster_service)
            .add_service(health_service);
        Some(peer_grpc.routes())
    } else {
        // One listener: the peer services join the client routes.
        grpc.add_service(raft_service).add_service(node_service);
        None
    };
    let routes = tonic::service::Routes::from(
        grpc.routes()
            .into_axum_router()
            .merge(crate::http::router(app.clone())),
    );
    let server = |routes: tonic::service::Routes| {
        tonic::transport::Server::builder()
            // HTTP/1.1 for browsers and curl; gRPC stays on HTTP/2.
            .accept_http1(true)
            // Every request is bounded in time and in concurrency per
            // connection; clients' messages are bounded in size (peers'
            // larger, per service above).
            .timeout(Duration::from_secs(MAX_REQUEST_SECS))
            .concurrency_limit_per_connection(MAX_CONCURRENT_PER_CONNECTION)
            // Every call passes the policy table first (auth/policy.rs).
            .layer(auth_layer::AuthLayer::new(node.clone(), tls.is_some()))
            .add_routes(routes)
    };
    let peer_server = peer_routes.map(server);
    let server = server(routes);
    // Both servers stop together.
    type Serving = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), tonic::transport::Error>> + Send>,
    >;
    let serve =
        |server: tonic::transport::server::Router<_>, listener: TcpListener| -> Serving {
            let mut rx = stop_rx.clone();
            let stop = async move {
                let _ = rx.wait_for(|stop| *stop).await;
            };
            match &tls {
                Some(tls) => Box::pin(server.serve_with_incoming_shutdown(
                    crate::tls::incoming(listener, tls.clone()),
                    stop,
                )),
                None => Box::pin(server.serve_with_incoming_shutdown(incoming(listener), stop)),
            }
        };
    let peer_server = match (peer_server, peer_listener) {
        (Some(s), Some(l)) => Some(tokio::spawn(serve(s, l))),
        _ => None,
    };
    let server = tokio::spawn(serve(server, listener));
    tracing::info!(
        id,
        listen = %args.listen,
        advertise = %advertise,
        peer_listen = args.peer_listen.as_deref().unwrap_or("(the client listener)"),
        fresh,
        "schedulerd started"
    );
    tokio::spawn(track_health(node.clone(), health));

    if fresh {
        if args.bootstrap {
            bootstrap(&node).await?;
        } else if !args.join.is_empty() {
            join(
                &node,
                &args.join,
                &args.data_dir,
                args.join_token.as_ref(),
                &admission,
            )
            .await?;
        } else if !args.peers.is_empty() {
            join_or_bootstrap(
                &node,
                &args.peers,
                &args.data_dir,
                args.join_token.as_ref(),
                &admission,
            )
            .await?;
        }
        write_id(&args.data_dir, id)?;
    } else if args.bootstrap || !args.join.is_empty() || !args.peers.is_empty() {
        tracing::info!(
            "data dir is not empty: ignoring --bootstrap/--join/--peers and rejoining as before"
        );
    }

    if !args.no_early_campaign {
        // A silent leader's lease runs out: campaign at once rather than
        // one election timeout later (raft/campaign.rs).
        tokio::spawn(crate::raft::campaign::run(raft.clone(), lease.clone(), id));
    }
    tokio::spawn(leader::run(
        node.clone(),
        FiringConfig::default(),
        capacity.clone(),
    ));
    tokio::spawn(crate::workers::capacity::report(
        node.clone(),
        hub.clone(),
        capacity.clone(),
    ));
    tokio::spawn(crate::metrics::count_events(node.clone(), metrics.clone()));
    let runner_cfg = RunnerConfig {
        executors: app.executors.clone(),
        metrics: metrics.clone(),
        labels: args.labels()?,
        work_dir: args.data_dir.clone(),
        timer: PreciseTimer::start().context("starting the precise timer thread")?,
    };
    tokio::spawn(
        Runner::new(
            node.clone(),
            journal,
            lease.clone(),
            app.reporter.clone(),
            runner_cfg,
        )
        .run(),
    );
    if let Some(addr) = args.metrics.clone() {
        let node = node.clone();
        let hub = hub.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(addr, node, hub, lease, metrics).await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
    }

    shutdown.await;
    tracing::info!("shutting down");
    // The hand-over stops the Raft core itself, before it asks another
    // voter to take over.
    let stopped = if args.no_hand_over {
        raft.shutdown().await
    } else {
        hand_over(&node).await
    };
    if let Err(e) = stopped {
        tracing::warn!(error = %e, "raft shutdown");
    }
    let _ = stop_tx.send(true);
    let _ = server.await;
    if let Some(p) = peer_server {
        let _ = p.await;
    }
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

/// `--tls-dir` loaded and watched for changes, or `None`; refuses a
/// non-loopback `--listen` without TLS unless `--insecure` says so.
fn load_tls(args: &Args, id: u64) -> anyhow::Result<Option<crate::tls::ReloadingTls>> {
    let Some(dir) = &args.tls_dir else {
        let loopback = args
            .listen
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip().is_loopback())
            .unwrap_or_else(|_| args.listen.starts_with("localhost:"));
        if !loopback && !args.insecure {
            anyhow::bail!(
                "refusing to listen on {} without TLS: give --tls-dir (see `clusterctl certs`), \
                 or --insecure to accept that anyone who reaches the port can speak Raft to this \
                 node and, until `clusterctl acl bootstrap`, call anything",
                args.listen
            );
        }
        if !loopback {
            tracing::warn!(
                listen = %args.listen,
                "INSECURE: no TLS (--insecure): peer services are not authenticated"
            );
        }
        return Ok(None);
    };
    let tls = crate::tls::ReloadingTls::load(dir)
        .with_context(|| format!("--tls-dir {}", dir.display()))?;
    anyhow::ensure!(
        tls.node_id() == id,
        "--tls-dir {}: node.pem names node {}, but this is node {id}",
        dir.display(),
        tls.node_id()
    );
    tls.watch(crate::tls::RELOAD_EVERY);
    Ok(Some(tls))
}
