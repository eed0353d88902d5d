//! Cluster tests: real `schedulerd` processes on loopback, each test with
//! its own ports and directories. Every process is killed when its guard
//! drops, also when a test fails. Waits poll with generous deadlines (a
//! loaded 2-core CI machine is slow) and say what they waited for.

mod support;

use chaos_tests::harness::{
    self, Proc, create, free_port, http_get, status, wait_cluster, wait_for,
};
use proto::v1 as pb;
use proto::v1::cluster_service_client::ClusterServiceClient;
use proto::v1::job_service_client::JobServiceClient;
use support::{bin, start_cluster};

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
    old_proc.restart().expect("restart");
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
                c.create_job(harness::daily_job(&format!("j{i}")))
                    .await
                    .expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    // The log before the last snapshot is purged (openraft keeps 1,000
    // entries behind it, and snapshots come every 5,000), so the new node
    // can only catch up from a snapshot.
    let late = Proc::start(
        bin(),
        2,
        root.path(),
        &["--join", &addr, "--snapshot-every", "5000"],
    )
    .expect("start the late joiner");
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
    // And it got there through a snapshot (the store logs each install),
    // not by replaying a log that should have been purged.
    let log = std::fs::read_to_string(late.dir.with_extension("log")).unwrap_or_default();
    assert!(
        log.contains("installed snapshot"),
        "the late joiner never installed a snapshot; its log:\n{}",
        log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_the_leader_hands_over_and_exits_cleanly() {
    let root = tempfile::tempdir().expect("tempdir");
    // Election timeouts of 4-5 s. Every voter refuses votes for one lease
    // (openraft: 5 s, the upper timeout) after it last heard the leader, so
    // without a hand-over the first campaign (at 4-5 s) is refused and a
    // second one wins at about 9 s (measured: 9.2 s). With it, the stopped
    // leader's chosen voter campaigns just after the lease: about 5.1 s.
    const BOUND: std::time::Duration = std::time::Duration::from_millis(7_500);
    let mut procs = start_cluster(
        root.path(),
        3,
        // Without the early campaign (raft/campaign.rs), which would make
        // a plain election as fast: this test proves the hand-over itself.
        &[
            "--election-min-ms",
            "4000",
            "--election-max-ms",
            "5000",
            "--no-early-campaign",
        ],
    )
    .await;
    let old = wait_cluster(&procs[0].addr, &[1, 2, 3])
        .await
        .leader
        .expect("leader");
    let survivors: Vec<(String, std::path::PathBuf)> = procs
        .iter()
        .filter(|p| p.id != old)
        .map(|p| (p.addr.clone(), p.dir.with_extension("log")))
        .collect();
    let leader = procs.iter_mut().find(|p| p.id == old).expect("leader proc");
    let sent = std::time::Instant::now();
    let exit = leader.terminate(std::time::Duration::from_secs(30)).await;
    assert!(
        exit.is_some_and(|s| s.success()),
        "schedulerd did not exit cleanly on SIGTERM: {exit:?}"
    );
    // Either survivor may answer; on the deadline, say what each one saw.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let new = loop {
        let mut seen = Vec::new();
        for (addr, _) in &survivors {
            let s = status(addr).await;
            if let Some(l) = s.as_ref().and_then(|s| s.leader).filter(|l| *l != old) {
                seen.push(Some(l));
            } else {
                seen.push(None);
            }
        }
        if let Some(l) = seen.into_iter().flatten().next() {
            break l;
        }
        if sent.elapsed() > BOUND {
            panic!(
                "no new leader within {BOUND:?} of SIGTERM to leader {old}: an election \
                 after the lease, not a hand-over"
            );
        }
        if std::time::Instant::now() >= deadline {
            let mut why = String::new();
            for (addr, log) in &survivors {
                let tail: String = std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                why.push_str(&format!(
                    "\n--- {addr}: status {:?}\n{tail}",
                    status(addr).await
                ));
            }
            panic!("no other node led within 60 s of the hand-over:{why}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_ne!(new, old);
    eprintln!(
        "node {new} led {:?} after SIGTERM to leader {old}",
        sent.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_term_leader_and_indexes() {
    let root = tempfile::tempdir().expect("tempdir");
    let metrics = format!("127.0.0.1:{}", free_port());
    let procs = start_cluster(root.path(), 1, &["--metrics", &metrics]).await;
    create(&procs[0].addr, "m").await.expect("create");
    let body = wait_for("a metrics scrape showing this node as leader", || async {
        http_get(&metrics, "/metrics").filter(|b| b.contains("scheduler_raft_is_leader 1"))
    })
    .await;
    for name in [
        "scheduler_raft_term 1",
        "scheduler_raft_leader_id 1",
        "scheduler_jobs 1",
        "scheduler_raft_commit_index",
        "scheduler_lease_valid 1",
    ] {
        assert!(body.contains(name), "metrics lack {name:?}:\n{body}");
    }
    // Runs are counted as they happen: an every-second job whose calls
    // fail (nothing listens on port 9) shows in the lateness histogram and
    // in the failed runs, by executor kind.
    let mut c = JobServiceClient::connect(format!("http://{}", procs[0].addr))
        .await
        .expect("connect");
    c.create_job(pb::CreateJobRequest {
        job: Some(support::spec(
            "fails",
            support::cron("* * * * * *"),
            support::http("http://127.0.0.1:9/"),
        )),
        on_conflict: 0,
    })
    .await
    .expect("create");
    let body = wait_for("a failed http run in the metrics", || async {
        http_get(&metrics, "/metrics")
            .filter(|b| b.contains(r#"scheduler_runs_total{executor="http",state="failed"}"#))
    })
    .await;
    for name in [
        r#"scheduler_fire_lateness_seconds_count{executor="http"}"#,
        r#"scheduler_fire_lateness_seconds_bucket{le="0.005",executor="http"}"#,
        r#"scheduler_run_duration_seconds_count{executor="http"}"#,
        r#"scheduler_attempts_total{executor="http"}"#,
    ] {
        assert!(body.contains(name), "metrics lack {name:?}:\n{body}");
    }
}

/// On a 3-node cluster every node's metrics name the leader: a follower
/// shows the leader's id and `is_leader 0`, the leader `is_leader 1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_every_node_of_three_name_the_leader() {
    let root = tempfile::tempdir().expect("tempdir");
    let metrics: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let procs = harness::start_cluster_each(bin(), root.path(), 3, |id| {
        vec!["--metrics".into(), metrics[id as usize - 1].clone()]
    })
    .await
    .expect("start schedulerd processes");
    let s = wait_cluster(&procs[0].addr, &[1, 2, 3]).await;
    let leader = s.leader.expect("leader");
    for (i, addr) in metrics.iter().enumerate() {
        let id = i as u64 + 1;
        let is_leader = if id == leader { 1 } else { 0 };
        let want = [
            format!("scheduler_raft_leader_id {leader}\n"),
            format!("scheduler_raft_is_leader {is_leader}\n"),
        ];
        let what = format!("node {id}'s metrics to show leader {leader} and is_leader {is_leader}");
        wait_for(&what, || async {
            let body = http_get(addr, "/metrics")?;
            want.iter().all(|w| body.contains(w.as_str())).then_some(())
        })
        .await;
    }
    // The leader did not change while the metrics were read.
    let after = wait_cluster(&procs[0].addr, &[1, 2, 3]).await;
    assert_eq!(
        after.leader,
        Some(leader),
        "the leader changed during the test"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_answers_without_a_leader_and_health_follows() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let root = tempfile::tempdir().expect("tempdir");
    let mut procs = start_cluster(root.path(), 3, &[]).await;
    let last = procs[2].addr.clone();
    // Readiness is "" (needs a leader); liveness is the cluster service,
    // which answers status with or without one.
    const LIVENESS: &str = "scheduler.v1.ClusterService";
    let health_of = |addr: String, service: &'static str| async move {
        let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .ok()?
            .connect()
            .await
            .ok()?;
        let mut c = HealthClient::new(ch);
        let r = c
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .ok()?;
        Some(r.into_inner().status())
    };
    let health = |addr: String| health_of(addr, "");
    wait_for("node 3 to report SERVING", || async {
        (health(last.clone()).await? == ServingStatus::Serving).then_some(())
    })
    .await;
    // Lose the majority: node 3 alone can elect no leader.
    for p in procs.iter_mut().take(2) {
        p.kill();
    }
    let s = wait_for("node 3 to say that no leader is known", || async {
        status(&last).await.filter(|s| s.leader.is_none())
    })
    .await;
    assert_eq!(
        s.members.len(),
        3,
        "status without a leader still lists every member: {s:?}"
    );
    assert_eq!(s.answered_by, 3);
    wait_for("node 3 to report NOT_SERVING without a leader", || async {
        (health(last.clone()).await? == ServingStatus::NotServing).then_some(())
    })
    .await;
    // Liveness stays SERVING: a node in a minority is not to be restarted.
    assert_eq!(
        health_of(last.clone(), LIVENESS).await,
        Some(ServingStatus::Serving),
        "liveness ({LIVENESS}) without a leader"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_fires_and_followers_run_each_occurrence_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let s = wait_cluster(&procs[0].addr, &[1, 2, 3]).await;
    let leader = s.leader.expect("leader");
    let addr = procs[0].addr.clone();
    // Into a fencing sink that records every request, so that a second run
    // of an occurrence would show (the job succeeds, so no retry hides it).
    let sink = chaos_tests::sink::Sink::start().await.expect("sink");
    let mut req = harness::daily_job("every-second");
    if let Some(spec) = req.job.as_mut() {
        spec.schedule = Some(pb::Schedule {
            kind: Some(pb::schedule::Kind::Human("every 1 second".into())),
        });
        spec.executor = Some(chaos_tests::pb::http(&sink.url()));
    }
    let mut c = JobServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    c.create_job(req).await.expect("create");
    let runs = wait_for("five finished runs of the every-second job", || {
        let mut c = c.clone();
        async move {
            let r = c
                .list_runs(pb::ListRunsRequest {
                    job_id: "every-second".into(),
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner()
                .runs;
            let done: Vec<pb::Run> = r.into_iter().filter(|r| r.finished_at.is_some()).collect();
            (done.len() >= 5).then_some(done)
        }
    })
    .await;
    let mut ids: Vec<&str> = runs.iter().map(|r| r.occurrence_id.as_str()).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        runs.len(),
        "an occurrence was listed twice: {runs:?}"
    );
    for pair in runs.windows(2) {
        assert!(
            pair[0].fencing_token < pair[1].fencing_token,
            "tokens not increasing: {pair:?}"
        );
    }
    for r in &runs {
        assert_ne!(
            r.node_id, leader,
            "the leader ran a job although followers were eligible: {r:?}"
        );
        assert_eq!(r.attempt, 1, "{r:?}");
        assert_eq!(
            pb::RunState::try_from(r.state),
            Ok(pb::RunState::Succeeded),
            "{r:?}"
        );
        // Exactly one request reached the sink for it, with its token.
        let hits: Vec<_> = sink
            .hits()
            .into_iter()
            .filter(|h| h.occurrence_id == r.occurrence_id)
            .collect();
        assert_eq!(hits.len(), 1, "{}: {hits:?}", r.occurrence_id);
        assert_eq!(hits[0].fencing_token, r.fencing_token, "{hits:?}");
        assert!(hits[0].accepted, "{hits:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_assignee_loses_its_attempt_to_a_higher_token() {
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let addr = procs[0].addr.clone();
    wait_cluster(&addr, &[1, 2, 3]).await;
    let due = std::time::SystemTime::now() + std::time::Duration::from_secs(4);
    let secs = due
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let mut req = harness::daily_job("once");
    if let Some(spec) = req.job.as_mut() {
        spec.schedule = Some(pb::Schedule {
            kind: Some(pb::schedule::Kind::Once(prost_types::Timestamp {
                seconds: secs,
                nanos: 0,
            })),
        });
    }
    let mut c = JobServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    c.create_job(req).await.expect("create");
    let list = |mut c: JobServiceClient<tonic::transport::Channel>| async move {
        let r = c
            .list_runs(pb::ListRunsRequest {
                job_id: "once".into(),
                ..Default::default()
            })
            .await
            .ok()?;
        r.into_inner().runs.into_iter().next()
    };
    // Armed a lookahead ahead of its instant: stop its assignee before it is due.
    let armed = wait_for("the one-shot occurrence to be armed", || list(c.clone())).await;
    let victim = procs
        .iter()
        .find(|p| p.id == armed.node_id)
        .expect("assignee process");
    victim.signal("STOP");
    let moved = wait_for(
        "the occurrence to finish on another node under a higher token",
        || async {
            list(c.clone())
                .await
                .filter(|r| r.finished_at.is_some() && r.node_id != armed.node_id)
        },
    )
    .await;
    victim.signal("CONT");
    assert!(
        moved.fencing_token > armed.fencing_token,
        "armed {armed:?}, moved {moved:?}"
    );
    assert_eq!(moved.attempt, armed.attempt + 1, "{moved:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_occurrence_reaches_a_fencing_sink_once_with_the_contract_headers() {
    let sink = chaos_tests::sink::Sink::start().await.expect("sink");
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let addr = procs[1].addr.clone();
    wait_cluster(&addr, &[1, 2, 3]).await;
    let mut c = JobServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let jobs = ["a", "b", "c"];
    for id in jobs {
        let mut req = harness::daily_job(id);
        if let Some(spec) = req.job.as_mut() {
            spec.schedule = Some(pb::Schedule {
                kind: Some(pb::schedule::Kind::Cron("* * * * * *".into())),
            });
            spec.executor = Some(pb::Executor {
                kind: Some(pb::executor::Kind::Http(pb::HttpExecutor {
                    url: sink.url(),
                    ..Default::default()
                })),
            });
        }
        c.create_job(req).await.expect("create through a follower");
    }
    // Let every job run at least four times, then stop them.
    wait_for("four accepted effects per job at the sink", || async {
        let hits = sink.hits();
        jobs.iter()
            .all(|j| hits.iter().filter(|h| h.accepted && h.job_id == *j).count() >= 4)
            .then_some(())
    })
    .await;
    for id in jobs {
        c.pause_jobs(pb::PauseRequest {
            target: Some(pb::pause_request::Target::JobId(id.into())),
        })
        .await
        .expect("pause");
    }
    // Wait until every armed run has finished, then compare both sides.
    let runs = wait_for("every run of the paused jobs to finish", || {
        let mut c = c.clone();
        async move {
            let runs = c
                .list_runs(pb::ListRunsRequest::default())
                .await
                .ok()?
                .into_inner()
                .runs;
            runs.iter().all(|r| r.finished_at.is_some()).then_some(runs)
        }
    })
    .await;
    let hits = sink.hits();
    assert!(
        hits.iter().all(|h| h.accepted),
        "the sink refused a duplicate or stale write: {hits:?}"
    );
    for h in &hits {
        let (job, at) = h
            .occurrence_id
            .rsplit_once('@')
            .expect("occurrence id is job@instant");
        assert_eq!(job, h.job_id, "{h:?}");
        assert_eq!(at, h.scheduled_at, "{h:?}");
        assert_eq!(h.attempt, 1, "{h:?}");
        assert!(h.fencing_token > 0 && h.node_id > 0, "{h:?}");
        let run = runs
            .iter()
            .find(|r| r.occurrence_id == h.occurrence_id)
            .expect("the run behind a sink hit");
        assert_eq!(run.fencing_token, h.fencing_token, "{h:?} vs {run:?}");
        assert_eq!(run.node_id, h.node_id, "{h:?} vs {run:?}");
        assert_eq!(run.state, pb::RunState::Succeeded as i32, "{run:?}");
    }
    let succeeded = runs
        .iter()
        .filter(|r| r.state == pb::RunState::Succeeded as i32)
        .count();
    assert_eq!(
        succeeded,
        hits.len(),
        "every succeeded run reached the sink once, and nothing else did"
    );
    for j in jobs {
        let tokens: Vec<u64> = hits
            .iter()
            .filter(|h| h.job_id == j)
            .map(|h| h.fencing_token)
            .collect();
        assert!(
            tokens.windows(2).all(|w| w[0] < w[1]),
            "tokens of {j} not increasing: {tokens:?}"
        );
    }
}

/// `WatchEvents` carries leadership changes (node-local events): a watcher
/// of a follower sees LEADER_CHANGED naming the new leader after the old
/// one is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_reports_a_leader_change() {
    use tokio_stream::StreamExt;
    let root = tempfile::tempdir().expect("tempdir");
    let mut procs = start_cluster(root.path(), 3, &[]).await;
    wait_cluster(&procs[0].addr, &[1, 2, 3]).await;
    // The leader to kill is the one the watcher's own node sees once its
    // stream is open: a leader change during the joins (a loaded machine)
    // would otherwise have us kill a follower and wait for nothing.
    let (old, mut events) = wait_for("a follower's watcher open, agreeing on the leader", || {
        let procs = &procs;
        async move {
            let leader = status(&procs[0].addr).await?.leader?;
            let watcher = procs.iter().find(|p| p.id != leader)?.addr.clone();
            let mut c = JobServiceClient::connect(format!("http://{watcher}"))
                .await
                .ok()?;
            let events = c
                .watch_events(pb::WatchEventsRequest::default())
                .await
                .ok()?
                .into_inner();
            (status(&watcher).await?.leader? == leader).then_some((leader, events))
        }
    })
    .await;
    procs
        .iter_mut()
        .find(|p| p.id == old)
        .expect("leader proc")
        .kill();
    let changed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(Ok(e)) = events.next().await {
            if e.kind == pb::EventKind::LeaderChanged as i32 && e.node_id != 0 && e.node_id != old {
                return Some(e);
            }
        }
        None
    })
    .await;
    let Ok(changed) = changed else {
        let mut seen = Vec::new();
        for p in procs.iter().filter(|p| p.id != old) {
            seen.push((p.id, status(&p.addr).await.map(|s| s.leader)));
        }
        panic!(
            "no LEADER_CHANGED event within 60 s of killing leader {old}; \
             the survivors' view of the leader: {seen:?}"
        );
    };
    let changed = changed.expect("the stream stayed open");
    assert_eq!(changed.log_index, 0, "a node-local event: {changed:?}");
    assert!(changed.detail.contains("leads"), "{changed:?}");
}

/// A shell job on a cluster where no node runs shell jobs is refused at
/// creation with the field and the fix, once every member has registered
/// its executor kinds (before that nobody can tell, and it is accepted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_job_no_member_can_run_is_refused_at_creation() {
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let addr = procs[0].addr.clone();
    let mut n = 0;
    let refused = wait_for(
        "a shell job to be refused once every node registered",
        || {
            n += 1;
            let id = format!("sh-{n}");
            let addr = addr.clone();
            async move {
                let mut c = JobServiceClient::connect(format!("http://{addr}"))
                    .await
                    .ok()?;
                let spec = support::spec(&id, support::cron("* * * * *"), support::shell("true"));
                match c
                    .create_job(pb::CreateJobRequest {
                        job: Some(spec),
                        on_conflict: 0,
                    })
                    .await
                {
                    Err(e) if e.code() == tonic::Code::InvalidArgument => Some((id, e)),
                    _ => None,
                }
            }
        },
    )
    .await;
    let (id, e) = refused;
    assert!(
        e.message()
            .starts_with("job.executor.shell: no member runs shell jobs"),
        "{}",
        e.message()
    );
    let mut c = JobServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let got = c.get_job(pb::GetJobRequest { id: id.clone() }).await;
    assert_eq!(
        got.expect_err("the refused job does not exist").code(),
        tonic::Code::NotFound
    );
}

/// kill -9 of a node that runs a shell job kills the job's processes too
/// (its reaper kills the group), so a re-run elsewhere after the lease
/// never overlaps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_job_dies_with_its_node() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut procs = start_cluster(root.path(), 3, &["--enable-shell-executor"]).await;
    let addr = procs[0].addr.clone();
    let pidfile = root.path().join("sleep.pid");
    let mut c = JobServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    // A grandchild: `sleep` in the background of the job's shell.
    // Ten minutes: far longer than the wait below, so it ends only if
    // something kills it.
    let command = format!("sleep 600 & echo $! > {}; wait", pidfile.display());
    let spec = support::spec(
        "long-sleep",
        support::once(support::now_ms() + 1_500),
        support::shell(&command),
    );
    c.create_job(pb::CreateJobRequest {
        job: Some(spec),
        on_conflict: 0,
    })
    .await
    .expect("create");
    let pid: u32 = wait_for("the job to start its sleep", || {
        let pidfile = pidfile.clone();
        async move { std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok() }
    })
    .await;
    let runner = wait_for("the run to show its node", || {
        let c = c.clone();
        async move {
            let runs = support::runs(&c, "long-sleep").await?;
            runs.first().map(|r| r.node_id).filter(|n| *n != 0)
        }
    })
    .await;
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().to_string()))
            .is_some_and(|r| !r.starts_with('Z'))
    };
    assert!(alive(pid), "the job's sleep runs");
    procs
        .iter_mut()
        .find(|p| p.id == runner)
        .expect("the node running the job")
        .kill();
    // Polled with a deadline of its own, well short of the sleep's ten
    // minutes (and of `wait_for`'s), so a sleep that outlives its node fails.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "sleep {pid} still runs 30 s after its node {runner} was killed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Not left behind either way.
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

/// Reflection answers as v1 and as v1alpha (what grpcio-reflection, older
/// grpcurl, Postman and Evans speak), listing the public services.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_api_as_v1_and_v1alpha() {
    use tokio_stream::StreamExt;
    use tonic_reflection::pb::{v1, v1alpha};
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 1, &[]).await;
    let url = format!("http://{}", procs[0].addr);

    let channel = tonic::transport::Endpoint::from_shared(url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let req = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut answers = alpha
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("v1alpha reflection")
        .into_inner();
    let Some(Ok(answer)) = answers.next().await else {
        panic!("no v1alpha answer");
    };
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "scheduler.v1.JobService",
        "scheduler.v1.ClusterService",
        "scheduler.v1.WorkerService",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }

    let mut v1c = v1::server_reflection_client::ServerReflectionClient::new(channel);
    let req = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut answers = v1c
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("v1 reflection")
        .into_inner();
    assert!(
        matches!(answers.next().await, Some(Ok(_))),
        "v1 still answers"
    );
}

/// A client message over the limit (4 MiB) is refused with a precise
/// status, and the node stays up and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_message_is_refused_and_the_node_stays_up() {
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 1, &[]).await;
    let addr = procs[0].addr.clone();
    let mut c = JobServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect")
        .max_encoding_message_size(64 * 1024 * 1024);
    let mut spec = support::spec(
        "big",
        support::cron("* * * * *"),
        support::http("http://127.0.0.1:9/"),
    );
    spec.name = "x".repeat(5 * 1024 * 1024);
    let e = c
        .create_job(pb::CreateJobRequest {
            job: Some(spec),
            on_conflict: 0,
        })
        .await
        .expect_err("refused");
    assert!(
        matches!(
            e.code(),
            tonic::Code::ResourceExhausted | tonic::Code::OutOfRange
        ),
        "{e:?}"
    );
    let s = status(&addr).await.expect("the node still answers");
    assert_eq!(s.answered_by, 1);
    let got = c.get_job(pb::GetJobRequest { id: "big".into() }).await;
    assert_eq!(got.expect_err("not created").code(), tonic::Code::NotFound);
}

