//! Tokens, roles and default deny with real `schedulerd` processes (no
//! TLS here: the checks are the same; TLS is tested apart). Each case
//! fails in the way the security issue states, and no secret reaches a
//! node's log.

mod support;

use chaos_tests::harness::{wait_cluster, wait_for};
use proto::v1 as pb;
use proto::v1::acl_service_client::AclServiceClient;
use proto::v1::cluster_service_client::ClusterServiceClient;
use proto::v1::job_service_client::JobServiceClient;
use support::*;
use tonic::Code;
use tonic::transport::Channel;

async fn channel(addr: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("an address")
        .connect()
        .await
        .expect("connect")
}

/// `msg` with `authorization: Bearer <token>` when a token is given.
fn req<T>(msg: T, token: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Some(t) = token {
        r.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("ascii"),
        );
    }
    r
}

fn list() -> pb::ListJobsRequest {
    pb::ListJobsRequest::default()
}

fn create(id: &str, executor: pb::Executor) -> pb::CreateJobRequest {
    pb::CreateJobRequest {
        job: Some(spec(id, cron("0 0 * * *"), executor)),
        on_conflict: pb::OnConflict::Fail as i32,
    }
}

async fn new_token(
    acl: &mut AclServiceClient<Channel>,
    admin: &str,
    name: &str,
    role: &str,
) -> String {
    acl.create_token(req(
        pb::CreateTokenRequest {
            name: name.into(),
            role: role.into(),
            queues: Vec::new(),
        },
        Some(admin),
    ))
    .await
    .unwrap_or_else(|e| panic!("create token {name}: {e}"))
    .into_inner()
    .secret
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_roles_and_default_deny() {
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let s = wait_cluster(&procs[0].addr, &[1, 2, 3]).await;
    let leader = s.leader.expect("a leader");
    let follower = procs.iter().find(|p| p.id != leader).expect("a follower");
    let ch = channel(&follower.addr).await;
    let mut jobs_c = JobServiceClient::new(ch.clone());
    let mut acl = AclServiceClient::new(ch.clone());
    let mut cluster_c = ClusterServiceClient::new(ch.clone());

    // Before the bootstrap, a cluster without TLS is open.
    jobs_c
        .create_job(req(create("before", http("http://127.0.0.1:9/x")), None))
        .await
        .expect("open before the bootstrap");
    let who = acl
        .who_am_i(req(pb::WhoAmIRequest {}, None))
        .await
        .expect("who am i")
        .into_inner();
    assert!(!who.enforced, "{who:?}");

    // Bootstrap through a follower (forwarded), once.
    let admin = acl
        .bootstrap(req(
            pb::AclBootstrapRequest {
                name: "root".into(),
            },
            None,
        ))
        .await
        .expect("bootstrap")
        .into_inner()
        .secret;
    assert!(
        admin.starts_with("sdt_") && admin.len() == 68,
        "a 256-bit secret"
    );
    let again = acl
        .bootstrap(req(pb::AclBootstrapRequest::default(), None))
        .await
        .expect_err("a second bootstrap");
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");

    // From now on, default deny, on every node once applied.
    for p in &procs {
        let mut c = JobServiceClient::new(channel(&p.addr).await);
        wait_for(
            &format!("node {} to refuse an anonymous list", p.id),
            || {
                let mut c = c.clone();
                async move {
                    match c.list_jobs(req(list(), None)).await {
                        Err(e) if e.code() == Code::Unauthenticated => Some(()),
                        _ => None,
                    }
                }
            },
        )
        .await;
        c.list_jobs(req(list(), Some(&admin)))
            .await
            .expect("the admin lists");
    }
    // Status and health stay open (probes, joining nodes).
    cluster_c
        .status(req(pb::StatusRequest {}, None))
        .await
        .expect("status is open");
    let bogus = "sdt_0000000000000000000000000000000000000000000000000000000000000000";
    let e = jobs_c
        .list_jobs(req(list(), Some(bogus)))
        .await
        .expect_err("an unknown token");
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(
        !e.message().contains(bogus),
        "the secret in an error: {e:?}"
    );

    let reader = new_token(&mut acl, &admin, "ro", "reader").await;
    let writer = new_token(&mut acl, &admin, "ci", "writer").await;
    // A reader reads, and may not write.
    jobs_c
        .list_jobs(req(list(), Some(&reader)))
        .await
        .expect("a reader lists");
    let e = jobs_c
        .create_job(req(
            create("r1", http("http://127.0.0.1:9/x")),
            Some(&reader),
        ))
        .await
        .expect_err("a reader creates a job");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // A writer writes HTTP jobs, not shell jobs, and cannot change the membership.
    let w1 = jobs_c
        .create_job(req(
            create("w1", http("http://127.0.0.1:9/x")),
            Some(&writer),
        ))
        .await
        .expect("a writer creates an HTTP job")
        .into_inner();
    // Who did it is on the job (audit), through a follower too.
    assert_eq!(
        (w1.created_by.as_str(), w1.updated_by.as_str()),
        ("ci", "ci")
    );
    let e = jobs_c
        .create_job(req(create("w2", shell("true")), Some(&writer)))
        .await
        .expect_err("a writer creates a shell job");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("job.executor.shell"), "{e:?}");
    let e = cluster_c
        .add_member(req(
            pb::AddMemberRequest {
                id: 9,
                addr: "127.0.0.1:9".into(),
            },
            Some(&writer),
        ))
        .await
        .expect_err("a writer calls join");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = acl
        .list_tokens(req(pb::ListTokensRequest {}, Some(&writer)))
        .await
        .expect_err("a writer lists tokens");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // The admin sees names and roles, never a secret or a hash.
    let tokens = acl
        .list_tokens(req(pb::ListTokensRequest {}, Some(&admin)))
        .await
        .expect("list tokens")
        .into_inner()
        .tokens;
    let names: Vec<(&str, &str)> = tokens
        .iter()
        .map(|t| (t.name.as_str(), t.role.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![("ci", "writer"), ("ro", "reader"), ("root", "admin")]
    );

    // A revoked token is refused everywhere once applied.
    acl.revoke_token(req(
        pb::RevokeTokenRequest { name: "ci".into() },
        Some(&admin),
    ))
    .await
    .expect("revoke");
    for p in &procs {
        let c = JobServiceClient::new(channel(&p.addr).await);
        wait_for(
            &format!("node {} to refuse the revoked token", p.id),
            || {
                let mut c = c.clone();
                let writer = writer.clone();
                async move {
                    match c.list_jobs(req(list(), Some(&writer))).await {
                        Err(e) if e.code() == Code::Unauthenticated => Some(()),
                        _ => None,
                    }
                }
            },
        )
        .await;
    }
    // Nothing changed that a refused call asked for.
    let ids: Vec<String> = jobs_c
        .list_jobs(req(list(), Some(&admin)))
        .await
        .expect("list")
        .into_inner()
        .jobs
        .into_iter()
        .filter_map(|j| j.spec.map(|s| s.id))
        .collect();
    assert_eq!(ids, vec!["before".to_string(), "w1".to_string()]);

    // No secret in any node's log.
    for p in &procs {
        let log = std::fs::read_to_string(p.dir.with_extension("log")).unwrap_or_default();
        assert!(!log.is_empty(), "node {} wrote no log", p.id);
        for (name, secret) in [("admin", &admin), ("reader", &reader), ("writer", &writer)] {
            assert!(
                !log.contains(secret.as_str()),
                "node {}'s log holds the {name} secret",
                p.id
            );
        }
    }
}
