//! A follower whose wall clock runs 4 s ahead (libfaketime) neither moves
//! the schedule nor starts anything early: the regression test of the
//! 30-minute chaos run's early starts and missing occurrences.
//!
//! - Jobs created through the skewed follower fire from the leader's now:
//!   a forwarded write is restamped with the leader's clock (before, the
//!   first 4 s of instants were silently skipped).
//! - Killed and restarted (still skewed) while attempts are armed for it,
//!   the follower finds those attempts by its scan, with no hint. It waits
//!   for them on the leader's clock, learnt from appends, not on its own
//!   (before, it started them up to the lookahead early).

use std::collections::BTreeMap;
use std::time::Duration;

use chaos_tests::binaries;
use chaos_tests::cluster::ChaosCluster;
use chaos_tests::harness::{status, wait_for};
use chaos_tests::observe::now_ms;
use chaos_tests::pb::http;
use chaos_tests::sink::Sink;
use proto::v1 as pb;
use proto::v1::job_service_client::JobServiceClient;

const SKEW_SECS: i64 = 4;
const JOBS: usize = 12;
const RESTARTS: usize = 3;

fn every_second(id: &str, sink: &str) -> pb::CreateJobRequest {
    pb::CreateJobRequest {
        job: Some(pb::JobSpec {
            id: id.into(),
            schedule: Some(pb::Schedule {
                kind: Some(pb::schedule::Kind::Cron("* * * * * *".into())),
            }),
            executor: Some(http(sink)),
            ..Default::default()
        }),
        on_conflict: 0,
    }
}

/// Waits until `addr` has a leader and has applied what the leader has.
async fn caught_up(addr: &str) {
    wait_for(&format!("{addr} to rejoin and catch up"), || async {
        let s = status(addr).await?;
        s.leader?;
        let lag = s
            .members
            .iter()
            .map(|m| m.last_log_index.saturating_sub(m.applied_index))
            .max()?;
        (lag < 50).then_some(())
    })
    .await;
}

/// The scheduled instant of a hit, from its RFC 3339 header.
fn scheduled_ms(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|d| d.timestamp_millis())
        .unwrap_or_else(|e| panic!("the sink got an unparsable scheduled instant {at:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_a_fast_clock_keeps_the_leaders_schedule() {
    let bin = binaries::schedulerd().expect("schedulerd binary");
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = Sink::start().await.expect("sink");
    let mut cluster = ChaosCluster::start(&bin, dir.path(), 3, &[], None)
        .await
        .expect("cluster");
    if !cluster.can_skew() {
        // Under CI a missing environment is a failure, never a silent pass.
        assert!(
            std::env::var_os("CI").is_none(),
            "libfaketime is not installed (Debian: apt-get install faketime), and CI is set: \
             the clock-skew test cannot run"
        );
        eprintln!(
            "skipped: libfaketime is not installed (Debian: apt-get install faketime), \
             so no clock can be skewed"
        );
        return;
    }
    let leader = wait_for("a leader", || cluster.leader()).await;
    let skewed = cluster
        .ids()
        .into_iter()
        .find(|&i| i != leader)
        .expect("a follower");
    let addr = cluster.addrs()[(skewed - 1) as usize].clone();
    assert!(
        cluster.skew(skewed, SKEW_SECS).expect("restart with skew"),
        "libfaketime was found but the skew failed"
    );
    caught_up(&addr).await;

    // Register every job through the skewed follower.
    let mut client = wait_for("a client of the skewed follower", || async {
        JobServiceClient::connect(format!("http://{addr}"))
            .await
            .ok()
    })
    .await;
    let mut acked = BTreeMap::new();
    for n in 0..JOBS {
        let id = format!("skew-{n:02}");
        client
            .create_job(every_second(&id, &sink.url()))
            .await
            .unwrap_or_else(|e| panic!("creating {id} through node {skewed}: {e}"));
        acked.insert(id, now_ms());
    }

    // Restart the skewed follower (still skewed) a few times while it
    // holds armed attempts: mid-second, so the next instants are armed.
    for round in 0..RESTARTS {
        let before = sink.len();
        wait_for("the skewed follower to run something", || {
            let hits = sink.hits_since(before);
            async move { hits.iter().any(|h| h.node_id == skewed).then_some(()) }
        })
        .await;
        let into_second = now_ms().rem_euclid(1_000);
        tokio::time::sleep(Duration::from_millis(
            ((1_500 - into_second) % 1_000) as u64,
        ))
        .await;
        cluster.kill(skewed);
        cluster
            .relaunch(skewed)
            .unwrap_or_else(|e| panic!("relaunching node {skewed} (round {round}): {e}"));
        caught_up(&addr).await;
    }
    // Every job fires again, for instants 2 s after the last restart.
    let after = now_ms() + 2_000;
    wait_for("every job to fire 2 s after the last restart", || {
        let hits = sink.hits();
        let done = acked.keys().all(|id| {
            hits.iter()
                .any(|h| &h.job_id == id && scheduled_ms(&h.scheduled_at) >= after)
        });
        async move { done.then_some(()) }
    })
    .await;

    let hits = sink.hits();
    let mut early = Vec::new();
    for h in &hits {
        let due = scheduled_ms(&h.scheduled_at);
        if h.received_ms() < due {
            early.push(format!(
                "{} from node {} (token {}) {} ms early",
                h.occurrence_id,
                h.node_id,
                h.fencing_token,
                due - h.received_ms()
            ));
        }
    }
    assert!(
        early.is_empty(),
        "runs started early:\n{}",
        early.join("\n")
    );
    assert!(
        hits.iter().any(|h| h.node_id == skewed),
        "the skewed follower ran nothing, so the test proved nothing"
    );
    for (id, at) in &acked {
        let first = hits
            .iter()
            .filter(|h| &h.job_id == id)
            .map(|h| scheduled_ms(&h.scheduled_at))
            .min()
            .unwrap_or_else(|| panic!("{id} never fired"));
        // The first instant after the create is at most 1 s later, plus
        // the leader's lookahead cutting in; 4 s means the follower's
        // clock was used.
        assert!(
            first - at <= 2_000,
            "{id}, created through node {skewed} (clock {SKEW_SECS:+} s) at {at}, \
             first fired for {first}: {} ms later, so instants were skipped",
            first - at
        );
    }
}
