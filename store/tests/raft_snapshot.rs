//! Snapshot persistence: build and install survive a reopen, a truncated or
//! mismatching install changes nothing, and SIGKILL during build/install
//! persistence leaves a whole snapshot (old or new) on disk.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use openraft::storage::RaftStateMachine;
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, Membership, RaftSnapshotBuilder};
use store::command::Command;
use store::raft::{Entry, LogId, StateMachineStore, StoredMembership, open};
use store::state::State;

fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

/// Membership of entry `index` (every 5th entry): many nodes, so snapshots
/// are large (up to ~0.5 MB) and writing them takes a while.
fn membership_for(index: u64) -> Membership<u64, BasicNode> {
    let n = 500 + (index * 7_919) % 8_000;
    let nodes: BTreeMap<u64, BasicNode> = (1..=n)
        .map(|id| {
            (
                id,
                BasicNode::new(format!(
                    "node-{id}.scheduler.svc.cluster.local:7100/{index}"
                )),
            )
        })
        .collect();
    Membership::new(vec![BTreeSet::from([1])], nodes)
}

/// Entry `index` of the deterministic test log.
fn entry(index: u64) -> Entry {
    let payload = if index.is_multiple_of(5) {
        EntryPayload::Membership(membership_for(index))
    } else {
        EntryPayload::Normal(Command::Noop)
    };
    Entry {
        log_id: log_id(index),
        payload,
    }
}

/// The state and membership after applying entries `1..=upto`, computed
/// without the store.
fn expected(upto: u64) -> (Vec<u8>, StoredMembership) {
    let mut state = State::default();
    for i in (1..=upto).filter(|i| !i.is_multiple_of(5)) {
        state.apply(i, &Command::Noop);
    }
    let last_membership = upto - upto % 5;
    let membership = match last_membership {
        0 => StoredMembership::default(),
        i => StoredMembership::new(Some(log_id(i)), membership_for(i)),
    };
    let _ = state.drain_events();
    (state.encode().expect("encode"), membership)
}

async fn apply_upto(sm: &mut StateMachineStore, from: u64, upto: u64) {
    if from <= upto {
        sm.apply((from..=upto).map(entry)).await.expect("apply");
    }
}

/// Checks that `sm` holds exactly the state of entries `1..=upto`.
async fn assert_state(sm: &mut StateMachineStore, upto: u64, ctx: &str) {
    let (last, membership) = sm.applied_state().await.expect("applied state");
    assert_eq!(
        last.map(|l| l.index).unwrap_or(0),
        upto,
        "{ctx}: last applied"
    );
    let (want_state, want_membership) = expected(upto);
    assert_eq!(membership, want_membership, "{ctx}: membership");
    let got = sm.handle().read(|s| s.encode().expect("encode"));
    assert!(
        got == want_state,
        "{ctx}: state differs from the state of entries 1..={upto}"
    );
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn build_then_reopen_restores() {
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(async {
        let mut sm = open(dir.path()).expect("open").state_machine;
        apply_upto(&mut sm, 1, 12).await;
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        assert_eq!(snap.meta.last_log_id, Some(log_id(12)));
        // Applied after the snapshot: not in it, so gone after a reopen
        // (openraft re-applies those from the log).
        apply_upto(&mut sm, 13, 14).await;
        drop(sm);

        let mut sm = support::reopen(dir.path()).await.state_machine;
        assert_state(&mut sm, 12, "after reopen").await;
        let cur = sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("some snapshot");
        assert_eq!(cur.meta, snap.meta);
        assert_eq!(cur.snapshot.into_inner(), snap.snapshot.into_inner());
    });
}

#[test]
fn install_then_reopen_restores_and_bad_installs_change_nothing() {
    let leader_dir = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(async {
        let mut leader = open(leader_dir.path()).expect("open").state_machine;
        apply_upto(&mut leader, 1, 23).await;
        let snap = leader
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        let data = snap.snapshot.into_inner();

        // The follower has an older state and an older persisted snapshot.
        let mut sm = open(dir.path()).expect("open").state_machine;
        apply_upto(&mut sm, 1, 7).await;
        let old = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build old");

        // A transfer cut short (only part of the bytes arrived): rejected.
        for cut in [0, 1, data.len() / 2, data.len() - 1] {
            let mut rx = sm.begin_receiving_snapshot().await.expect("begin");
            rx.get_mut().extend_from_slice(&data[..cut]);
            assert!(
                sm.install_snapshot(&snap.meta, rx).await.is_err(),
                "install of {cut}/{} bytes accepted",
                data.len()
            );
            assert_state(&mut sm, 7, "after a truncated install").await;
        }
        // Bytes whose embedded meta differs from the meta given: rejected.
        let mut wrong = snap.meta.clone();
        wrong.snapshot_id.push_str("-other");
        let mut rx = sm.begin_receiving_snapshot().await.expect("begin");
        rx.get_mut().extend_from_slice(&data);
        assert!(sm.install_snapshot(&wrong, rx).await.is_err());
        assert_state(&mut sm, 7, "after a mismatching install").await;
        let cur = sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("some");
        assert_eq!(
            cur.meta, old.meta,
            "a failed install replaced the persisted snapshot"
        );

        // The whole snapshot: installed, visible at once, and persisted.
        let mut applied = sm.handle().subscribe_applied();
        let mut rx = sm.begin_receiving_snapshot().await.expect("begin");
        rx.get_mut().extend_from_slice(&data);
        sm.install_snapshot(&snap.meta, rx).await.expect("install");
        assert_eq!(*applied.borrow_and_update(), Some(23));
        assert_state(&mut sm, 23, "after install").await;
        drop(sm);

        let mut sm = support::reopen(dir.path()).await.state_machine;
        assert_state(&mut sm, 23, "after install and reopen").await;
        let cur = sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("some");
        assert_eq!(cur.meta, snap.meta);
    });
}

#[test]
fn apply_publishes_index_and_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(async {
        let mut sm = open(dir.path()).expect("open").state_machine;
        let handle = sm.handle();
        let mut events = handle.subscribe_events();
        let waiter = tokio::spawn({
            let handle = handle.clone();
            async move { handle.wait_applied(4).await }
        });
        let responses = sm.apply((1..=4).map(entry)).await.expect("apply");
        assert_eq!(responses.len(), 4);
        assert_eq!(waiter.await.expect("join").expect("wait"), 4);
        assert_eq!(handle.last_applied(), Some(log_id(4)));
        // Whatever events State::apply produced for the batch were published.
        let mut state = State::default();
        for i in 1..=4 {
            state.apply(i, &Command::Noop);
        }
        let want = state.drain_events();
        let got: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
            .map(|e| (*e).clone())
            .collect();
        assert_eq!(got, want);
    });
}

