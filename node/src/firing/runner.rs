//! Every node's runner: it finds, in its own applied state, the attempts
//! assigned to it, waits until each is due, checks its lease, records the
//! start durably, runs the executor and reports the outcome until it is
//! committed.
//!
//! Reading assignments from the applied state means a node acts only on
//! committed entries it has applied itself: an uncommitted or deposed
//! leader's word is never enough.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::ServerState;
use store::command::{Command, NodeInfo, Report};
use store::model::{AttemptOutcome, AttemptState, Job, OccKey, UnixMs, time};
use store::state::{Event, EventKind};
use tokio::sync::broadcast;

use super::journal::{Entry, Flushing, Journal};
use super::reporter::Reporter;
use super::timer::PreciseTimer;
use crate::clock;
use crate::clock::lease::Lease;
use crate::executor::RunContext;
use crate::node::Node;

/// How often the runner scans the whole state for assignments. New ones
/// normally arrive as events; the scan catches what events cannot carry (a
/// snapshot install, a lagging event receiver).
const SCAN_EVERY: Duration = Duration::from_millis(500);
/// How often a waiting attempt re-checks that it is still current.
const RECHECK_EVERY: Duration = Duration::from_millis(100);
/// How long before its due instant an attempt's start is recorded in the
/// journal, so the record's flush is done when it is due (see
/// `journal.rs`). It is also the window in which a node that dies reports
/// an attempt failed that never ran: keep it short. The wait loop wakes
/// `RECHECK_EVERY` before the due instant, which is when it records.
const RECORD_AHEAD: Duration = RECHECK_EVERY;

/// How soon an outcome's journal record is flushed (its report does not
/// wait for it; a worker's acknowledgement does).
const OUTCOME_FLUSH_WITHIN: Duration = Duration::from_millis(20);

/// First and longest pause between re-sends of an uncommitted report (a
/// change of leader cuts a pause short).
const REPORT_BACKOFF_MIN: Duration = Duration::from_millis(50);
const REPORT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// An arming event whose entry was proposed longer ago than this (by the
/// leader's clock as this node learnt it from appends) is a replay, not a
/// fresh assignment: it gives no due-time hint.
const STALE_EVENT_MS: i64 = 10_000;

/// How long past its due instant an attempt may wait for this node's
/// journal to take its start record (a full disk) before the node reports
/// it failed, never started: so the retry policy, not the disk, decides
/// what follows, and the job's next instants are not held behind it.
const JOURNAL_GIVE_UP_MS: i64 = 5_000;

/// Whether an attempt that is due, under a valid lease, on an eligible node,
/// starts now.
#[derive(Debug)]
enum Gate {
    /// Yes: journal its start, report it, run it.
    Start(Box<Job>),
    /// It started before a restart (the journal has it): never twice.
    Never,
    /// Not now (the job is gone, or the journal could not be read, with
    /// why): nothing started, so nothing is owed; the attempt is forgotten
    /// by this task and the next scan looks at it again.
    NotNow(Option<String>),
}

/// The start decision, from the job as this node has it (`None`: deleted
/// since the entry armed it; its occurrence is cancelled) and whether the
/// journal holds the token.
fn start_gate<E: std::fmt::Display>(job: Option<Job>, journaled: Result<bool, E>) -> Gate {
    let Some(job) = job else {
        return Gate::NotNow(None);
    };
    match journaled {
        Ok(false) => Gate::Start(Box::new(job)),
        Ok(true) => Gate::Never,
        Err(e) => Gate::NotNow(Some(e.to_string())),
    }
}

/// What the runner needs besides the node.
#[derive(Clone)]
pub struct RunnerConfig {
    /// The executor kinds of this node (shell, HTTP, worker).
    pub executors: crate::executor::Executors,
    /// Where starts and outcomes are counted.
    pub metrics: crate::metrics::Metrics,
    /// Labels of this node, for job node selectors.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Default working dir of shell jobs.
    pub work_dir: PathBuf,
    /// Wakes attempts at their due instant (tokio's timer is too coarse).
    pub timer: PreciseTimer,
}

