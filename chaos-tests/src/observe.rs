//! Background observers of a chaos run: who leads in which term (every
//! node, sampled), and which occurrences the cluster recorded as not run
//! (missed, skipped, cancelled) or as run without success (failed, timed
//! out) with their reasons. Deleted jobs lose their
//! runs and history is capped per job, so records come from two sources:
//! the event stream of every node (reconnected as nodes come and go) and
//! a periodic ListRuns per not-run state.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::v1 as pb;
use proto::v1::cluster_service_client::ClusterServiceClient;
use proto::v1::job_service_client::JobServiceClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::history::{LeaderSample, Recorded};

/// Now, in Unix ms (the harness's clock).
pub use proto::time::now_ms;

#[derive(Default)]
struct Seen {
    leaders: Vec<LeaderSample>,
    recorded: BTreeSet<Recorded>,
}

/// The running observers; [`Observers::finish`] stops them and returns
/// what they saw.
pub struct Observers {
    seen: Arc<Mutex<Seen>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// How often each node is asked who leads.
const LEADER_EVERY: Duration = Duration::from_millis(300);
/// How often not-run occurrences are listed.
const RUNS_EVERY: Duration = Duration::from_secs(2);
/// Per-request deadline of the observers.
const RPC_TIMEOUT: Duration = Duration::from_secs(2);

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|p| p.into_inner())
}

async fn connect(addr: &str) -> Option<tonic::transport::Channel> {
    crate::secure::connect_with(addr, |e| e.connect_timeout(Duration::from_secs(1)))
        .await
        .ok()
}

/// A typed not-run cause's snake-case name; empty for none.
fn cause_name(cause: i32) -> String {
    pb::NotRunCause::try_from(cause)
        .ok()
        .filter(|c| *c != pb::NotRunCause::Unspecified)
        .map(|c| {
            c.as_str_name()
                .trim_start_matches("NOT_RUN_CAUSE_")
                .to_lowercase()
        })
        .unwrap_or_default()
}

fn not_run(kind: i32) -> Option<&'static str> {
    match pb::EventKind::try_from(kind).ok()? {
        pb::EventKind::OccurrenceMissed => Some("missed"),
        pb::EventKind::OccurrenceSkipped | pb::EventKind::MaxInstancesReached => Some("skipped"),
        pb::EventKind::OccurrenceCancelled => Some("cancelled"),
        // Run, but ended without success: the checker accepts these for an
        // occurrence with no effect at the sink only during a fault.
        pb::EventKind::OccurrenceFailed => Some("failed"),
        pb::EventKind::OccurrenceTimedOut => Some("timed_out"),
        _ => None,
    }
}

impl Observers {
    /// Starts observing the nodes at `addrs`.
    pub fn start(addrs: &[String]) -> Observers {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for addr in addrs {
            tasks.push(tokio::spawn(sample_leaders(
                addr.clone(),
                seen.clone(),
                stop_rx.clone(),
            )));
            tasks.push(tokio::spawn(watch_events(
                addr.clone(),
                seen.clone(),
                stop_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(poll_runs(
            addrs.to_vec(),
            seen.clone(),
            stop_rx,
        )));
        Observers { seen, stop, tasks }
    }

    /// One more pass of ListRuns (e.g. after the drain), then stop.
    pub async fn finish(self, addrs: &[String]) -> (Vec<LeaderSample>, Vec<Recorded>) {
        list_not_run(addrs, &self.seen).await;
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        let mut seen = lock(&self.seen);
        (
            std::mem::take(&mut seen.leaders),
            std::mem::take(&mut seen.recorded).into_iter().collect(),
        )
    }

    /// Records seen so far (for the drain's "all accounted for" poll).
    pub fn recorded(&self) -> Vec<Recorded> {
        lock(&self.seen).recorded.iter().cloned().collect()
    }
}

async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

async fn sample_leaders(addr: String, seen: Arc<Mutex<Seen>>, mut stop: watch::Receiver<bool>) {
    let mut client: Option<ClusterServiceClient<tonic::transport::Channel>> = None;
    loop {
        if client.is_none() {
            client = connect(&addr).await.map(ClusterServiceClient::new);
        }
        if let Some(c) = client.as_mut() {
            let mut req = tonic::Request::new(pb::StatusRequest {});
            req.set_timeout(RPC_TIMEOUT);
            match c.status(req).await {
                Ok(r) => {
                    let s = r.into_inner();
                    if let Some(leader) = s.leader {
                        lock(&seen).leaders.push(LeaderSample {
                            at_ms: now_ms(),
                            node: s.answered_by,
                            term: s.term,
                            leader,
                        });
                    }
                }
                Err(_) => client = None,
            }
        }
        if sleep_or_stop(LEADER_EVERY, &mut stop).await {
            return;
        }
    }
}

async fn watch_events(addr: String, seen: Arc<Mutex<Seen>>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Some(ch) = connect(&addr).await
            && let Ok(stream) = JobServiceClient::new(ch)
                .watch_events(pb::WatchEventsRequest::default())
                .await
        {
            let mut stream = stream.into_inner();
            loop {
                tokio::select! {
                    msg = stream.message() => match msg {
                        Ok(Some(e)) => {
                            if let Some(state) = not_run(e.kind) {
                                lock(&seen).recorded.insert(Recorded {
                                    job_id: e.job_id,
                                    occurrence_id: e.occurrence_id,
                                    state: state.to_string(),
                                    reason: e.detail,
                                    cause: cause_name(e.cause),
                                });
                            }
                        }
                        _ => break,
                    },
                    _ = stop.changed() => return,
                }
            }
        }
        if sleep_or_stop(Duration::from_millis(200), &mut stop).await {
            return;
        }
    }
}

async fn list_not_run(addrs: &[String], seen: &Mutex<Seen>) {
    for state in [
        pb::RunState::Missed,
        pb::RunState::Skipped,
        pb::RunState::Cancelled,
        pb::RunState::Failed,
        pb::RunState::TimedOut,
    ] {
        for addr in addrs {
            let Some(ch) = connect(addr).await else {
                continue;
            };
            let mut req = tonic::Request::new(pb::ListRunsRequest {
                state: state as i32,
                ..Default::default()
            });
            req.set_timeout(RPC_TIMEOUT);
            if let Ok(r) = JobServiceClient::new(ch).list_runs(req).await {
                let mut s = lock(seen);
                for run in r.into_inner().runs {
                    s.recorded.insert(Recorded {
                        job_id: run.job_id,
                        occurrence_id: run.occurrence_id,
                        state: state
                            .as_str_name()
                            .trim_start_matches("RUN_STATE_")
                            .to_lowercase(),
                        reason: run.reason,
                        cause: cause_name(run.cause),
                    });
                }
                break; // one answering node is enough per state
            }
        }
    }
}

async fn poll_runs(addrs: Vec<String>, seen: Arc<Mutex<Seen>>, mut stop: watch::Receiver<bool>) {
    loop {
        list_not_run(&addrs, &seen).await;
        if sleep_or_stop(RUNS_EVERY, &mut stop).await {
            return;
        }
    }
}