/// A job whose runs keep failing pauses itself after N in a row, with the
/// reason and the failing occurrences on the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_pauses_itself_after_n_failing_http_calls() {
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let addr = procs[0].addr.clone();
    let mut c = JobServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    // Port 9 (discard) refuses on loopback: every call fails.
    let mut spec = support::spec(
        "flaky",
        support::cron("* * * * * *"),
        support::http("http://127.0.0.1:9/"),
    );
    support::policies(&mut spec).pause_after_failures = 3;
    c.create_job(pb::CreateJobRequest {
        job: Some(spec),
        on_conflict: 0,
    })
    .await
    .expect("create");
    let job = wait_for("the job to pause itself", || {
        let mut c = c.clone();
        async move {
            let j = c
                .get_job(pb::GetJobRequest { id: "flaky".into() })
                .await
                .ok()?
                .into_inner();
            (j.state == pb::JobState::Paused as i32).then_some(j)
        }
    })
    .await;
    assert!(
        job.pause_reason
            .starts_with("paused after 3 consecutive failures: "),
        "{}",
        job.pause_reason
    );
    assert_eq!(job.failing_occurrences.len(), 3, "{job:?}");
    let runs = support::runs(&c, "flaky").await.expect("runs");
    for id in &job.failing_occurrences {
        let run = runs
            .iter()
            .find(|r| &r.occurrence_id == id)
            .unwrap_or_else(|| panic!("{id} is a run"));
        assert_eq!(support::state(run), pb::RunState::Failed, "{run:?}");
        assert!(job.pause_reason.contains(id.as_str()));
    }
}

