//! Worker jobs against real processes: three `schedulerd` nodes, Rust
//! worker processes (`rust-worker`) that post each effect to a fencing sink
//! from inside the function, and the faults of docs/executors.md's "Workers":
//! kill -9 of a worker, a worker cut off from its node, a short break, kill
//! -9 of the node that holds the session, no worker at all, slots, and a
//! timeout that reaches the function as a cancel.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use std::time::Duration;

use chaos_tests::harness::{self, Proc, wait_for};
use chaos_tests::observe::now_ms;
use chaos_tests::pb::{dur, ts};
use chaos_tests::proxy::{LinkModes, Mode, Proxy};
use chaos_tests::sink::{Hit, Sink};
use proto::v1 as pb;
use proto::v1::job_service_client::JobServiceClient;
use proto::v1::worker_service_client::WorkerServiceClient;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

fn schedulerd() -> PathBuf {
    chaos_tests::binaries::schedulerd().expect("a schedulerd binary")
}

/// Starts a `rust-worker` process serving q/effect; killed on drop.
fn worker(root: &Path, id: &str, cluster: &[String], slots: u32, sink: &Sink) -> Proc {
    chaos_tests::worker::spawn(
        Path::new(env!("CARGO_BIN_EXE_rust-worker")),
        &root.join(format!("worker-{id}")),
        id,
        cluster,
        ("q", "effect"),
        slots,
        &sink.url(),
    )
    .expect("start rust-worker")
}

/// What a worker's function did, from its log.
#[derive(Debug, Clone)]
struct Logged {
    at_ms: i64,
    event: String,
    token: u64,
}

fn worker_log(root: &Path, id: &str) -> Vec<Logged> {
    let path = root.join(format!("worker-{id}.jsonl"));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Logged {
            at_ms: v["at_ms"].as_i64().unwrap_or(0),
            event: v["event"].as_str().unwrap_or("").to_string(),
            token: v["token"].as_u64().unwrap_or(0),
        })
        .collect()
}

fn worker_spec(id: &str, every_s: u64, args: &str) -> pb::JobSpec {
    pb::JobSpec {
        id: id.into(),
        schedule: Some(pb::Schedule {
            kind: Some(pb::schedule::Kind::Interval(pb::IntervalSchedule {
                every: Some(dur(every_s * 1000)),
                ..Default::default()
            })),
        }),
        executor: Some(pb::Executor {
            kind: Some(pb::executor::Kind::Worker(pb::WorkerExecutor {
                queue: "q".into(),
                function: "effect".into(),
                args: args.into(),
            })),
        }),
        policies: Some(pb::Policies::default()),
        ..Default::default()
    }
}

fn once_spec(id: &str, at_ms: i64, args: &str) -> pb::JobSpec {
    let mut s = worker_spec(id, 1, args);
    s.schedule = Some(pb::Schedule {
        kind: Some(pb::schedule::Kind::Once(ts(at_ms))),
    });
    s
}

async fn jobs(addr: &str) -> JobServiceClient<Channel> {
    JobServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to the job service")
}

async fn create(c: &mut JobServiceClient<Channel>, spec: pb::JobSpec) -> pb::Job {
    let id = spec.id.clone();
    c.create_job(pb::CreateJobRequest {
        job: Some(spec),
        on_conflict: pb::OnConflict::Fail as i32,
    })
    .await
    .unwrap_or_else(|e| panic!("create {id}: {e}"))
    .into_inner()
}

