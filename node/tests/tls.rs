//! TLS with real `schedulerd` processes: a cluster whose nodes serve TLS
//! from `--tls-dir` and speak mutual TLS to each other forms and fires;
//! plaintext clients, peer calls without a node certificate, and a node
//! with a certificate from another CA are refused. Certificates are made
//! per test with `node::tls::certgen` (what `clusterctl certs` uses).

mod support;

use std::path::Path;
use std::sync::Arc;

use chaos_tests::harness::{Proc, wait_for};
use node::tls::certgen::{Ca, Validity, write_client_dir, write_node_dir};
use proto::internal::raft_service_client::RaftServiceClient;
use proto::v1 as pb;
use proto::v1::acl_service_client::AclServiceClient;
use proto::v1::cluster_service_client::ClusterServiceClient;
use proto::v1::job_service_client::JobServiceClient;
use support::*;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

fn hosts() -> Vec<String> {
    vec!["127.0.0.1".into(), "localhost".into()]
}

/// A TLS channel to `addr` trusting `ca_dir/ca.pem`, with the client
/// certificate of `cert_dir` when given (`client.pem`/`client-key.pem` or
/// a node's `node.pem`/`node-key.pem`).
async fn tls_channel(addr: &str, ca_dir: &Path, cert: Option<(&Path, &Path)>) -> Option<Channel> {
    let config: Arc<rustls::ClientConfig> =
        node::tls::client_config_from_files(&ca_dir.join("ca.pem"), cert).expect("client config");
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("address")
        .connect_with_connector(node::tls::TlsConnector::new(config))
        .await
        .ok()
}

async fn status_over_tls(addr: &str, ca_dir: &Path) -> Option<pb::ClusterStatus> {
    let ch = tls_channel(addr, ca_dir, None).await?;
    ClusterServiceClient::new(ch)
        .status(pb::StatusRequest {})
        .await
        .ok()
        .map(tonic::Response::into_inner)
}

async fn wait_voters(addr: &str, ca_dir: &Path, n: usize) -> pb::ClusterStatus {
    wait_for(
        &format!("{n} voters, a leader and no membership change in flight, over TLS"),
        || async {
            let s = status_over_tls(addr, ca_dir).await?;
            (s.leader.is_some()
                && !s.membership_changing
                && s.members.iter().filter(|m| m.voter).count() == n)
                .then_some(s)
        },
    )
    .await
}