/// A backfill runs a past range's instants once each, in order; run again
/// it runs nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_runs_each_past_instant_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let sink = chaos_tests::sink::Sink::start().await.expect("sink");
    let addr = procs[1].addr.clone();
    let mut c = JobServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let created_at = support::now_ms();
    c.create_job(pb::CreateJobRequest {
        job: Some(support::spec(
            "past",
            support::cron("* * * * * *"),
            support::http(&sink.url()),
        )),
        on_conflict: 0,
    })
    .await
    .expect("create");
    // Twenty whole seconds that passed before the job existed.
    let to = (created_at / 1000 - 11) * 1000;
    let from = to - 19_000;
    let req = pb::BackfillJobRequest {
        id: "past".into(),
        from: Some(support::ts(from)),
        to: Some(support::ts(to)),
    };
    let first = c
        .backfill_job(req.clone())
        .await
        .expect("backfill")
        .into_inner();
    assert_eq!((first.created, first.existing), (20, 0));
    let again = c
        .backfill_job(req)
        .await
        .expect("backfill again")
        .into_inner();
    assert_eq!((again.created, again.existing), (0, 20));
    let in_range = |h: &chaos_tests::sink::Hit| {
        chrono::DateTime::parse_from_rfc3339(&h.scheduled_at)
            .map(|t| (from..=to).contains(&t.timestamp_millis()))
            .unwrap_or(false)
    };
    let hits = wait_for("twenty backfilled effects", || {
        let hits: Vec<_> = sink.hits().into_iter().filter(in_range).collect();
        async move { (hits.len() >= 20).then_some(hits) }
    })
    .await;
    let accepted: std::collections::BTreeSet<String> = hits
        .iter()
        .filter(|h| h.accepted)
        .map(|h| h.occurrence_id.clone())
        .collect();
    assert_eq!(accepted.len(), 20, "one effect per instant: {hits:?}");
    assert_eq!(hits.len(), 20, "nothing ran twice: {hits:?}");
    // In order: tokens rise with the scheduled instant.
    let mut by_instant: Vec<_> = hits
        .iter()
        .map(|h| (h.scheduled_at.clone(), h.fencing_token))
        .collect();
    by_instant.sort();
    assert!(
        by_instant.windows(2).all(|w| w[0].1 < w[1].1),
        "{by_instant:?}"
    );
}