async fn runs(c: &JobServiceClient<Channel>, job: &str) -> Vec<pb::Run> {
    let mut c = c.clone();
    c.list_runs(pb::ListRunsRequest {
        job_id: job.into(),
        limit: 1000,
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner().runs)
    .unwrap_or_default()
}

fn state(r: &pb::Run) -> pb::RunState {
    pb::RunState::try_from(r.state).unwrap_or(pb::RunState::Unspecified)
}

fn finished(r: &pb::Run) -> bool {
    !matches!(
        state(r),
        pb::RunState::Armed | pb::RunState::Running | pb::RunState::Unspecified
    )
}

/// Waits until `n` workers are connected, as any member lists them.
async fn wait_workers(addr: &str, n: usize) {
    wait_for(&format!("{n} workers listed by {addr}"), || async {
        let mut c = WorkerServiceClient::connect(format!("http://{addr}"))
            .await
            .ok()?;
        let r = c.list_workers(pb::ListWorkersRequest {}).await.ok()?;
        (r.into_inner().workers.len() == n).then_some(())
    })
    .await;
}

/// Accepted effects per occurrence, and every hit per occurrence.
fn by_occurrence(hits: &[Hit]) -> BTreeMap<String, Vec<&Hit>> {
    let mut out: BTreeMap<String, Vec<&Hit>> = BTreeMap::new();
    for h in hits {
        out.entry(h.occurrence_id.clone()).or_default().push(h);
    }
    out
}

/// Every succeeded run has exactly one accepted effect at the sink with
/// the run's token, and no accepted effect lacks a succeeded run.
fn assert_exactly_once(hits: &[Hit], runs: &[pb::Run]) {
    let accepted: BTreeMap<&str, Vec<&Hit>> =
        hits.iter()
            .filter(|h| h.accepted)
            .fold(BTreeMap::new(), |mut m, h| {
                m.entry(h.occurrence_id.as_str()).or_default().push(h);
                m
            });
    for (occ, hs) in &accepted {
        assert_eq!(hs.len(), 1, "{occ}: {} accepted effects: {hs:?}", hs.len());
    }
    for r in runs.iter().filter(|r| state(r) == pb::RunState::Succeeded) {
        let hs = accepted
            .get(r.occurrence_id.as_str())
            .unwrap_or_else(|| panic!("{}: succeeded, but no accepted effect", r.occurrence_id));
        assert_eq!(
            hs[0].fencing_token, r.fencing_token,
            "{}: the accepted effect carries another token than the run",
            r.occurrence_id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_worker_jobs_every_second_are_exactly_once_across_three_workers() {
    let root = tempfile::tempdir().expect("tempdir");
    let nodes = harness::start_cluster(&schedulerd(), root.path(), 3, &[])
        .await
        .expect("cluster");
    let sink = Sink::start().await.expect("sink");
    let _workers: Vec<Proc> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            worker(
                root.path(),
                &format!("w{i}"),
                std::slice::from_ref(&n.addr),
                64,
                &sink,
            )
        })
        .collect();
    wait_workers(&nodes[0].addr, 3).await;
    let mut c = jobs(&nodes[1].addr).await;
    for i in 0..50 {
        let mut s = worker_spec(&format!("job{i:02}"), 1, "");
        if let Some(p) = s.policies.as_mut() {
            p.misfire_grace = Some(dur(30_000));
        }
        create(&mut c, s).await;
    }
    let created = now_ms();
    let secs = 60;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    // Pause everything, then let what is in flight finish.
    c.pause_jobs(pb::PauseRequest {
        target: Some(pb::pause_request::Target::Scheduler(true)),
    })
    .await
    .expect("pause the scheduler");
    let all = wait_for("every run of the 50 jobs to finish", || {
        let c = c.clone();
        async move {
            let mut all = Vec::new();
            for i in 0..50 {
                let rs = runs(&c, &format!("job{i:02}")).await;
                if !rs.iter().all(finished) {
                    return None;
                }
                all.extend(rs);
            }
            Some(all)
        }
    })
    .await;
    let hits = sink.hits();
    assert_exactly_once(&hits, &all);
    let succeeded = all
        .iter()
        .filter(|r| state(r) == pb::RunState::Succeeded)
        .count();
    let not_succeeded: Vec<_> = all
        .iter()
        .filter(|r| state(r) != pb::RunState::Succeeded)
        .map(|r| (r.occurrence_id.clone(), state(r), r.reason.clone()))
        .collect();
    assert!(
        not_succeeded.is_empty(),
        "runs that did not succeed: {not_succeeded:?}"
    );
    // Every second of every job between creation and the pause ran.
    let expected_min = 50 * (secs as usize - 3);
    assert!(
        succeeded >= expected_min,
        "{succeeded} runs succeeded; at least {expected_min} expected over {secs} s (created at {created})"
    );
    // The leader runs attempts itself only when no follower can, so both
    // followers' workers share the load.
    let nodes_used: BTreeSet<u64> = hits.iter().map(|h| h.node_id).collect();
    assert!(
        nodes_used.len() >= 2,
        "attempts spread over the followers: {nodes_used:?}"
    );
    drop(nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_worker_means_missed_with_the_reason_after_the_grace() {
    let root = tempfile::tempdir().expect("tempdir");
    let nodes = harness::start_cluster(&schedulerd(), root.path(), 3, &[])
        .await
        .expect("cluster");
    let mut c = jobs(&nodes[0].addr).await;
    let mut s = once_spec("lonely", now_ms() + 1_000, "");
    if let Some(p) = s.policies.as_mut() {
        p.misfire_grace = Some(dur(2_000));
    }
    create(&mut c, s).await;
    let run = wait_for("the one-shot to be recorded missed", || {
        let c = c.clone();
        async move {
            runs(&c, "lonely")
                .await
                .into_iter()
                .find(|r| state(r) == pb::RunState::Missed)
        }
    })
    .await;
    assert!(
        run.reason
            .starts_with("no worker for queue q (function effect)"),
        "{}",
        run.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_two_slots_never_runs_more_than_two() {
    let root = tempfile::tempdir().expect("tempdir");
    let nodes = harness::start_cluster(&schedulerd(), root.path(), 3, &[])
        .await
        .expect("cluster");
    let sink = Sink::start().await.expect("sink");
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let _w = worker(root.path(), "two", &addrs, 2, &sink);
    wait_workers(&nodes[0].addr, 1).await;
    let mut c = jobs(&nodes[0].addr).await;
    // Six jobs due at the same instant, each running 1.5 s, all allowed to
    // wait 30 s for a slot.
    let at = now_ms() + 2_000;
    for i in 0..6 {
        let mut s = once_spec(&format!("slot{i}"), at, r#"{"sleep_ms": 1500}"#);
        if let Some(p) = s.policies.as_mut() {
            p.misfire_grace = Some(dur(30_000));
        }
        create(&mut c, s).await;
    }
    let all = wait_for("six runs to finish", || {
        let c = c.clone();
        async move {
            let mut all = Vec::new();
            for i in 0..6 {
                let rs = runs(&c, &format!("slot{i}")).await;
                if rs.is_empty() || !rs.iter().all(finished) {
                    return None;
                }
                all.extend(rs);
            }
            Some(all)
        }
    })
    .await;
    assert!(
        all.iter().all(|r| state(r) == pb::RunState::Succeeded),
        "{all:?}"
    );
    // From the worker's own log: starts and effects (ends) over time.
    let log = worker_log(root.path(), "two");
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for l in &log {
        if l.event == "start" {
            edges.push((l.at_ms, 1));
        } else if l.event.starts_with("effect") || l.event == "cancelled" {
            edges.push((l.at_ms, -1));
        }
    }
    edges.sort();
    let (mut now, mut max) = (0, 0);
    for (_, d) in edges {
        now += d;
        max = max.max(now);
    }
    assert_eq!(
        max, 2,
        "at most (and, with six waiting, exactly) 2 at once: {log:?}"
    );
    assert_exactly_once(&sink.hits(), &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_reaches_the_function_as_a_cancel() {
    let root = tempfile::tempdir().expect("tempdir");
    let nodes = harness::start_cluster(&schedulerd(), root.path(), 3, &[])
        .await
        .expect("cluster");
    let sink = Sink::start().await.expect("sink");
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let _w = worker(root.path(), "slow", &addrs, 4, &sink);
    wait_workers(&nodes[0].addr, 1).await;
    let mut c = jobs(&nodes[0].addr).await;
    let mut s = once_spec("slow", now_ms() + 1_000, r#"{"sleep_ms": 30000}"#);
    if let Some(p) = s.policies.as_mut() {
        p.timeout = Some(dur(1_000));
    }
    create(&mut c, s).await;
    let run = wait_for("the slow run to time out", || {
        let c = c.clone();
        async move { runs(&c, "slow").await.into_iter().find(finished) }
    })
    .await;
    assert_eq!(state(&run), pb::RunState::TimedOut, "{run:?}");
    let log = worker_log(root.path(), "slow");
    assert!(
        log.iter().any(|l| l.event == "cancel:timeout"),
        "the worker got a cancel for the timeout: {log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.event == "cancelled" && l.token == run.fencing_token),
        "the function stopped: {log:?}"
    );
    assert!(sink.hits().is_empty(), "a cancelled function has no effect");
}

/// Waits until worker `id`'s log shows the node's cancel and the function
/// stopping for `token`; the two lines.
async fn wait_cancelled(root: &Path, id: &str, token: u64) -> (Logged, Logged) {
    let root = root.to_path_buf();
    wait_for(
        &format!("worker {id} to get a cancel for token {token} and stop the function"),
        move || {
            let log = worker_log(&root, id);
            async move {
                let cancel = log
                    .iter()
                    .find(|l| l.token == token && l.event.starts_with("cancel:"))?;
                let stopped = log
                    .iter()
                    .find(|l| l.token == token && l.event == "cancelled")?;
                Some((cancel.clone(), stopped.clone()))
            }
        },
    )
    .await
}

/// Deleting a job whose function runs reaches the function as a cancel:
/// it stops, posts no effect, and the run is recorded cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_reaches_the_running_function_as_a_cancel() {
    let root = tempfile::tempdir().expect("tempdir");
    let nodes = harness::start_cluster(&schedulerd(), root.path(), 3, &[])
        .await
        .expect("cluster");
    let sink = Sink::start().await.expect("sink");
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let _w = worker(root.path(), "gone", &addrs, 4, &sink);
    wait_workers(&nodes[0].addr, 1).await;
    let mut c = jobs(&nodes[0].addr).await;
    create(
        &mut c,
        once_spec("gone", now_ms() + 1_000, r#"{"sleep_ms": 60000}"#),
    )
    .await;
    let started = wait_for("the worker to start the function", || {
        let root = root.path().to_path_buf();
        async move {
            worker_log(&root, "gone")
                .into_iter()
                .find(|l| l.event == "start")
        }
    })
    .await;
    c.delete_job(pb::DeleteJobRequest {
        id: "gone".into(),
        expected_version: 0,
    })
    .await
    .expect("delete");
    let deleted_at = now_ms();
    let (cancel, stopped) = wait_cancelled(root.path(), "gone", started.token).await;
    assert!(
        stopped.at_ms < started.at_ms + 60_000,
        "the function stopped before its 60 s were up: {stopped:?}"
    );
    assert!(
        cancel.at_ms >= deleted_at - 1_000,
        "the cancel came after the delete: {cancel:?}, deleted at {deleted_at}"
    );
    assert!(sink.hits().is_empty(), "a cancelled function has no effect");
}

/// `overlap: replace`: the next instant cancels the run in flight, and
/// the cancel reaches its function; the replaced run is recorded
/// cancelled (cause `replaced`), under a lower token than its successor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_reaches_the_running_function_as_a_cancel() {
    let root = tempfile::tempdir().expect("tempdir");
    let nodes = harness::start_cluster(&schedulerd(), root.path(), 3, &[])
        .await
        .expect("cluster");
    let sink = Sink::start().await.expect("sink");
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let _w = worker(root.path(), "swap", &addrs, 4, &sink);
    wait_workers(&nodes[0].addr, 1).await;
    let mut c = jobs(&nodes[0].addr).await;
    let mut s = worker_spec("swap", 2, r#"{"sleep_ms": 60000}"#);
    if let Some(p) = s.policies.as_mut() {
        p.overlap = pb::Overlap::Replace as i32;
    }
    create(&mut c, s).await;
    let replaced = wait_for("a run of swap recorded as replaced", || {
        let c = c.clone();
        async move {
            runs(&c, "swap")
                .await
                .into_iter()
                .find(|r| r.cause == pb::NotRunCause::Replaced as i32)
        }
    })
    .await;
    assert_eq!(state(&replaced), pb::RunState::Cancelled, "{replaced:?}");
    let token = replaced
        .attempts
        .last()
        .map(|a| a.fencing_token)
        .expect("the replaced run had an attempt");
    let (_, stopped) = wait_cancelled(root.path(), "swap", token).await;
    // The successor started under a higher token.
    let log = worker_log(root.path(), "swap");
    assert!(
        log.iter()
            .any(|l| l.event == "start" && l.token > token && l.at_ms >= stopped.at_ms - 2_000),
        "a later run started under a higher token than {token}: {log:?}"
    );
    c.pause_jobs(pb::PauseRequest {
        target: Some(pb::pause_request::Target::Scheduler(true)),
    })
    .await
    .expect("pause");
    assert!(sink.hits().is_empty(), "replaced functions have no effect");
}

/// The value of metric line `name` (labels included) in a scrape.
fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Runs `clusterctl ARGS` against `addr`; its stdout, or a panic with its
/// stderr.
fn clusterctl(addr: &str, args: &[&str]) -> String {
    let bin = chaos_tests::binaries::clusterctl().expect("a clusterctl binary");
    let out = std::process::Command::new(bin)
        .args(["--cluster", addr])
        .args(args)
        .output()
        .expect("run clusterctl");
    assert!(
        out.status.success(),
        "clusterctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What an operator sees of workers: `clusterctl job add --worker` makes a
/// worker job that runs on the worker, `clusterctl workers -o json` lists
/// the worker with its node, queues, functions, slots and what it runs,
/// and the metrics show workers connected per queue and, for a queue no
/// worker serves, the attempts waiting and the age of the oldest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusterctl_and_metrics_show_the_workers_and_what_waits() {
    let root = tempfile::tempdir().expect("tempdir");
    let metrics = format!("127.0.0.1:{}", harness::free_port());
    let nodes = harness::start_cluster(&schedulerd(), root.path(), 1, &["--metrics", &metrics])
        .await
        .expect("cluster");
    let addr = nodes[0].addr.clone();
    let sink = Sink::start().await.expect("sink");
    let _w = worker(root.path(), "seen", std::slice::from_ref(&addr), 3, &sink);
    wait_workers(&addr, 1).await;
    // A worker job made with clusterctl runs on the worker.
    clusterctl(
        &addr,
        &[
            "job",
            "add",
            "cli-work",
            "--schedule",
            "every 1 seconds",
            "--worker",
            "q:effect",
            "--args",
            r#"{"sleep_ms": 3000}"#,
        ],
    );
    let job: serde_json::Value = serde_json::from_str(&clusterctl(
        &addr,
        &["-o", "json", "job", "get", "cli-work"],
    ))
    .expect("job get -o json");
    assert_eq!(job["executor"]["kind"], "worker", "{job}");
    assert_eq!(job["executor"]["queue"], "q", "{job}");
    assert_eq!(job["executor"]["function"], "effect", "{job}");
    assert_eq!(job["executor"]["args"]["sleep_ms"], 3000, "{job}");
    // Listed with what it runs (its 3 s functions overlap).
    let listed = wait_for(
        "clusterctl workers to show the worker running a function",
        || {
            let addr = addr.clone();
            async move {
                let v: serde_json::Value =
                    serde_json::from_str(&clusterctl(&addr, &["-o", "json", "workers"])).ok()?;
                let w = v["workers"].as_array()?.first()?.clone();
                (w["in_flight"].as_u64()? >= 1).then_some(w)
            }
        },
    )
    .await;
    assert_eq!(listed["worker_id"], "seen", "{listed}");
    assert_eq!(listed["node_id"], nodes[0].id, "{listed}");
    assert_eq!(listed["queues"], serde_json::json!(["q"]), "{listed}");
    assert_eq!(
        listed["functions"],
        serde_json::json!(["effect"]),
        "{listed}"
    );
    assert_eq!(listed["slots"], 3, "{listed}");
    wait_for("the clusterctl job's function to post its effect", || {
        let hits = sink.hits();
        async move { hits.iter().any(|h| h.job_id == "cli-work").then_some(()) }
    })
    .await;
    // A queue nobody serves: its instants wait, and the metrics say so.
    let mut c = jobs(&addr).await;
    let mut s = worker_spec("unserved", 1, "{}");
    if let Some(pb::executor::Kind::Worker(w)) = s.executor.as_mut().and_then(|e| e.kind.as_mut()) {
        w.queue = "nobody".into();
    }
    if let Some(p) = s.policies.as_mut() {
        p.misfire_grace = Some(dur(600_000));
        p.coalesce = pb::Coalesce::All as i32;
    }
    create(&mut c, s).await;
    let body = wait_for(
        "the metrics to show instants of queue nobody waiting over 2 s",
        || async {
            let body = harness::http_get(&metrics, "/metrics")?;
            let oldest = metric(
                &body,
                r#"scheduler_worker_oldest_waiting_seconds{queue="nobody"}"#,
            )?;
            (oldest >= 2.0).then_some(body)
        },
    )
    .await;
    assert!(
        metric(
            &body,
            r#"scheduler_worker_attempts_waiting{queue="nobody"}"#
        )
        .unwrap_or(0.0)
            >= 2.0,
        "two or more instants wait:\n{body}"
    );
    assert_eq!(
        metric(&body, r#"scheduler_workers_connected{queue="q"}"#),
        Some(1.0),
        "one worker serves q:\n{body}"
    );
    assert_eq!(
        metric(&body, r#"scheduler_workers_connected{queue="nobody"}"#),
        None,
        "nobody serves queue nobody:\n{body}"
    );
}

/// A cluster, a sink, and one job every 2 s whose function runs 1.5 s.
struct Faulted {
    root: tempfile::TempDir,
    nodes: Vec<Proc>,
    sink: Sink,
    c: JobServiceClient<Channel>,
}

async fn faulted() -> Faulted {
    let root = tempfile::tempdir().expect("tempdir");
    let nodes = harness::start_cluster(&schedulerd(), root.path(), 3, &[])
        .await
        .expect("cluster");
    let sink = Sink::start().await.expect("sink");
    let c = jobs(&nodes[0].addr).await;
    Faulted {
        root,
        nodes,
        sink,
        c,
    }
}

/// The job "long": one attempt runs `ms`, retries allowed.
async fn long_job(f: &mut Faulted, ms: u64) {
    let args = format!(r#"{{"sleep_ms": {ms}}}"#);
    let mut s = once_spec("long", now_ms() + 1_000, &args);
    if let Some(p) = s.policies.as_mut() {
        p.retries = Some(pb::RetryPolicy {
            max_retries: 3,
            initial_backoff: Some(dur(100)),
            ..Default::default()
        });
    }
    create(&mut f.c, s).await;
}

async fn wait_started(f: &Faulted, worker: &str) -> Logged {
    let root = f.root.path().to_path_buf();
    let w = worker.to_string();
    wait_for(&format!("worker {worker} to start a function"), move || {
        let root = root.clone();
        let w = w.clone();
        async move {
            worker_log(&root, &w)
                .into_iter()
                .find(|l| l.event == "start")
        }
    })
    .await
}

async fn wait_final(f: &Faulted, job: &str) -> Vec<pb::Run> {
    let c = f.c.clone();
    let job = job.to_string();
    wait_for(&format!("{job} to finish"), move || {
        let c = c.clone();
        let job = job.clone();
        async move {
            let rs = runs(&c, &job).await;
            (!rs.is_empty() && rs.iter().all(finished)).then_some(rs)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_worker_fails_the_attempt_as_lost_and_another_worker_retries_it() {
    let mut f = faulted().await;
    // Two workers on two nodes.
    let mut w1 = worker(
        f.root.path(),
        "w1",
        std::slice::from_ref(&f.nodes[1].addr),
        4,
        &f.sink,
    );
    wait_workers(&f.nodes[0].addr, 1).await;
    // "lost" has no retries: its attempt ends as failed, "worker lost".
    let lost = once_spec("lost", now_ms() + 1_000, r#"{"sleep_ms": 3000}"#);
    create(&mut f.c, lost).await;
    long_job(&mut f, 3_000).await;
    let started = wait_started(&f, "w1").await;
    let _w2 = worker(
        f.root.path(),
        "w2",
        std::slice::from_ref(&f.nodes[2].addr),
        4,
        &f.sink,
    );
    wait_workers(&f.nodes[0].addr, 2).await;
    w1.kill();
    let killed_at = now_ms();
    let rs = wait_final(&f, "long").await;
    let run = &rs[0];
    assert_eq!(state(run), pb::RunState::Succeeded, "{run:?}");
    assert!(run.attempt >= 2, "retried: {run:?}");
    assert!(
        run.fencing_token > started.token,
        "the retry carries a higher token: {} vs {}",
        run.fencing_token,
        started.token
    );
    let w2 = worker_log(f.root.path(), "w2");
    let retry_start = w2
        .iter()
        .find(|l| l.event == "start")
        .expect("w2 ran the retry");
    // The lease is 3 s: the retry waits out the lease plus the margin.
    assert!(
        retry_start.at_ms - killed_at >= 3_000,
        "the retry started {} ms after the kill, inside the worker's lease",
        retry_start.at_ms - killed_at
    );
    let accepted: Vec<_> = f.sink.hits().into_iter().filter(|h| h.accepted).collect();
    assert_eq!(accepted.len(), 1, "one effect: {accepted:?}");
    assert_eq!(accepted[0].fencing_token, run.fencing_token);
    let lost = wait_final(&f, "lost").await;
    assert_eq!(state(&lost[0]), pb::RunState::Failed, "{lost:?}");
    assert!(
        lost[0].reason.starts_with("worker lost"),
        "{}",
        lost[0].reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_stops_its_function_within_its_lease_before_any_retry() {
    let mut f = faulted().await;
    let proxy = Proxy::start(f.nodes[1].addr.clone()).await.expect("proxy");
    let _w1 = worker(f.root.path(), "cut", &[proxy.addr.to_string()], 4, &f.sink);
    wait_workers(&f.nodes[0].addr, 1).await;
    long_job(&mut f, 8_000).await;
    let _started = wait_started(&f, "cut").await;
    // The function runs 8 s: longer than the lease, so it is still running
    // when the worker fences itself.
    proxy.set(LinkModes {
        forward: Mode::Blackhole,
        backward: Mode::Blackhole,
    });
    let cut_at = now_ms();
    let _w2 = worker(
        f.root.path(),
        "other",
        std::slice::from_ref(&f.nodes[2].addr),
        4,
        &f.sink,
    );
    let rs = wait_final(&f, "long").await;
    assert_eq!(state(&rs[0]), pb::RunState::Succeeded, "{rs:?}");
    let cut = worker_log(f.root.path(), "cut");
    let fenced = cut
        .iter()
        .find(|l| l.event == "fenced")
        .unwrap_or_else(|| panic!("the cut-off worker fenced itself: {cut:?}"));
    assert!(
        cut.iter().any(|l| l.event == "cancelled"),
        "its function stopped: {cut:?}"
    );
    let other = worker_log(f.root.path(), "other");
    let retry = other
        .iter()
        .find(|l| l.event == "start")
        .unwrap_or_else(|| panic!("the other worker ran the retry: {other:?}"));
    assert!(
        fenced.at_ms <= cut_at + 3_000 + 500,
        "fenced {} ms after the cut (lease 3 s)",
        fenced.at_ms - cut_at
    );
    assert!(
        fenced.at_ms < retry.at_ms,
        "the function stopped ({}) before the retry started ({})",
        fenced.at_ms,
        retry.at_ms
    );
    let accepted: Vec<_> = f.sink.hits().into_iter().filter(|h| h.accepted).collect();
    assert_eq!(accepted.len(), 1, "one effect: {accepted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_break_reattaches_with_no_retry() {
    let mut f = faulted().await;
    let proxy = Proxy::start(f.nodes[1].addr.clone()).await.expect("proxy");
    let _w = worker(
        f.root.path(),
        "flaky",
        &[proxy.addr.to_string()],
        4,
        &f.sink,
    );
    wait_workers(&f.nodes[0].addr, 1).await;
    long_job(&mut f, 3_000).await;
    let started = wait_started(&f, "flaky").await;
    // Break the connection (closed, new ones refused) for 1 s: less than
    // the 3 s lease.
    proxy.set(LinkModes {
        forward: Mode::Drop,
        backward: Mode::Drop,
    });
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    proxy.heal();
    let rs = wait_final(&f, "long").await;
    assert_eq!(state(&rs[0]), pb::RunState::Succeeded, "{rs:?}");
    assert_eq!(rs[0].attempt, 1, "no retry: {rs:?}");
    assert_eq!(rs[0].fencing_token, started.token);
    let log = worker_log(f.root.path(), "flaky");
    assert_eq!(
        log.iter().filter(|l| l.event == "start").count(),
        1,
        "the function ran once: {log:?}"
    );
    assert!(
        !log.iter()
            .any(|l| l.event == "fenced" || l.event == "cancelled"),
        "{log:?}"
    );
    let accepted: Vec<_> = f.sink.hits().into_iter().filter(|h| h.accepted).collect();
    assert_eq!(accepted.len(), 1, "one effect: {accepted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_node_holding_the_session_moves_the_worker_and_work_goes_on() {
    let mut f = faulted().await;
    // The worker knows every node; it starts on node 2 (a follower).
    let leader = harness::status(&f.nodes[0].addr)
        .await
        .and_then(|s| s.leader)
        .expect("a leader");
    let holder = f
        .nodes
        .iter()
        .position(|n| n.id != leader)
        .expect("a follower");
    let mut addrs = vec![f.nodes[holder].addr.clone()];
    addrs.extend(
        f.nodes
            .iter()
            .filter(|n| n.id != f.nodes[holder].id)
            .map(|n| n.addr.clone()),
    );
    let _w = worker(f.root.path(), "mover", &addrs, 8, &f.sink);
    let leader_addr = f
        .nodes
        .iter()
        .find(|n| n.id == leader)
        .map(|n| n.addr.clone())
        .expect("leader addr");
    wait_workers(&leader_addr, 1).await;
    let mut c = jobs(&leader_addr).await;
    f.c = c.clone();
    let mut s = worker_spec("tick", 1, r#"{"sleep_ms": 200}"#);
    if let Some(p) = s.policies.as_mut() {
        p.misfire_grace = Some(dur(60_000));
        p.coalesce = pb::Coalesce::All as i32;
        p.retries = Some(pb::RetryPolicy {
            max_retries: 3,
            initial_backoff: Some(dur(100)),
            ..Default::default()
        });
    }
    create(&mut c, s).await;
    wait_started(&f, "mover").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    f.nodes[holder].kill();
    let killed_at = now_ms();
    // The work goes on through another node.
    wait_for("effects after the kill, from a surviving node", || {
        let hits = f.sink.hits();
        let dead = f.nodes[holder].id;
        async move {
            (hits
                .iter()
                .filter(|h| h.accepted && h.received_ms() > killed_at + 1_000 && h.node_id != dead)
                .count()
                >= 3)
                .then_some(())
        }
    })
    .await;
    c.pause_jobs(pb::PauseRequest {
        target: Some(pb::pause_request::Target::Scheduler(true)),
    })
    .await
    .expect("pause");
    let rs = wait_final(&f, "tick").await;
    assert_exactly_once(&f.sink.hits(), &rs);
    // Reassigned attempts (attempt > 1) carry higher tokens than any
    // attempt of the dead node on the same occurrence.
    let hits = f.sink.hits();
    let per = by_occurrence(&hits);
    for (occ, hs) in per {
        let tokens: Vec<u64> = hs.iter().map(|h| h.fencing_token).collect();
        let mut sorted = tokens.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            tokens.len(),
            "{occ}: a token used twice: {tokens:?}"
        );
    }
    // Every occurrence's attempts carry rising tokens, and an attempt
    // after one held by the killed node (reassigned, or retried once its
    // lease ran out) carries a higher token than that one.
    let dead = f.nodes[holder].id;
    let mut after_dead = 0;
    for r in &rs {
        let by_number: Vec<(u32, u64, u64)> = r
            .attempts
            .iter()
            .map(|a| (a.number, a.fencing_token, a.node_id))
            .collect();
        for w in by_number.windows(2) {
            assert!(
                w[0].0 < w[1].0 && w[0].1 < w[1].1,
                "{}: attempts out of order or tokens not rising: {by_number:?}",
                r.occurrence_id
            );
            if w[0].2 == dead {
                after_dead += 1;
            }
        }
    }
    eprintln!(
        "{after_dead} attempts followed one held by the killed node, each under a higher token"
    );
    // The one documented exception (README, "Known limits"): an instant
    // whose previous run's result was still on its way when the leader's
    // hold ended (30 s, or just before the misfire grace) is skipped as "max instances reached", naming that run. Here the
    // result travels through a new session after the kill, so that may
    // happen around the kill, and only there.
    let missing: Vec<_> = rs
        .iter()
        .filter(|r| state(r) != pb::RunState::Succeeded)
        // The scheduler's pause that ends the test records the instant it
        // finds due and not yet run as missed (cause `paused`): not a tick
        // the run lost.
        .filter(|r| r.cause != pb::NotRunCause::Paused as i32)
        .filter(|r| {
            let at = r.scheduled_at.as_ref().map_or(0, chaos_tests::pb::ms);
            !(state(r) == pb::RunState::Skipped
                && r.reason.starts_with("max instances reached; in flight:")
                && (killed_at - 2_000..=killed_at + 10_000).contains(&at))
        })
        .map(|r| (r.occurrence_id.clone(), state(r), r.reason.clone()))
        .collect();
    assert!(missing.is_empty(), "every tick succeeded: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_worker_input_gets_a_precise_error_and_changes_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let nodes = harness::start_cluster(&schedulerd(), root.path(), 1, &[])
        .await
        .expect("cluster");
    let addr = nodes[0].addr.clone();
    let mut c = jobs(&addr).await;
    let bad = |queue: &str, function: &str, args: &str| {
        let mut s = worker_spec("bad", 1, args);
        s.executor = Some(pb::Executor {
            kind: Some(pb::executor::Kind::Worker(pb::WorkerExecutor {
                queue: queue.into(),
                function: function.into(),
                args: args.into(),
            })),
        });
        s
    };
    let big = format!("\"{}\"", "x".repeat(64 * 1024));
    for (spec, field) in [
        (bad("", "f", ""), "job.executor.worker.queue"),
        (bad("q", "", ""), "job.executor.worker.function"),
        (bad("q q", "f", ""), "job.executor.worker.queue"),
        (bad("q", "f", "{nope"), "job.executor.worker.args"),
        (bad("q", "f", &big), "job.executor.worker.args"),
    ] {
        let e = c
            .create_job(pb::CreateJobRequest {
                job: Some(spec),
                on_conflict: 0,
            })
            .await
            .expect_err("refused");
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        assert!(e.message().starts_with(field), "{field}: {}", e.message());
    }
    let listed = c
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.jobs.is_empty(), "nothing was created");

    // Sessions: a bad hello is refused with the field.
    let hello = |queues: Vec<&str>, slots: u32| pb::WorkerHello {
        worker_id: "w".into(),
        queues: queues.into_iter().map(String::from).collect(),
        functions: vec!["f".into()],
        slots,
        ..Default::default()
    };
    for (h, field) in [
        (hello(vec![], 1), "hello.queues"),
        (hello(vec!["q"], 0), "hello.slots"),
        (hello(vec!["q"], 100_000), "hello.slots"),
        (hello(vec!["bad queue"], 1), "hello.queues[0]"),
    ] {
        let mut w = WorkerServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        let first = pb::WorkerMessage {
            kind: Some(pb::worker_message::Kind::Hello(h)),
        };
        let e = w
            .session(tokio_stream::iter(vec![first]))
            .await
            .expect_err("refused");
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        assert!(e.message().starts_with(field), "{field}: {}", e.message());
    }
    // A first message that is not a hello.
    let mut w = WorkerServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let e = w
        .session(tokio_stream::iter(vec![pb::WorkerMessage {
            kind: Some(pb::worker_message::Kind::Heartbeat(pb::WorkerHeartbeat {})),
        }]))
        .await
        .expect_err("refused");
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");

    // A result for an unknown attempt: a stale acknowledgement, and the
    // session goes on.
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(pb::WorkerMessage {
        kind: Some(pb::worker_message::Kind::Hello(hello(vec!["q"], 1))),
    })
    .await
    .expect("hello");
    let mut inbound = w
        .session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("session")
        .into_inner();
    tx.send(pb::WorkerMessage {
        kind: Some(pb::worker_message::Kind::Result(pb::WorkerResult {
            occurrence_id: "nope@2026-01-01T00:00:00.000Z".into(),
            fencing_token: 12345,
            outcome: pb::WorkerOutcome::Succeeded as i32,
            output: String::new(),
        })),
    })
    .await
    .expect("result");
    let ack = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(m)) = inbound.next().await {
            if let Some(pb::node_message::Kind::ResultAck(a)) = m.kind {
                return Some(a);
            }
        }
        None
    })
    .await
    .expect("an acknowledgement within 30 s")
    .expect("an acknowledgement before the stream ended");
    assert_eq!(ack.fate, pb::ResultFate::Stale as i32, "{ack:?}");
    assert!(ack.reason.contains("unknown attempt"), "{}", ack.reason);
    drop(nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_with_a_stale_token_is_refused_and_the_worker_told() {
    let mut f = faulted().await;
    let _w = worker(
        f.root.path(),
        "failing",
        std::slice::from_ref(&f.nodes[1].addr),
        4,
        &f.sink,
    );
    wait_workers(&f.nodes[0].addr, 1).await;
    // Fails, is retried once under a new token, fails again.
    let mut s = once_spec("twice", now_ms() + 1_000, r#"{"fail": true}"#);
    if let Some(p) = s.policies.as_mut() {
        p.retries = Some(pb::RetryPolicy {
            max_retries: 1,
            initial_backoff: Some(dur(100)),
            ..Default::default()
        });
    }
    create(&mut f.c, s).await;
    let rs = wait_final(&f, "twice").await;
    assert_eq!(state(&rs[0]), pb::RunState::Failed, "{rs:?}");
    assert_eq!(rs[0].attempt, 2, "{rs:?}");
    let first = worker_log(f.root.path(), "failing")
        .into_iter()
        .filter(|l| l.event == "start")
        .map(|l| l.token)
        .min()
        .expect("the first attempt's token");
    assert!(first < rs[0].fencing_token);
    // Another session claims the first attempt succeeded after all.
    let addr = f.nodes[2].addr.clone();
    let mut w = WorkerServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(pb::WorkerMessage {
        kind: Some(pb::worker_message::Kind::Hello(pb::WorkerHello {
            worker_id: "late".into(),
            queues: vec!["q".into()],
            functions: vec!["effect".into()],
            slots: 1,
            ..Default::default()
        })),
    })
    .await
    .expect("hello");
    let mut inbound = w
        .session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("session")
        .into_inner();
    tx.send(pb::WorkerMessage {
        kind: Some(pb::worker_message::Kind::Result(pb::WorkerResult {
            occurrence_id: rs[0].occurrence_id.clone(),
            fencing_token: first,
            outcome: pb::WorkerOutcome::Succeeded as i32,
            output: "late".into(),
        })),
    })
    .await
    .expect("result");
    let ack = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(m)) = inbound.next().await {
            if let Some(pb::node_message::Kind::ResultAck(a)) = m.kind {
                return Some(a);
            }
        }
        None
    })
    .await
    .expect("an acknowledgement within 30 s")
    .expect("an acknowledgement before the stream ended");
    assert_eq!(ack.fencing_token, first);
    assert_eq!(ack.fate, pb::ResultFate::Stale as i32, "{ack:?}");
    assert!(ack.reason.contains("already recorded"), "{}", ack.reason);
    // Nothing changed: the occurrence is still failed, under the retry's token.
    let after = runs(&f.c, "twice").await;
    assert_eq!(state(&after[0]), pb::RunState::Failed);
    assert_eq!(after[0].fencing_token, rs[0].fencing_token);
}