fn bearer<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_forms_and_refuses_what_it_must() {
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let ca = Ca::generate("test cluster", Validity::days(1)).expect("CA");
    for id in 1..=4u64 {
        let leaf = ca.node(id, &hosts(), Validity::days(1)).expect("node cert");
        write_node_dir(&r.join(format!("tls-{id}")), &ca, &leaf).expect("node dir");
    }
    let alice = ca.user("alice", Validity::days(1)).expect("user cert");
    let alice_dir = r.join("alice");
    write_client_dir(&alice_dir, &ca, &alice).expect("client dir");
    let ca_dir = r.join("tls-1");
    let tls = |id: u64| r.join(format!("tls-{id}")).display().to_string();

    let t1 = tls(1);
    let mut procs =
        vec![Proc::start(bin(), 1, r, &["--bootstrap", "--tls-dir", &t1]).expect("node 1")];
    wait_voters(&procs[0].addr, &ca_dir, 1).await;
    let seed = procs[0].addr.clone();
    for id in 2..=3 {
        let t = tls(id);
        procs.push(Proc::start(bin(), id, r, &["--join", &seed, "--tls-dir", &t]).expect("a node"));
    }
    let s = wait_voters(&seed, &ca_dir, 3).await;
    let follower = procs
        .iter()
        .find(|p| Some(p.id) != s.leader)
        .expect("a follower");

    // A plaintext client gets nothing from a TLS port.
    let plain = async {
        let ch = Channel::from_shared(format!("http://{}", follower.addr))
            .expect("address")
            .connect()
            .await
            .ok()?;
        ClusterServiceClient::new(ch)
            .status(pb::StatusRequest {})
            .await
            .ok()
    };
    assert!(
        plain.await.is_none(),
        "a plaintext status call was answered"
    );

    // Under TLS calls are checked from the start: no token, no jobs.
    let ch = tls_channel(&follower.addr, &ca_dir, None)
        .await
        .expect("a TLS channel");
    let mut jobs_c = JobServiceClient::new(ch.clone());
    let e = jobs_c
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .expect_err("an anonymous list under TLS");
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let admin = AclServiceClient::new(ch.clone())
        .bootstrap(pb::AclBootstrapRequest::default())
        .await
        .expect("bootstrap over TLS")
        .into_inner()
        .secret;
    let sink = chaos_tests::sink::Sink::start().await.expect("sink");
    let mut s1 = spec("tls-job", cron("* * * * * *"), http(&sink.url()));
    policies(&mut s1).misfire_grace = Some(dur(60_000));
    jobs_c
        .create_job(bearer(
            pb::CreateJobRequest {
                job: Some(s1),
                on_conflict: pb::OnConflict::Fail as i32,
            },
            &admin,
        ))
        .await
        .expect("create over TLS with the admin token");
    // Firing works across mutual TLS (Raft, dispatch, reports).
    wait_for("three effects of the job at the sink", || async {
        (sink.hits().iter().filter(|h| h.accepted).count() >= 3).then_some(())
    })
    .await;

    // Peer services need a node certificate: not none, not a user's.
    let payload = pb_raft_payload();
    let e = RaftServiceClient::new(ch.clone())
        .vote(payload.clone())
        .await
        .expect_err("a peer call with no client certificate");
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let user_ch = tls_channel(
        &follower.addr,
        &ca_dir,
        Some((
            &alice_dir.join("client.pem"),
            &alice_dir.join("client-key.pem"),
        )),
    )
    .await
    .expect("a TLS channel with alice's certificate");
    let e = RaftServiceClient::new(user_ch)
        .vote(payload)
        .await
        .expect_err("a peer call with a user's certificate");
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");

    // A member cannot speak for another: node 2's certificate with a vote
    // that claims node 3 is refused; claiming itself, it is heard (and the
    // stale vote, term 0, turned down by Raft itself).
    let tls2 = r.join("tls-2");
    let node2_ch = tls_channel(
        &follower.addr,
        &ca_dir,
        Some((&tls2.join("node.pem"), &tls2.join("node-key.pem"))),
    )
    .await
    .expect("a TLS channel with node 2's certificate");
    let vote = |claimed: u64| proto::internal::RaftPayload {
        data: postcard::to_allocvec(&openraft::raft::VoteRequest::<u64> {
            vote: openraft::Vote::new(0, claimed),
            last_log_id: None,
        })
        .expect("encode a vote"),
        ..Default::default()
    };
    let e = RaftServiceClient::new(node2_ch.clone())
        .vote(vote(3))
        .await
        .expect_err("node 2 speaking for node 3");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    RaftServiceClient::new(node2_ch)
        .vote(vote(2))
        .await
        .expect("node 2 speaking for itself is heard");

    // A node with a certificate of another CA cannot join.
    let other = Ca::generate("another cluster", Validity::days(1)).expect("CA");
    let stray = other
        .node(4, &hosts(), Validity::days(1))
        .expect("node cert");
    let stray_dir = r.join("tls-4-foreign");
    write_node_dir(&stray_dir, &other, &stray).expect("node dir");
    let sd = stray_dir.display().to_string();
    let joiner = Proc::start(bin(), 4, r, &["--join", &seed, "--tls-dir", &sd]).expect("node 4");
    let log = joiner.dir.with_extension("log");
    wait_for(
        "the foreign node's join to be refused (its log)",
        || async {
            let text = std::fs::read_to_string(&log).ok()?;
            (text.contains("join: seed not reachable yet")
                || text.contains("join not accepted yet"))
            .then_some(())
        },
    )
    .await;
    let s = status_over_tls(&seed, &ca_dir).await.expect("status");
    assert_eq!(
        s.members.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "the membership changed"
    );
    drop(joiner);
}