// ---- SIGKILL during snapshot persistence ----

const CHILD_ENV: &str = "RAFT_SNAP_CRASH_CHILD_DIR";
const KILL_POINTS: usize = 30;
const CHILD_LIFETIME: Duration = Duration::from_secs(20);

fn ack(line: String) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("stdout flush");
}

/// Child mode: advances a "leader" state machine (`src`), builds a snapshot
/// there, installs it into `dst`, and repeats, until killed.
#[test]
fn snapshot_crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    rt().block_on(async move {
        let dir = Path::new(&dir);
        let mut src = open(&dir.join("src")).expect("open src").state_machine;
        let mut dst = open(&dir.join("dst")).expect("open dst").state_machine;
        let mut last = src
            .applied_state()
            .await
            .expect("state")
            .0
            .map_or(0, |l| l.index);
        ack("READY".into());
        let start = Instant::now();
        while start.elapsed() < CHILD_LIFETIME {
            apply_upto(&mut src, last + 1, last + 5).await;
            last += 5;
            let snap = src
                .get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .expect("build");
            ack(format!("ACK build {last}"));
            let mut rx = dst.begin_receiving_snapshot().await.expect("begin");
            *rx = *snap.snapshot;
            dst.install_snapshot(&snap.meta, rx).await.expect("install");
            ack(format!("ACK install {last}"));
        }
    });
}

struct ChildGuard(Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The persisted snapshot of `dir` restores whole: a state machine opens,
/// and its state is exactly that of entries `1..=n` for some `n >= acked`.
async fn check_whole(dir: &Path, acked: u64, ctx: &str) -> u64 {
    let mut sm = open(dir).expect("reopen").state_machine;
    let upto = sm
        .applied_state()
        .await
        .expect("state")
        .0
        .map_or(0, |l| l.index);
    assert!(
        upto >= acked,
        "{ctx}: snapshot at {upto} older than acknowledged {acked}"
    );
    assert_state(&mut sm, upto, ctx).await;
    upto
}

#[test]
fn kill9_during_snapshot_persist_leaves_a_whole_snapshot() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let seed = std::env::var("RAFT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64
        });
    println!("snapshot crash test seed: {seed} (RAFT_CRASH_SEED={seed} replays the kill delays)");
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("exe");
    let (mut acked_build, mut acked_install) = (0u64, 0u64);
    let mut total_acks = 0usize;
    for round in 0..KILL_POINTS {
        let child = Process::new(&exe)
            .args([
                "--exact",
                "snapshot_crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut guard = ChildGuard(child);
        let stdout = guard.0.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(50 + next() % 400));
        drop(guard);
        for line in reader.join().expect("reader") {
            let Some(at) = line.find("ACK ") else {
                continue;
            };
            let w: Vec<&str> = line[at..].split_whitespace().collect();
            let n: u64 = w[2].parse().expect("index");
            match w[1] {
                "build" => acked_build = n,
                "install" => acked_install = n,
                other => panic!("unknown ack {other}"),
            }
            total_acks += 1;
        }
        rt().block_on(async {
            acked_build = check_whole(
                &dir.path().join("src"),
                acked_build,
                &format!("round {round} src"),
            )
            .await;
            acked_install = check_whole(
                &dir.path().join("dst"),
                acked_install,
                &format!("round {round} dst"),
            )
            .await;
        });
    }
    println!(
        "snapshot crash test: {KILL_POINTS} kill points, {total_acks} acknowledged builds/installs, last snapshot at {acked_build}"
    );
    assert!(total_acks > 0, "the child never acknowledged anything");
}