/// A dependent job runs once for each successful occurrence of its
/// upstream, at the upstream's instant (`B@<A's instant>`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_job_runs_once_per_upstream_success() {
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let sink = chaos_tests::sink::Sink::start().await.expect("sink");
    let mut c = JobServiceClient::connect(format!("http://{}", procs[0].addr))
        .await
        .expect("connect");
    for spec in [
        support::spec(
            "up",
            support::cron("* * * * * *"),
            support::http(&sink.url()),
        ),
        pb::JobSpec {
            schedule: Some(pb::Schedule {
                kind: Some(pb::schedule::Kind::After(pb::AfterJob {
                    job_id: "up".into(),
                    on_finished: false,
                })),
            }),
            ..support::spec(
                "down",
                support::cron("* * * * * *"),
                support::http(&sink.url()),
            )
        },
    ] {
        c.create_job(pb::CreateJobRequest {
            job: Some(spec),
            on_conflict: 0,
        })
        .await
        .expect("create");
    }
    let hits = wait_for("three runs of the dependent job", || {
        let hits = sink.hits();
        async move { (hits.iter().filter(|h| h.job_id == "down").count() >= 3).then_some(hits) }
    })
    .await;
    let ups: std::collections::BTreeSet<String> = hits
        .iter()
        .filter(|h| h.job_id == "up" && h.accepted)
        .map(|h| h.scheduled_at.clone())
        .collect();
    let mut downs = std::collections::BTreeMap::<String, usize>::new();
    for h in hits.iter().filter(|h| h.job_id == "down") {
        assert!(h.accepted, "{h:?}");
        assert_eq!(h.occurrence_id, format!("down@{}", h.scheduled_at));
        assert!(
            ups.contains(&h.scheduled_at),
            "down ran for an instant up did not run: {h:?}"
        );
        *downs.entry(h.scheduled_at.clone()).or_default() += 1;
    }
    assert!(
        downs.values().all(|n| *n == 1),
        "once per upstream occurrence: {downs:?}"
    );
}