/// Any bytes: the call is refused before they are read.
fn pb_raft_payload() -> proto::internal::RaftPayload {
    proto::internal::RaftPayload::default()
}

/// Two more refusals of the security issue's table: certificates past
/// their end (a client's and a node's) are refused at the handshake, and
/// a message over the client limit is refused with RESOURCE_EXHAUSTED (or
/// OUT_OF_RANGE) while the node stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_certificates_and_oversize_messages_are_refused() {
    use std::time::{Duration, SystemTime};
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let ca = Ca::generate("test cluster", Validity::days(1)).expect("CA");
    let leaf = ca.node(1, &hosts(), Validity::days(1)).expect("node cert");
    write_node_dir(&r.join("tls-1"), &ca, &leaf).expect("node dir");
    let past = Validity {
        not_before: SystemTime::now() - Duration::from_secs(3 * 86_400),
        not_after: SystemTime::now() - Duration::from_secs(86_400),
    };
    let old_node = ca.node(2, &hosts(), past).expect("an expired node cert");
    write_node_dir(&r.join("tls-2-expired"), &ca, &old_node).expect("node dir");
    let old_user = ca.user("alice", past).expect("an expired user cert");
    write_client_dir(&r.join("alice-expired"), &ca, &old_user).expect("client dir");
    let ca_dir = r.join("tls-1");
    let t1 = r.join("tls-1").display().to_string();
    let node1 = Proc::start(bin(), 1, r, &["--bootstrap", "--tls-dir", &t1]).expect("node 1");
    wait_voters(&node1.addr, &ca_dir, 1).await;

    // An expired client certificate: no call gets through, not even an
    // open one.
    let alice = r.join("alice-expired");
    let ch = tls_channel(
        &node1.addr,
        &ca_dir,
        Some((&alice.join("client.pem"), &alice.join("client-key.pem"))),
    )
    .await;
    if let Some(ch) = ch {
        let answered = ClusterServiceClient::new(ch)
            .status(pb::StatusRequest {})
            .await;
        assert!(
            answered.is_err(),
            "an expired client certificate was served"
        );
    }
    // An expired node certificate: no peer call either.
    let old = r.join("tls-2-expired");
    let ch = tls_channel(
        &node1.addr,
        &ca_dir,
        Some((&old.join("node.pem"), &old.join("node-key.pem"))),
    )
    .await;
    if let Some(ch) = ch {
        let answered = RaftServiceClient::new(ch).vote(pb_raft_payload()).await;
        assert!(answered.is_err(), "an expired node certificate was heard");
    }

    // An oversize message, from an admin: refused, and the node serves on.
    let ch = tls_channel(&node1.addr, &ca_dir, None)
        .await
        .expect("a TLS channel");
    let admin = AclServiceClient::new(ch.clone())
        .bootstrap(pb::AclBootstrapRequest {
            name: "root".into(),
        })
        .await
        .expect("bootstrap")
        .into_inner()
        .secret;
    let huge = pb::CreateJobRequest {
        job: Some(pb::JobSpec {
            id: "huge".into(),
            name: "x".repeat(store::model::MAX_CLIENT_MESSAGE_BYTES + 1024),
            ..spec("huge", cron("0 0 * * *"), http("http://127.0.0.1:9/"))
        }),
        on_conflict: 0,
    };
    let e = JobServiceClient::new(ch.clone())
        .max_encoding_message_size(usize::MAX)
        .create_job(bearer(huge, &admin))
        .await
        .expect_err("an oversize message");
    assert!(
        matches!(e.code(), Code::ResourceExhausted | Code::OutOfRange),
        "{e:?}"
    );
    assert!(
        status_over_tls(&node1.addr, &ca_dir).await.is_some(),
        "the node stopped serving after an oversize message"
    );
    let e = JobServiceClient::new(ch)
        .get_job(bearer(pb::GetJobRequest { id: "huge".into() }, &admin))
        .await
        .expect_err("nothing was created");
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
}
