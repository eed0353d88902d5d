//! Crash test: a child process appends entries, saves votes, truncates and
//! purges through the sled log store, printing `ACK ...` only after each call
//! returned; the parent SIGKILLs it at random (seeded) moments, reopens the
//! store and checks that everything acknowledged is there, unchanged.
//!
//! The child is this test binary itself, re-executed with
//! `RAFT_CRASH_CHILD_DIR` set, running the `crash_child` test.
//! `RAFT_CRASH_SEED=<seed printed by the test>` replays the same kill delays
//! and child operations (where exactly a kill lands still depends on timing).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, EntryPayload, Membership, RaftLogReader};
use store::command::Command;
use store::raft::{Entry, LogId, Vote};

const CHILD_ENV: &str = "RAFT_CRASH_CHILD_DIR";
const CHILD_SEED_ENV: &str = "RAFT_CRASH_CHILD_SEED";
const KILL_POINTS: usize = 60;
/// The child stops by itself after this long, should the parent be gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(20);

/// splitmix64: a tiny seeded generator, good enough to pick kill points.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// The payload of entry `index` is a function of the index, so the parent
/// can check content, not just presence. Sizes vary (memberships are bigger).
fn payload_for(index: u64) -> EntryPayload<store::raft::TypeConfig> {
    if index.is_multiple_of(10) {
        let voters: BTreeSet<u64> = (1..=(index % 7 + 1)).collect();
        EntryPayload::Membership(Membership::new(vec![voters], ()))
    } else if index.is_multiple_of(3) {
        EntryPayload::Blank
    } else {
        EntryPayload::Normal(Command::Noop)
    }
}

fn same_payload(
    a: &EntryPayload<store::raft::TypeConfig>,
    b: &EntryPayload<store::raft::TypeConfig>,
) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn ack(line: String) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("stdout flush");
}

/// Child mode: runs until killed (or its lifetime ends). Does nothing in a
/// normal test run.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let seed: u64 = std::env::var(CHILD_SEED_ENV)
        .expect("child seed")
        .parse()
        .expect("seed");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut rng = Rng(seed);
        // The parent may still hold sled's lock from its last check.
        let mut log = support::reopen(Path::new(&dir)).await.log_store;
        let state = log.get_log_state().await.expect("log state");
        let mut vote = log
            .read_vote()
            .await
            .expect("vote")
            .unwrap_or_else(|| Vote::new(1, 1));
        let mut last = state.last_log_id.map(|l| l.index).unwrap_or(0);
        let mut purged = state.last_purged_log_id.map(|l| l.index);
        ack("READY".into());
        let start = Instant::now();
        while start.elapsed() < CHILD_LIFETIME {
            let op = rng.below(100);
            if op < 70 {
                let n = match rng.below(4) {
                    0 => 1,
                    1 => 1 + rng.below(8),
                    2 => 64,
                    _ => 1 + rng.below(200),
                };
                let term = vote.leader_id().term;
                let entries: Vec<Entry> = (last + 1..=last + n)
                    .map(|i| Entry {
                        log_id: log_id(term, i),
                        payload: payload_for(i),
                    })
                    .collect();
                log.blocking_append(entries).await.expect("append");
                ack(format!("ACK append {term} {} {}", last + 1, last + n));
                last += n;
            } else if op < 85 {
                vote = Vote::new(vote.leader_id().term + 1, 1);
                if rng.below(2) == 0 {
                    vote.commit();
                }
                log.save_vote(&vote).await.expect("save vote");
                ack(format!(
                    "ACK vote {} {}",
                    vote.leader_id().term,
                    vote.is_committed()
                ));
            } else if op < 93 {
                let floor = purged.map_or(1, |p| p + 1);
                if last > floor {
                    // Truncate somewhere in the last 30 entries, never below the purge point.
                    let lo = (floor + 1).max(last.saturating_sub(30));
                    let t = lo + rng.below(last - lo + 1);
                    ack(format!("INTENT truncate {t}"));
                    log.truncate(log_id(0, t)).await.expect("truncate");
                    ack(format!("ACK truncate {t}"));
                    last = t - 1;
                }
            } else {
                let floor = purged.map_or(0, |p| p + 1);
                if last > floor + 20 {
                    let p = floor + rng.below(last - floor - 10);
                    // The id of the purged entry: read it, as openraft would know it.
                    let e = log.try_get_log_entries(p..=p).await.expect("read");
                    let id = e.first().map(|e| e.log_id).expect("entry to purge exists");
                    ack(format!("INTENT purge {p}"));
                    log.purge(id).await.expect("purge");
                    ack(format!("ACK purge {p}"));
                    purged = Some(p);
                }
            }
        }
    });
}