/// `--peer-listen`: Raft and the other peer services move to their own
/// port, off the client port, so an operator can firewall them. The
/// cluster forms and forwards through the peer ports, clients see the
/// client addresses, and each port refuses the other's services.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_services_on_their_own_listener() {
    use proto::internal::raft_service_client::RaftServiceClient;
    let root = tempfile::tempdir().expect("tempdir");
    // Each peer port is picked just before its node starts: a port picked
    // early could be taken by a parallel test before the node binds it.
    let mut peer_ports = vec![format!("127.0.0.1:{}", free_port())];
    let mut procs = vec![
        Proc::start(
            bin(),
            1,
            root.path(),
            &["--bootstrap", "--peer-listen", &peer_ports[0]],
        )
        .expect("start node 1"),
    ];
    wait_cluster(&procs[0].addr, &[1]).await;
    let seed = procs[0].addr.clone();
    for id in 2..=3u64 {
        peer_ports.push(format!("127.0.0.1:{}", free_port()));
        procs.push(
            Proc::start(
                bin(),
                id,
                root.path(),
                &[
                    "--join",
                    &seed,
                    "--peer-listen",
                    &peer_ports[id as usize - 1],
                ],
            )
            .expect("start a joining node"),
        );
    }
    wait_cluster(&seed, &[1, 2, 3]).await;
    // The status names the addresses clients use (once each node has
    // registered its own, which it does after joining).
    let client_addrs: Vec<(u64, String)> = procs.iter().map(|p| (p.id, p.addr.clone())).collect();
    let s = wait_for(
        "the status to show every member's client address",
        || async {
            let s = status(&seed).await?;
            s.members
                .iter()
                .all(|m| client_addrs.contains(&(m.id, m.addr.clone())))
                .then_some(s)
        },
    )
    .await;
    let leader = s.leader.expect("a leader");
    let follower = procs.iter().find(|p| p.id != leader).expect("a follower");

    // A write through a follower's client port is forwarded over the peer
    // ports, and its run is dispatched and reported over them.
    let sink = chaos_tests::sink::Sink::start().await.expect("sink");
    let mut c = JobServiceClient::connect(format!("http://{}", follower.addr))
        .await
        .expect("connect");
    let now = proto::time::now_ms();
    let spec = pb::JobSpec {
        id: "over-peers".into(),
        schedule: Some(pb::Schedule {
            kind: Some(pb::schedule::Kind::Once(chaos_tests::pb::ts(now + 1_500))),
        }),
        executor: Some(chaos_tests::pb::http(&sink.url())),
        ..Default::default()
    };
    c.create_job(pb::CreateJobRequest {
        job: Some(spec),
        on_conflict: pb::OnConflict::Fail as i32,
    })
    .await
    .expect("create through a follower");
    wait_for("the job's one run to reach the sink", || async {
        (!sink.is_empty()).then_some(())
    })
    .await;

    // Each port serves only its own services.
    let payload = proto::internal::RaftPayload::default();
    let mut on_client = RaftServiceClient::connect(format!("http://{}", follower.addr))
        .await
        .expect("connect to the client port");
    let e = on_client
        .vote(payload.clone())
        .await
        .expect_err("Raft on the client port");
    assert_eq!(e.code(), tonic::Code::Unimplemented, "{e:?}");
    let peer = &peer_ports[follower.id as usize - 1];
    let mut jobs_on_peer = JobServiceClient::connect(format!("http://{peer}"))
        .await
        .expect("connect to the peer port");
    let e = jobs_on_peer
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .expect_err("the job API on the peer port");
    assert_eq!(e.code(), tonic::Code::Unimplemented, "{e:?}");
    // Peers still ask each other for status on the peer port.
    let mut status_on_peer = ClusterServiceClient::connect(format!("http://{peer}"))
        .await
        .expect("connect to the peer port");
    let st = status_on_peer
        .status(pb::StatusRequest {})
        .await
        .expect("status on the peer port")
        .into_inner();
    assert_eq!(st.leader, Some(leader));
}