/// The runner of one node.
#[derive(Clone)]
pub struct Runner {
    node: Node,
    journal: Journal,
    lease: Lease,
    cfg: RunnerConfig,
    /// Tokens with a task in this process (waiting, running or reporting).
    active: Arc<Mutex<HashSet<u64>>>,
    /// Batches reports into few log entries.
    reporter: Reporter,
}

impl Runner {
    /// A runner for `node`.
    pub fn new(
        node: Node,
        journal: Journal,
        lease: Lease,
        reporter: Reporter,
        cfg: RunnerConfig,
    ) -> Self {
        Runner {
            node,
            journal,
            lease,
            cfg,
            active: Arc::new(Mutex::new(HashSet::new())),
            reporter,
        }
    }

    /// Runs until the Raft core stops.
    pub async fn run(self) {
        self.recover().await;
        self.register().await;
        // Subscribe before the first scan, so nothing falls between them.
        let mut events = self.node.state.subscribe_events();
        let mut scan_at = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= scan_at {
                self.scan();
                scan_at = tokio::time::Instant::now() + SCAN_EVERY;
            }
            tokio::select! {
                event = events.recv() => match event {
                    Ok(e) => self.on_event(&e),
                    // Missed events: the next scan finds what they said.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        scan_at = tokio::time::Instant::now();
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tokio::time::sleep_until(scan_at) => {}
            }
            if self.node.raft.metrics().borrow().state == ServerState::Shutdown {
                return;
            }
        }
    }

    /// An attempt armed for this node (fired, retried, reassigned or
    /// released from a buffer) starts its task at once: O(1) per
    /// assignment instead of a scan of every open occurrence per apply.
    fn on_event(&self, e: &Event) {
        if !matches!(
            e.kind,
            EventKind::OccurrenceArmed | EventKind::OccurrenceRetried
        ) || e.node_id != Some(self.node.id)
        {
            return;
        }
        if let (Some(key), Some(token)) = (&e.occurrence, e.token) {
            // The entry says when it was proposed (`e.at`, the leader's
            // clock) and when the attempt is due: a hint as good as the
            // dispatch's, so a node whose own wall clock is off (and whose
            // dispatch was lost) still starts on time, never early.
            let due_at = self.node.state.read(|s| {
                s.occurrence(key)
                    .and_then(|o| o.current())
                    .filter(|a| a.token == token)
                    .map(|a| a.due_at)
            });
            // Entries re-applied after a restart are old news: their
            // attempts were due long ago, and "due in" would wait again.
            let fresh = (self.clock_ms() - e.at).abs() < STALE_EVENT_MS;
            if let (Some(due_at), true) = (due_at, fresh) {
                let due_in = Duration::from_millis((due_at - e.at).max(0) as u64);
                // A due time beyond the longest hint (a long retry
                // backoff) gives none: the runner waits on the leader's
                // clock instead.
                let _ = self.node.hints.put(token, due_in);
            }
            self.spawn_attempt(key.clone(), token);
        }
    }