/// Kills the child when dropped, also when the test fails.
struct ChildGuard(Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the parent knows must be on disk.
#[derive(Default)]
struct Model {
    entries: BTreeMap<u64, LogId>,
    vote: Option<Vote>,
    purged: Option<u64>,
    /// An unacknowledged truncate: entries at and above may be gone.
    pending_truncate: Option<u64>,
    /// An unacknowledged purge: entries at and below may be gone.
    pending_purge: Option<u64>,
}

impl Model {
    fn apply(&mut self, line: &str, acks: &mut usize) {
        // libtest may print "test crash_child ... " in front of the first line.
        let line = ["ACK ", "INTENT "]
            .iter()
            .filter_map(|m| line.find(m))
            .min()
            .map_or("", |at| &line[at..]);
        let w: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> u64 { w[i].parse().expect("number in child output") };
        match w.as_slice() {
            ["ACK", "append", ..] => {
                let (term, first, last) = (num(2), num(3), num(4));
                for i in first..=last {
                    self.entries.insert(i, log_id(term, i));
                }
                *acks += 1;
            }
            ["ACK", "vote", _, committed] => {
                let mut v = Vote::new(num(2), 1);
                if *committed == "true" {
                    v.commit();
                }
                self.vote = Some(v);
                *acks += 1;
            }
            ["INTENT", "truncate", _] => self.pending_truncate = Some(num(2)),
            ["ACK", "truncate", _] => {
                let t = num(2);
                self.entries.retain(|&i, _| i < t);
                self.pending_truncate = None;
                *acks += 1;
            }
            ["INTENT", "purge", _] => self.pending_purge = Some(num(2)),
            ["ACK", "purge", _] => {
                let p = num(2);
                self.entries.retain(|&i, _| i > p);
                self.purged = Some(p);
                self.pending_purge = None;
                *acks += 1;
            }
            _ => {} // test-harness chatter, READY
        }
    }
}

/// Reopens the store and checks it against the model; then makes the model
/// equal to what is on disk (it was just shown to be durable by a reopen, so
/// later rounds must keep it too).
fn verify_and_resync(dir: &Path, model: &mut Model, round: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut log = support::reopen(dir).await.log_store;
        let state = log.get_log_state().await.expect("log state");
        let vote = log.read_vote().await.expect("read vote");
        let disk_purged = state.last_purged_log_id.map(|l| l.index);

        // Votes only grow in the child: the disk has the acked one or a later one.
        if let Some(acked) = model.vote {
            let v = vote.expect("acked vote missing");
            assert!(
                v >= acked,
                "round {round}: vote {v} older than acknowledged {acked}"
            );
        }
        if let Some(p) = model.purged {
            assert!(disk_purged >= Some(p), "round {round}: purge of {p} lost");
        }

        let entries = log.try_get_log_entries(..).await.expect("read log");
        // Contiguous, right after the purge point.
        let first = disk_purged.map_or(0, |p| p + 1);
        for (k, e) in entries.iter().enumerate() {
            let want = if k == 0 {
                e.log_id.index
            } else {
                entries[k - 1].log_id.index + 1
            };
            assert_eq!(e.log_id.index, want, "round {round}: hole in the log");
            assert!(
                same_payload(&e.payload, &payload_for(e.log_id.index)),
                "round {round}: wrong payload at {}",
                e.log_id.index
            );
        }
        if let Some(e) = entries.first() {
            assert!(
                e.log_id.index <= first.max(1),
                "round {round}: log starts at {} after purge point {:?}",
                e.log_id.index,
                disk_purged
            );
        }
        let on_disk: BTreeMap<u64, LogId> =
            entries.iter().map(|e| (e.log_id.index, e.log_id)).collect();
        for (&i, &id) in &model.entries {
            if model.pending_truncate.is_some_and(|t| i >= t)
                || model.pending_purge.is_some_and(|p| i <= p)
            {
                continue;
            }
            if disk_purged.is_some_and(|p| i <= p) {
                continue; // purged by an unacknowledged purge that did land
            }
            assert_eq!(
                on_disk.get(&i),
                Some(&id),
                "round {round}: acknowledged entry {i} lost or changed"
            );
        }

        model.entries = on_disk;
        model.vote = vote;
        model.purged = disk_purged;
        model.pending_truncate = None;
        model.pending_purge = None;
    });
}

#[test]
fn kill9_keeps_every_acknowledged_write() {
    if std::env::var(CHILD_ENV).is_ok() {
        return; // we are the child; only crash_child runs there
    }
    let seed = match std::env::var("RAFT_CRASH_SEED") {
        Ok(s) => s.parse().expect("RAFT_CRASH_SEED must be a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64,
    };
    println!(
        "crash test seed: {seed} (RAFT_CRASH_SEED={seed} replays the same kill delays and child operations; exact kill moments still depend on timing)"
    );
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current exe");
    let mut model = Model::default();
    let (mut acks, mut before_ready) = (0usize, 0usize);
    let started = Instant::now();

    for round in 0..KILL_POINTS {
        let child = Process::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(CHILD_SEED_ENV, rng.next().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let mut guard = ChildGuard(child);
        let stdout = guard.0.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        // Kill at a random moment: mostly while it writes, sometimes while it
        // is still opening (recovering) the store.
        let delay = Duration::from_millis(5 + rng.below(300));
        std::thread::sleep(delay);
        drop(guard); // SIGKILL + wait
        reader.join().expect("reader thread");
        let lines: Vec<String> = rx.try_iter().collect();
        if !lines.iter().any(|l| l.ends_with("READY")) {
            before_ready += 1;
        }
        for line in &lines {
            model.apply(line, &mut acks);
        }
        verify_and_resync(dir.path(), &mut model, round);
    }
    println!(
        "crash test: {KILL_POINTS} kill points ({before_ready} before the store was open), {acks} acknowledged writes verified, {} entries on disk, {:.1?}",
        model.entries.len(),
        started.elapsed()
    );
    assert!(acks > 0, "the child never acknowledged anything");
}