/// The value of metric `name` (a line `name VALUE`) on the metrics
/// endpoint `addr`, or `None` if it does not answer.
fn metric(addr: &str, name: &str) -> Option<u64> {
    let body = http_get(addr, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// The catch-up barrier with real processes: an assignee frozen (SIGSTOP)
/// while its armed retry falls due is replaced under a higher token; when
/// it resumes, it must not start its old attempt in the moment between its
/// lease coming back and its applying the entry that moved the attempt.
/// Thousands of entries written while it was stopped, before that one,
/// make the moment long (it catches up in batches), so a node that starts
/// on a renewed lease alone is caught: its shell command writes its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_assignee_catches_up_before_it_starts_anything() {
    let root = tempfile::tempdir().expect("tempdir");
    let metrics: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    // Node i carries the label `xJ=1` for every other node J, so the
    // selector {xL: 1} matches every node but L.
    let procs = harness::start_cluster_each(bin(), root.path(), 3, |id| {
        let mut args = vec![
            "--metrics".into(),
            metrics[id as usize - 1].clone(),
            "--enable-shell-executor".into(),
        ];
        for other in (1..=3).filter(|o| *o != id) {
            args.extend(["--label".into(), format!("x{other}=1")]);
        }
        args
    })
    .await
    .expect("start schedulerd processes");
    let s = wait_cluster(&procs[0].addr, &[1, 2, 3]).await;
    let leader = s.leader.expect("leader");
    let leader_addr = procs
        .iter()
        .find(|p| p.id == leader)
        .expect("leader process")
        .addr
        .clone();
    let starts = root.path().join("starts");
    // Attempt 1 fails; its retry is armed 10 s ahead on a follower.
    let mut job = support::spec(
        "barrier",
        support::once(support::now_ms() + 2_000),
        support::shell(&format!(
            "echo \"$SCHEDULER_FENCING_TOKEN $SCHEDULER_ATTEMPT $SCHEDULER_NODE_ID\" >> {}; \
             test \"$SCHEDULER_ATTEMPT\" -gt 1",
            starts.display()
        )),
    );
    job.node_selector = [(format!("x{leader}"), "1".to_string())].into();
    support::policies(&mut job).retries = Some(pb::RetryPolicy {
        max_retries: 1,
        initial_backoff: Some(support::dur(10_000)),
        ..Default::default()
    });
    let mut c = support::jobs(&leader_addr).await;
    support::create(&mut c, job).await;
    let retry = wait_for(
        "the retry (attempt 2) to be armed on a follower",
        || async {
            support::runs(&c, "barrier")
                .await?
                .into_iter()
                .find(|r| r.attempt == 2 && !support::finished(r))
        },
    )
    .await;
    assert_ne!(retry.node_id, leader, "the selector excludes the leader");
    let victim = procs
        .iter()
        .find(|p| p.id == retry.node_id)
        .expect("assignee process");
    let victim_metrics = metrics[retry.node_id as usize - 1].clone();
    victim.signal("STOP");
    // While it is stopped: many entries, one per create, until the retry
    // has been moved and has run elsewhere.
    let mut bulk = 0u32;
    let moved = loop {
        for _ in 0..50 {
            harness::create(&leader_addr, &format!("bulk-{bulk}"))
                .await
                .expect("create while the assignee is stopped");
            bulk += 1;
        }
        let done = support::runs(&c, "barrier").await.and_then(|rs| {
            rs.into_iter()
                .find(|r| r.attempt > 2 && support::finished(r))
        });
        if let Some(r) = done {
            break r;
        }
        assert!(
            bulk < 60_000,
            "the retry was not moved after {bulk} creates"
        );
    };
    eprintln!("{bulk} creates while node {} was stopped", retry.node_id);
    assert!(
        moved.fencing_token > retry.fencing_token && moved.node_id != retry.node_id,
        "retry {retry:?}, moved {moved:?}"
    );
    let leader_metrics = metrics[leader as usize - 1].clone();
    let commit = wait_for("the leader's commit index", || async {
        metric(&leader_metrics, "scheduler_raft_commit_index")
    })
    .await;
    victim.signal("CONT");
    wait_for(
        &format!("the resumed node to apply up to {commit} ({bulk} entries behind)"),
        || async {
            metric(&victim_metrics, "scheduler_raft_applied_index").filter(|a| *a >= commit)
        },
    )
    .await;
    // A start on the renewed lease alone happens before the catch-up ends;
    // its command writes within moments. Watch the file a while longer.
    let watch_until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let text = std::fs::read_to_string(&starts).unwrap_or_default();
        let tokens: Vec<u64> = text
            .lines()
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect();
        assert!(
            !tokens.contains(&retry.fencing_token),
            "the resumed node started its moved attempt (token {}) before catching up: {text}",
            retry.fencing_token
        );
        if std::time::Instant::now() >= watch_until {
            assert!(
                tokens.contains(&moved.fencing_token),
                "the moved attempt {} never ran: {text}",
                moved.fencing_token
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `clusterctl` run against `cluster` (comma-separated addresses).
fn clusterctl(cluster: &str, args: &[&str]) -> std::process::Output {
    let bin = chaos_tests::binaries::clusterctl().expect("clusterctl binary");
    std::process::Command::new(bin)
        .arg("--cluster")
        .arg(cluster)
        .args(args)
        .output()
        .expect("run clusterctl")
}

/// The member ids of the cluster as `addr` reports it.
async fn member_ids(addr: &str) -> Option<Vec<u64>> {
    let s = status(addr).await?;
    s.leader?;
    let mut ids: Vec<u64> = s.members.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    Some(ids)
}

/// `clusterctl join` adds a node started with neither `--bootstrap` nor
/// `--join`, and `clusterctl leave` removes one. A member whose volume is
/// lost refuses to rejoin through `--join` with an empty data dir, exits,
/// and says how to recover; after `leave`, the same command joins it as
/// new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusterctl_join_and_leave_and_a_lost_volume_refuses_to_rejoin() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut procs = start_cluster(root.path(), 3, &[]).await;
    let seed = procs[0].addr.clone();
    let fourth = Proc::start(bin(), 4, root.path(), &[]).expect("start node 4");
    let out = clusterctl(&seed, &["join", "--id", "4", "--addr", &fourth.addr]);
    assert!(
        out.status.success(),
        "clusterctl join: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("node 4 to be listed after clusterctl join", || async {
        (member_ids(&seed).await? == [1, 2, 3, 4]).then_some(())
    })
    .await;
    // The same join again is a no-op (a retry is safe); the same id at
    // another address is refused, with the reason, and changes nothing.
    let again = clusterctl(&seed, &["join", "--id", "4", "--addr", &fourth.addr]);
    assert!(
        again.status.success(),
        "the same join again: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    let elsewhere = clusterctl(&seed, &["join", "--id", "4", "--addr", &procs[2].addr]);
    let err = String::from_utf8_lossy(&elsewhere.stderr);
    assert!(
        !elsewhere.status.success() && err.contains("node 4 is already a member"),
        "node 4 at another address: {err}"
    );
    assert_eq!(
        member_ids(&seed).await,
        Some(vec![1, 2, 3, 4]),
        "nothing changed"
    );

    // Node 3 loses its volume: killed, its data dir gone, started again
    // with the same flags (`--join` the seed).
    let lost = procs.iter_mut().find(|p| p.id == 3).expect("node 3");
    lost.kill();
    std::fs::remove_dir_all(&lost.dir).expect("remove node 3's data dir");
    lost.restart().expect("restart node 3");
    let exit = wait_for("node 3 with an empty volume to exit", || {
        let exited = lost.exited();
        async move { exited }
    })
    .await;
    let log = std::fs::read_to_string(lost.dir.with_extension("log")).unwrap_or_default();
    assert!(
        !exit.success()
            && log.contains("node 3 is already a voter")
            && log.contains("clusterctl leave --id 3"),
        "node 3 with an empty data dir exited {exit:?}; its log: {log}"
    );
    assert_eq!(
        member_ids(&seed).await,
        Some(vec![1, 2, 3, 4]),
        "nothing changed"
    );

    // The same lost member started bare (no --join: to be added by
    // `clusterctl join`) cannot check; it answers no Raft message until a
    // leader adds it, which never happens to a member. Before that rule,
    // its empty log answering the leader's appends panicked the leader's
    // Raft core.
    let bare_root = root.path().join("bare");
    std::fs::create_dir_all(&bare_root).expect("bare node's root");
    let mut bare = Proc::new(bin(), 3, &bare_root, &lost.addr, &[]);
    bare.launch().expect("start node 3 bare");
    let bare_log = bare.dir.with_extension("log");
    wait_for("the bare node 3 to refuse the leader's appends", || {
        let log = std::fs::read_to_string(&bare_log).unwrap_or_default();
        async move { log.contains("refusing Raft messages").then_some(()) }
    })
    .await;
    // The leader still commits: a write goes through.
    wait_for("a write accepted while the bare node 3 runs", || async {
        create(&seed, "after-bare-3").await.ok()
    })
    .await;
    bare.kill();

    // The way out it names: leave, then start it again; it joins as new.
    let out = clusterctl(&seed, &["leave", "--id", "3"]);
    assert!(
        out.status.success(),
        "clusterctl leave: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("node 3 to be gone after clusterctl leave", || async {
        (member_ids(&seed).await? == [1, 2, 4]).then_some(())
    })
    .await;
    lost.restart().expect("start node 3 again");
    wait_for("node 3 to join again as a new member", || async {
        (member_ids(&seed).await? == [1, 2, 3, 4]).then_some(())
    })
    .await;
}

/// `clusterctl events --follow` prints events as they happen, one JSON
/// line each, until it is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusterctl_events_follow_prints_events_as_they_happen() {
    use std::io::BufRead;
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let addr = procs[1].addr.clone();
    let bin = chaos_tests::binaries::clusterctl().expect("clusterctl binary");
    let mut follow = std::process::Command::new(bin)
        .args(["--cluster", &addr, "-o", "jsonl", "events", "--follow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start clusterctl events --follow");
    let stdout = follow.stdout.take().expect("stdout");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    });
    // The printed events of jobs named `prefix*`, as JSON.
    let printed = |prefix: &'static str| {
        let lines = lines.lock().unwrap_or_else(|p| p.into_inner()).clone();
        lines
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .unwrap_or_else(|e| panic!("events --follow printed non-JSON ({e}): {l}"))
            })
            .filter(|v| v["job_id"].as_str().is_some_and(|j| j.starts_with(prefix)))
            .collect::<Vec<_>>()
    };
    // Jobs created until one shows up: the watch may open after the first.
    let mut n = 0;
    let seen = wait_for("a job_added event for a job created after --follow", || {
        n += 1;
        let id = format!("followed-{n}");
        let addr = addr.clone();
        let already = printed("followed-").into_iter().next();
        async move {
            if already.is_some() {
                return already;
            }
            create(&addr, &id).await.ok()?;
            None
        }
    })
    .await;
    assert_eq!(seen["kind"], "job_added", "{seen}");
    // Still following: a later event arrives on the same stream.
    create(&addr, "later-1").await.expect("create");
    let later = wait_for("the next job's event on the same stream", || {
        let found = printed("later-").into_iter().next();
        async move { found }
    })
    .await;
    assert_eq!(later["kind"], "job_added", "{later}");
    assert_eq!(later["job_id"], "later-1", "{later}");
    let _ = follow.kill();
    let _ = follow.wait();
}