    /// Starts the task of an attempt unless it has one.
    fn spawn_attempt(&self, key: OccKey, token: u64) {
        if !self.active().insert(token) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.attempt(key, token).await;
        });
    }

    /// After a restart: an attempt that started but has no outcome died
    /// with the process; it is reported as failed, never started again.
    /// Recorded outcomes are re-sent.
    async fn recover(&self) {
        let entries = match self.journal.entries() {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "reading the attempt journal");
                return;
            }
        };
        for entry in entries {
            self.active().insert(entry.token);
            let outcome = entry.outcome.clone().unwrap_or(AttemptOutcome::Finished {
                at: self.clock_ms(),
                state: AttemptState::Failed,
                exit_code: None,
                output_tail: format!(
                    "node {} restarted after recording the attempt's start \
                     (it may have run); outcome unknown",
                    self.node.id
                ),
            });
            let this = self.clone();
            tokio::spawn(async move {
                this.report_until_committed(entry.key, entry.token, outcome)
                    .await
            });
        }
    }

    /// Registers this node's labels and executor kinds in the replicated
    /// state, so the leader can honour node selectors and kinds.
    async fn register(&self) {
        let info = NodeInfo {
            addr: self.node.client_addr.clone(),
            labels: self.cfg.labels.clone(),
            capabilities: self.cfg.executors.capabilities(),
        };
        loop {
            if self
                .node
                .state
                .read(|s| s.nodes().get(&self.node.id) == Some(&info))
            {
                return;
            }
            let member = self.node.membership().get_node(&self.node.id).is_some();
            if member {
                match self
                    .node
                    .write(Command::SetNode {
                        id: self.node.id,
                        info: info.clone(),
                    })
                    .await
                {
                    Ok(_) => return,
                    Err(e) => tracing::debug!(error = %e, "registering node info; retrying"),
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a task for each armed attempt assigned here that has none.
    fn scan(&self) {
        // Keys are cloned only for attempts without a task: at 8,000
        // fires/s nearly every armed attempt here has one, and cloning all
        // their keys every scan was 4% of a follower's CPU. (Lock order:
        // the state's, then `active`; nothing takes them the other way.)
        let mine: Vec<(OccKey, u64)> = self.node.state.read(|s| {
            let active = self.active();
            // The open index names each current attempt's node: look up
            // only this node's occurrences, not every open one.
            s.open_assignees()
                .filter(|(_, node)| *node == Some(self.node.id))
                .filter_map(|(k, _)| s.occurrence(k))
                .filter_map(|o| {
                    let a = o.current()?;
                    (a.state == AttemptState::Armed && !o.buffered && !active.contains(&a.token))
                        .then(|| (o.key.clone(), a.token))
                })
                .collect()
        });
        for (key, token) in mine {
            self.spawn_attempt(key, token);
        }
    }

    /// The current attempt of `key` if it still carries `token` and is armed.
    fn still_armed(&self, key: &OccKey, token: u64) -> Option<(UnixMs, u32)> {
        self.node.state.read(|s| {
            let o = s.occurrence(key)?;
            let a = o.current()?;
            (o.state.is_open() && a.token == token && a.state == AttemptState::Armed)
                .then_some((a.due_at, a.number))
        })
    }

    /// Whether the job's executor can take the attempt now: a worker job
    /// waits, not started, for a connected worker with a free slot (the
    /// leader moves it to another node if this one has none for long).
    fn ready(&self, key: &OccKey) -> bool {
        self.node.state.read(|s| {
            s.job(&key.job_id)
                .is_none_or(|j| self.cfg.executors.ready(&j.spec.executor))
        })
    }

    fn still_current(&self, key: &OccKey, token: u64) -> bool {
        self.node.state.read(|s| {
            s.occurrence(key)
                .is_some_and(|o| o.state.is_open() && o.current().is_some_and(|a| a.token == token))
        })
    }

    /// Whether this node may start a run now: the leader may; a follower
    /// needs a valid lease and to have applied what the leader had
    /// committed when the lease was renewed after a gap (so a restarted or
    /// resumed node never starts an attempt that was reassigned meanwhile).
    fn lease_ok(&self) -> bool {
        let applied = self.node.state.last_applied().map_or(0, |l| l.index);
        clock::may_start(self.leading(), &self.lease, applied)
    }

    fn leading(&self) -> bool {
        self.node.raft.metrics().borrow().state == ServerState::Leader
    }

    /// This node's best reading of the schedule's clock, in ms: its own
    /// wall clock when it leads, else the leader's (a lower bound learnt
    /// from appends), else its own.
    fn clock_ms(&self) -> UnixMs {
        clock::schedule_now_ms(self.leading(), &self.lease)
    }

    /// The monotonic instant at which the attempt due at `due_at` (with
    /// fencing token `token`) may start: the earliest of the sources that
    /// are never early. Those are the dispatch's or arming entry's hint,
    /// and the leader's clock as learnt from appends (or this node's own
    /// wall clock when it leads). Never this follower's wall clock, which
    /// may be skewed: `None` until a source exists.
    fn due_instant(&self, token: u64, due_at: UnixMs) -> Option<Instant> {
        clock::due_instant(
            self.leading(),
            self.node.hints.get(token),
            &self.lease,
            due_at,
        )
    }

    async fn attempt(&self, key: OccKey, token: u64) {
        // Read before this task records anything: only this task (one per
        // token, `active`) writes this token's record, so it still holds
        // when the gate below judges it.
        let journaled = self.journal.contains(token);
        let entry = Entry {
            key: key.clone(),
            token,
            outcome: None,
        };
        // The start's record, made ahead of the due instant; its flush.
        let mut ahead: Option<Flushing> = None;
        // Wait until due, re-checking that the attempt is still ours.
        let (number, due_at) = loop {
            let Some((due_at, number)) = self.still_armed(&key, token) else {
                self.node.hints.remove(token);
                self.forget_ahead(token, ahead.is_some());
                self.active().remove(&token);
                return;
            };
            let Some(target) = self.due_instant(token, due_at) else {
                // No hint and no word from a leader yet (so no lease
                // either): look again soon.
                tokio::time::sleep(RECHECK_EVERY).await;
                continue;
            };
            let wait = target.saturating_duration_since(Instant::now());
            if ahead.is_none() && wait <= RECORD_AHEAD && matches!(journaled, Ok(false)) {
                // Flushed within a quarter of the time left: records made
                // ahead share their flushes (one per ~25 ms rather than one
                // each), and three quarters stay for a slow disk.
                match self.journal.put_ahead(&entry, Instant::now() + wait / 4) {
                    Ok(flushing) => ahead = Some(flushing),
                    // Recorded and awaited at the start instead, where a
                    // failing journal has its own handling.
                    Err(e) => tracing::warn!(error = %e, token, "recording a start ahead"),
                }
            }
            if wait.is_zero() && self.lease_ok() && self.ready(&key) {
                break (number, due_at);
            }
            if wait.is_zero() {
                // Due, but no lease (or not caught up): look again soon.
                tokio::time::sleep(RECHECK_EVERY).await;
            } else if wait <= RECHECK_EVERY {
                self.cfg.timer.sleep_until(target).await;
            } else {
                // One wake-up shortly before the due instant, to take a
                // better hint that came meanwhile (the dispatch's is late
                // only by its transit, the arming entry's by the commit),
                // then the precise wait: a thousand waiting attempts
                // re-checking every 100 ms cost a node 10,000 wake-ups/s.
                tokio::time::sleep_until((target - RECHECK_EVERY).into()).await;
            }
        };
        self.node.hints.remove(token);
        // The leader arms a job on itself when no node matches its selector
        // (so the occurrence is recorded, not dropped): never run it on a
        // node the selector excludes; fail it with the reason instead.
        // One read of the job serves the selector check and the run.
        let job = self.node.state.read(|s| s.job(&key.job_id).cloned());
        let selector = job
            .as_ref()
            .map(|j| &j.spec.node_selector)
            .filter(|sel| !sel.is_empty());
        if let Some(selector) = selector
            && !store::state::matches(&self.cfg.labels, selector)
        {
            let outcome = AttemptOutcome::Finished {
                at: self.clock_ms(),
                state: AttemptState::Failed,
                exit_code: None,
                output_tail: format!(
                    "no node matching the node selector {selector:?} was available; \
                     node {} does not match, so it did not run",
                    self.node.id
                ),
            };
            self.report_until_committed(key, token, outcome).await;
            return;
        }
        let job = match start_gate(job, journaled) {
            Gate::Start(job) => job,
            Gate::Never => return,
            Gate::NotNow(why) => {
                if let Some(e) = why {
                    tracing::error!(error = %e, token, "journal read; not starting");
                }
                self.forget_ahead(token, ahead.is_some());
                // Forgotten, so the next scan tries again if it is still ours.
                self.active().remove(&token);
                return;
            }
        };
        // Normally flushed long ago; recorded now if it could not be ahead.
        let recorded = match ahead.take() {
            Some(flushing) => flushing.durable().await,
            None => self.journal.put(&entry).await,
        };
        if let Err(e) = recorded {
            let late = self.clock_ms() - due_at;
            if late < JOURNAL_GIVE_UP_MS {
                // Forgotten, so the next scan tries again if it is still
                // ours; its record too (written, not flushed), or that
                // scan's gate would take it for a start before a restart.
                tracing::error!(error = %e, token, "journal write; not starting yet");
                self.forget_ahead(token, true);
                self.active().remove(&token);
                return;
            }
            // Never started, so a failure is the truth, and it settles the
            // attempt (G2 holds: nothing ran here).
            tracing::error!(error = %e, token, late_ms = late, "journal write failing; reporting the attempt failed, not started");
            let outcome = AttemptOutcome::Finished {
                at: self.clock_ms(),
                state: AttemptState::Failed,
                exit_code: None,
                output_tail: format!(
                    "not started: node {} could not record the start in its attempt journal \
                     for {late} ms past the due instant ({e})",
                    self.node.id
                ),
            };
            self.report_until_committed(key, token, outcome).await;
            return;
        }
        let started = self.clock_ms();
        let kind = job.spec.executor.kind();
        self.cfg
            .metrics
            .attempt_started(kind, number, started - due_at);
        self.reporter.notify(Report {
            key: key.clone(),
            token,
            node_id: self.node.id,
            outcome: AttemptOutcome::Started { at: started },
        });

        let ctx = RunContext {
            job_id: key.job_id.clone(),
            occurrence_id: key.id(),
            scheduled_at: time::rfc3339_ms(key.scheduled_at),
            scheduled_at_ms: key.scheduled_at,
            fencing_token: token,
            attempt: number,
            node_id: self.node.id,
            timeout: job.spec.policies.timeout_ms.map(Duration::from_millis),
            default_working_dir: self.cfg.work_dir.clone(),
            shell_enabled: self.cfg.executors.shell_enabled(),
        };
        let cancelled = async {
            while self.still_current(&key, token) {
                tokio::time::sleep(RECHECK_EVERY).await;
            }
        };
        let out = self
            .cfg
            .executors
            .run(&job.spec.executor, &ctx, cancelled)
            .await;
        let ended = self.clock_ms();
        let state_name = match out.state {
            AttemptState::Succeeded => "succeeded",
            AttemptState::TimedOut => "timed_out",
            _ => "failed",
        };
        self.cfg
            .metrics
            .attempt_finished(kind, state_name, ended - started);
        let outcome = AttemptOutcome::Finished {
            at: ended,
            state: out.state,
            exit_code: out.exit_code,
            output_tail: out.output_tail,
        };
        let entry = Entry {
            key: key.clone(),
            token,
            outcome: Some(outcome.clone()),
        };
        // The record and the report go at once: the outcome is durable
        // when either is (a restart re-sends a recorded outcome; a
        // committed one is in the log), so the report need not wait for
        // an fsync of its own, and the record's flush, asked for within
        // OUTCOME_FLUSH_WITHIN, is shared with others. A crash before
        // either leaves the start record only: the attempt is reported
        // failed ("may have run"), as for a crash during the run.
        let recorded = async {
            let flushing = self
                .journal
                .put_ahead(&entry, Instant::now() + OUTCOME_FLUSH_WITHIN);
            match flushing {
                Ok(f) => match f.durable().await {
                    // Durable here: a worker that sent it may forget it.
                    Ok(()) => self.cfg.executors.recorded(&job.spec.executor, token),
                    Err(e) => tracing::error!(error = %e, token, "journal flush of an outcome"),
                },
                Err(e) => tracing::error!(error = %e, token, "journal write of an outcome"),
            }
        };
        tokio::join!(recorded, self.report_until_committed(key, token, outcome));
    }

    /// Removes the start record of an attempt that this task will not
    /// start after all (`recorded`: it wrote one).
    fn forget_ahead(&self, token: u64, recorded: bool) {
        if recorded && let Err(e) = self.journal.remove(token) {
            // Left behind, the record makes a restart report the attempt
            // failed ("may have run"); its token is stale or it is owed.
            tracing::warn!(error = %e, token, "removing a start record of an attempt not started");
        }
    }

    async fn report_once(&self, key: OccKey, token: u64, outcome: AttemptOutcome) -> bool {
        let report = Report {
            key,
            token,
            node_id: self.node.id,
            outcome,
        };
        self.reporter.send(report).await
    }

    /// Re-sends the outcome to whichever node leads until it is committed,
    /// then forgets the attempt. A new leader gets it at once: until it
    /// has the result, that leader holds the job's next instants rather
    /// than judge them against a run it believes still open.
    async fn report_until_committed(&self, key: OccKey, token: u64, outcome: AttemptOutcome) {
        let mut backoff = REPORT_BACKOFF_MIN;
        let mut metrics = self.node.raft.metrics();
        loop {
            let leader = metrics.borrow().current_leader;
            if self.report_once(key.clone(), token, outcome.clone()).await {
                break;
            }
            let new_leader = async {
                metrics
                    .wait_for(|m| m.current_leader != leader)
                    .await
                    .is_ok()
            };
            if let Ok(false) = tokio::time::timeout(backoff, new_leader).await {
                // Raft stopped: no leader will come; keep the pace.
                tokio::time::sleep(backoff).await;
            }
            backoff = (backoff * 2).min(REPORT_BACKOFF_MAX);
        }
        if let Err(e) = self.journal.remove(token) {
            tracing::warn!(error = %e, token, "forgetting a committed attempt");
        }
        self.active().remove(&token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            spec: store::model::JobSpec {
                id: "j".into(),
                name: "j".into(),
                labels: Default::default(),
                schedule: store::schedule::ScheduleSpec::Cron("* * * * *".into()),
                time_zone: "UTC".into(),
                start_at: None,
                end_at: None,
                paused: false,
                executor: store::model::ExecutorSpec::Http(store::model::HttpSpec::default()),
                policies: Default::default(),
                node_selector: Default::default(),
                exclude_calendars: Default::default(),
            },
            version: 1,
            created_at: 0,
            updated_at: 0,
            next_fire_at: None,
            run_count: 0,
            state: store::model::JobState::Active,
            failures: Default::default(),
            pause_reason: None,
            created_by: String::new(),
            updated_by: String::new(),
        }
    }

    #[test]
    fn an_attempt_starts_only_with_its_job_and_a_readable_journal_without_it() {
        assert!(matches!(
            start_gate::<String>(Some(job()), Ok(false)),
            Gate::Start(_)
        ));
        assert!(matches!(
            start_gate::<String>(Some(job()), Ok(true)),
            Gate::Never
        ));
        // A journal that cannot be read: not started, and forgotten so the
        // scan retries (it used to stay "active" forever).
        assert!(matches!(
            start_gate(Some(job()), Err("disk error")),
            Gate::NotNow(Some(ref e)) if e == "disk error"
        ));
        // A job deleted since it was armed: never started, so nothing is
        // owed (it used to be journaled and reported started, then never
        // finished).
        assert!(matches!(
            start_gate::<String>(None, Ok(false)),
            Gate::NotNow(None)
        ));
    }
}
