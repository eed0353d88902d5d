//! Cluster tests: real `schedulerd` processes on loopback, each test with
//! its own ports and directories. Every process is killed when its guard
//! drops, also when a test fails. Waits poll with generous deadlines (a
//! loaded 2-core CI machine is slow) and say what they waited for.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proto::v1 as pb;
use proto::v1::cluster_service_client::ClusterServiceClient;
use proto::v1::job_service_client::JobServiceClient;

const DEADLINE: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One schedulerd process; killed on drop.
struct Proc {
    id: u64,
    addr: String,
    dir: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
}

impl Proc {
    fn start(id: u64, root: &Path, extra: &[&str]) -> Proc {
        let mut p = Proc {
            id,
            addr: format!("127.0.0.1:{}", free_port()),
            dir: root.join(format!("node-{id}")),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.with_extension("log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_schedulerd"))
            .args(["--id", &self.id.to_string(), "--listen", &self.addr])
            .arg("--data-dir")
            .arg(&self.dir)
            .args([
                "--heartbeat-ms",
                "100",
                "--election-min-ms",
                "600",
                "--election-max-ms",
                "1200",
            ])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn schedulerd");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.extra.retain(|a| a != "--bootstrap");
        self.spawn();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn status(addr: &str) -> Option<pb::ClusterStatus> {
    let mut c = ClusterServiceClient::connect(format!("http://{addr}"))
        .await
        .ok()?;
    let mut req = tonic::Request::new(pb::StatusRequest {});
    req.set_timeout(Duration::from_secs(3));
    c.status(req).await.ok().map(|r| r.into_inner())
}

/// Polls `check` until it returns `Some`, or fails naming `what`.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `addr` reports a leader and exactly `voters` voters.
async fn wait_cluster(addr: &str, voters: &[u64]) -> pb::ClusterStatus {
    let what = format!("{addr} to report a leader and voters {voters:?}");
    wait_for(&what, || async {
        let s = status(addr).await?;
        let mut v: Vec<u64> = s.members.iter().filter(|m| m.voter).map(|m| m.id).collect();
        v.sort();
        (s.leader.is_some() && v == voters).then_some(s)
    })
    .await
}

async fn start_cluster(root: &Path, n: u64, extra: &[&str]) -> Vec<Proc> {
    let mut procs = vec![Proc::start(1, root, &[&["--bootstrap"], extra].concat())];
    wait_cluster(&procs[0].addr, &[1]).await;
    let seed = procs[0].addr.clone();
    for id in 2..=n {
        procs.push(Proc::start(
            id,
            root,
            &[&["--join", seed.as_str()], extra].concat(),
        ));
    }
    let ids: Vec<u64> = (1..=n).collect();
    wait_cluster(&seed, &ids).await;
    procs
}

fn job(id: &str) -> pb::CreateJobRequest {
    pb::CreateJobRequest {
        job: Some(pb::JobSpec {
            id: id.into(),
            schedule: Some(pb::Schedule {
                kind: Some(pb::schedule::Kind::Interval(pb::IntervalSchedule {
                    every: Some(prost_types::Duration {
                        seconds: 3600,
                        nanos: 0,
                    }),
                    ..Default::default()
                })),
            }),
            executor: Some(pb::Executor {
                kind: Some(pb::executor::Kind::Http(pb::HttpExecutor {
                    url: "http://127.0.0.1:9/hook".into(),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        }),
        on_conflict: 0,
    }
}

async fn create(addr: &str, id: &str) -> Result<pb::Job, tonic::Status> {
    let mut c = JobServiceClient::connect(format!("http://{addr}"))
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    c.create_job(job(id)).await.map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_survive_leader_kill_and_rejoin() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut procs = start_cluster(root.path(), 3, &[]).await;
    let s = wait_cluster(&procs[1].addr, &[1, 2, 3]).await;
    let old = s.leader.expect("leader");
    // A write through a follower is forwarded and readable there at once.
    let follower = procs
        .iter()
        .find(|p| p.id != old)
        .expect("follower")
        .addr
        .clone();
    create(&follower, "before-kill")
        .await
        .expect("create through a follower");

    let victim = procs.iter_mut().find(|p| p.id == old).expect("leader proc");
    victim.kill();
    let survivors: Vec<String> = procs
        .iter()
        .filter(|p| p.id != old)
        .map(|p| p.addr.clone())
        .collect();
    let new = wait_for("a new leader among the survivors", || async {
        let s = status(&survivors[0]).await?;
        s.leader.filter(|l| *l != old)
    })
    .await;
    assert_ne!(new, old);
    let after = wait_for("a write accepted after the failover", || async {
        create(&survivors[1], "after-kill").await.ok()
    })
    .await;
    assert_eq!(after.version, 1);

    // The old leader restarts on its data dir and rejoins as a follower.
    let old_proc = procs.iter_mut().find(|p| p.id == old).expect("old leader");
    old_proc.restart();
    let addr = old_proc.addr.clone();
    wait_for(
        "the old leader to rejoin as a follower and apply the new write",
        || async {
            let s = status(&addr).await?;
            let me = s.members.iter().find(|m| m.id == old)?;
            (s.leader.is_some_and(|l| l != old) && me.healthy && me.applied_index > 0)
                .then_some(())?;
            let mut c = JobServiceClient::connect(format!("http://{addr}"))
                .await
                .ok()?;
            c.get_job(pb::GetJobRequest {
                id: "after-kill".into(),
            })
            .await
            .ok()
            .map(|_| ())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_joins_change_nothing_and_leave_shrinks() {
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let addr = procs[0].addr.clone();
    let mut c = ClusterServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let before = wait_cluster(&addr, &[1, 2, 3]).await.members.len();

    let dup = c
        .add_member(pb::AddMemberRequest {
            id: 2,
            addr: "127.0.0.1:1".into(),
        })
        .await
        .expect_err("duplicate id");
    assert_eq!(dup.code(), tonic::Code::AlreadyExists, "{dup:?}");
    assert!(
        dup.message().contains("node 2 is already a member"),
        "{dup:?}"
    );

    let port = free_port();
    let gone = c
        .add_member(pb::AddMemberRequest {
            id: 9,
            addr: format!("127.0.0.1:{port}"),
        })
        .await
        .expect_err("unreachable address");
    assert_eq!(gone.code(), tonic::Code::Unavailable, "{gone:?}");
    assert!(
        gone.message().contains("unreachable") || gone.message().contains("did not answer"),
        "{gone:?}"
    );
    let s = wait_cluster(&addr, &[1, 2, 3]).await;
    assert_eq!(
        s.members.len(),
        before,
        "a refused join changed the membership: {s:?}"
    );

    c.remove_member(pb::RemoveMemberRequest { id: 3 })
        .await
        .expect("leave");
    let s = wait_cluster(&addr, &[1, 2]).await;
    assert!(
        s.members.iter().all(|m| m.id != 3),
        "node 3 still listed: {s:?}"
    );
    let missing = c
        .remove_member(pb::RemoveMemberRequest { id: 3 })
        .await
        .expect_err("already gone");
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_survive_two_failures() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut procs = start_cluster(root.path(), 5, &[]).await;
    let s = wait_cluster(&procs[4].addr, &[1, 2, 3, 4, 5]).await;
    let leader = s.leader.expect("leader");
    // Kill the leader and one follower.
    let mut killed = vec![leader];
    killed.push(
        procs
            .iter()
            .map(|p| p.id)
            .find(|id| *id != leader)
            .expect("another node"),
    );
    for p in procs.iter_mut().filter(|p| killed.contains(&p.id)) {
        p.kill();
    }
    let alive: Vec<String> = procs
        .iter()
        .filter(|p| !killed.contains(&p.id))
        .map(|p| p.addr.clone())
        .collect();
    let job = wait_for("a write accepted with two of five nodes down", || async {
        create(&alive[0], "survivor").await.ok()
    })
    .await;
    assert_eq!(job.version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_catches_up_through_a_snapshot() {
    const ENTRIES: usize = 50_000;
    const WRITERS: usize = 32;
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 1, &["--snapshot-every", "5000"]).await;
    let addr = procs[0].addr.clone();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = JobServiceClient::connect(format!("http://{addr}"))
                .await
                .expect("connect");
            for i in (w..ENTRIES).step_by(WRITERS) {
                c.create_job(job(&format!("j{i}"))).await.expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    // The log before the last snapshot is purged (openraft keeps 1,000
    // entries behind it, and snapshots come every 5,000), so the new node can only catch up from a snapshot.
    let late = Proc::start(
        2,
        root.path(),
        &["--join", &addr, "--snapshot-every", "5000"],
    );
    wait_cluster(&addr, &[1, 2]).await;
    let late_addr = late.addr.clone();
    wait_for("the late joiner to serve the last job written", || async {
        let mut c = JobServiceClient::connect(format!("http://{late_addr}"))
            .await
            .ok()?;
        c.get_job(pb::GetJobRequest {
            id: format!("j{}", ENTRIES - 1),
        })
        .await
        .ok()
        .map(|_| ())
    })
    .await;
}
