//! The replicated state and its deterministic `apply`.
//!
//! Invariants (checked after every apply in unit tests, and by the property tests):
//! - `due` holds `(next_fire_at, id)` for exactly the jobs that are
//!   [`Job::is_schedulable`].
//! - `open` holds exactly the keys of occurrences whose state is open
//!   (armed or running).
//! - `by_label` maps every `(key, value)` label to the jobs carrying it.
//! - Fencing tokens are `log index << 16 | position`, so they strictly
//!   increase with the log and are unique per attempt.
//! - Applying a command reads no clock: the command carries `now`.
//!
//! Only `jobs`, `occurrences`, `nodes`, `scheduler_paused` and `retention`
//! are encoded in snapshots; the indexes are rebuilt on decode.

mod acl;
mod attempts;
mod calendars;
mod events;
mod fire;
mod jobs;
mod open_index;
mod overlap;
mod queries;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

pub use events::{Event, EventKind};
pub use fire::BACKLOG_AFTER_MS;
pub use overlap::OverlapNow;
pub use queries::{RunFilter, matches};

use crate::command::{Command, NodeInfo, Response};
use crate::model::{
    Calendar, DEFAULT_HISTORY_PER_JOB, Job, MAX_ATTEMPTS_PER_ENTRY, NodeId, OccKey, Occurrence,
    RunState, UnixMs,
};
use crate::schedule::Schedule;

/// Whether a run in `state` ended badly or never ran.
pub(crate) fn not_ok(state: RunState) -> bool {
    matches!(
        state,
        RunState::Failed
            | RunState::TimedOut
            | RunState::Missed
            | RunState::Skipped
            | RunState::Cancelled
    )
}

/// Errors of encoding or decoding the state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// postcard failed.
    #[error("state encoding: {0}")]
    Codec(#[from] postcard::Error),
}

/// How many compiled schedules a state keeps (`State::compiled`): every
/// job firing once a second at 10,000 jobs/s stays compiled, with room to
/// spare; a compiled schedule is about 200 bytes, so the cache stays near
/// 16 MB however many jobs there are.
const COMPILED_SCHEDULES: std::num::NonZeroUsize = std::num::NonZeroUsize::new(65_536).unwrap();

/// What goes into a snapshot.
#[derive(Serialize, Deserialize)]
struct Persisted {
    jobs: BTreeMap<String, Box<Job>>,
    occurrences: BTreeMap<OccKey, Occurrence>,
    nodes: BTreeMap<NodeId, NodeInfo>,
    scheduler_paused: bool,
    retention: u32,
    acl: acl::Acl,
    calendars: BTreeMap<String, Calendar>,
}

/// The replicated state.
#[derive(Debug, Clone)]
pub struct State {
    jobs: BTreeMap<String, Box<Job>>,
    occurrences: BTreeMap<OccKey, Occurrence>,
    nodes: BTreeMap<NodeId, NodeInfo>,
    scheduler_paused: bool,
    retention: u32,
    acl: acl::Acl,
    calendars: BTreeMap<String, Calendar>,
    // Indexes, rebuilt on decode.
    /// Token hash -> token name.
    token_by_hash: HashMap<String, String>,
    due: BTreeSet<(UnixMs, String)>,
    /// Open (armed or running) occurrences, with the node of their current
    /// attempt (`None`: none yet, buffered), and each node's count of them:
    /// the leader's picker reads each node's load every tick
    /// (`firing/leader.rs` `Picker`).
    open: open_index::OpenIndex,
    /// Occurrences that ended badly or never ran (failed, timed out,
    /// missed, skipped, cancelled), by instant: the dashboard's recent
    /// failures without a scan of every run.
    not_ok: BTreeSet<(UnixMs, OccKey)>,
    by_label: BTreeMap<(String, String), BTreeSet<String>>,
    /// Upstream job id -> the jobs that run after it.
    dependents: BTreeMap<String, BTreeSet<String>>,
    // Caches and outputs, not replicated.
    /// Compiled schedules of the jobs that fired or changed lately, at most
    /// [`COMPILED_SCHEDULES`]: a cache, not an index (a miss compiles the
    /// spec again, which is deterministic), so its memory does not grow
    /// with the job count. Holding one per job cost about 440 B per job at
    /// 1,000,000 jobs (a 2^21-slot table of 208-byte entries).
    compiled: lru::LruCache<String, Schedule>,
    /// Compiled calendars by name.
    exclusions: HashMap<String, std::sync::Arc<crate::schedule::exclude::Exclusion>>,
    events: Vec<Event>,
}

impl Default for State {
    fn default() -> Self {
        State {
            jobs: BTreeMap::new(),
            occurrences: BTreeMap::new(),
            nodes: BTreeMap::new(),
            scheduler_paused: false,
            retention: DEFAULT_HISTORY_PER_JOB,
            acl: acl::Acl::default(),
            calendars: BTreeMap::new(),
            token_by_hash: HashMap::new(),
            due: BTreeSet::new(),
            open: Default::default(),
            not_ok: BTreeSet::new(),
            by_label: BTreeMap::new(),
            dependents: BTreeMap::new(),
            compiled: lru::LruCache::new(COMPILED_SCHEDULES),
            exclusions: HashMap::new(),
            events: Vec::new(),
        }
    }
}

/// Per-entry context: the entry's index, its `now`, and the next token position.
pub(crate) struct Ctx {
    index: u64,
    now: UnixMs,
    position: usize,
    /// Who asked for the command being applied (`Command::By`); empty for
    /// the cluster's own commands.
    principal: String,
}

impl Ctx {
    fn new(index: u64, now: UnixMs) -> Self {
        Ctx {
            index,
            now,
            position: 0,
            principal: String::new(),
        }
    }

    /// The next fencing token of this entry, or `None` when the entry has
    /// authorised [`MAX_ATTEMPTS_PER_ENTRY`] attempts already.
    fn next_token(&mut self) -> Option<u64> {
        let token = crate::model::FencingToken::new(self.index, self.position)?;
        self.position += 1;
        Some(token.get())
    }

    /// This context with the clock of the command about to apply.
    fn at(&mut self, now: UnixMs) -> &mut Self {
        self.now = now;
        self
    }

    fn tokens_left(&self) -> usize {
        MAX_ATTEMPTS_PER_ENTRY - self.position
    }
}

impl State {
    /// Applies the command of log entry `index`. Deterministic, and
    /// idempotent per key.
    pub fn apply(&mut self, index: u64, cmd: &Command) -> Response {
        let mut ctx = Ctx::new(index, 0);
        let response = self.apply_in(&mut ctx, cmd);
        // O(state) per apply: only in the store's own unit tests (the
        // property tests also call it explicitly), never in a running node.
        #[cfg(test)]
        self.check_invariants();
        response
    }

    /// Applies `cmd` within an entry's context: a batch's commands share
    /// the entry's fencing-token positions, each with its own `now`.
    fn apply_in(&mut self, ctx: &mut Ctx, cmd: &Command) -> Response {
        match cmd {
            Command::Noop => Response::Ok,
            Command::CreateJob {
                spec,
                on_conflict,
                now,
            } => self.create_job(ctx.at(*now), spec, *on_conflict),
            Command::UpdateJob {
                spec,
                expected_version,
                now,
            } => self.update_job(ctx.at(*now), spec, *expected_version),
            Command::DeleteJob {
                id,
                expected_version,
                now,
            } => self.delete_job(ctx.at(*now), id, *expected_version),
            Command::SetPaused {
                target,
                paused,
                now,
            } => self.set_paused(ctx.at(*now), target, *paused),
            Command::Fire { now, advances } => self.fire(ctx.at(*now), advances),
            Command::RunNow {
                job_id,
                assignee,
                now,
            } => self.run_now(ctx.at(*now), job_id, *assignee),
            Command::Reassign { now, items } => self.reassign(ctx.at(*now), items),
            Command::Report { now, reports } => self.report(ctx.at(*now), reports),
            Command::Unserved { now, job_ids } => self.unserved(ctx.at(*now), job_ids),
            Command::Backfill {
                job_id,
                from,
                to,
                assignee,
                now,
            } => self.backfill(ctx.at(*now), job_id, *from, *to, *assignee),
            Command::SetNode { id, info } => {
                self.nodes.insert(*id, info.clone());
                Response::Ok
            }
            Command::RemoveNode { id } => {
                self.nodes.remove(id);
                Response::Ok
            }
            Command::By { principal, cmd } => {
                let outer = std::mem::replace(&mut ctx.principal, principal.clone());
                let r = self.apply_in(ctx, cmd);
                ctx.principal = outer;
                r
            }
            Command::AclBootstrap { token } => self.acl_bootstrap(token),
            Command::CreateToken { token } => self.create_token(token),
            Command::RevokeToken { name } => self.revoke_token(name),
            Command::SetRetention { per_job } => {
                self.retention = (*per_job).max(1);
                Response::Ok
            }
            Command::PutCalendar {
                spec,
                expected_version,
                create_only,
                now,
            } => self.put_calendar(ctx.at(*now), spec, *expected_version, *create_only),
            Command::DeleteCalendar { name } => self.delete_calendar(name),
            Command::Batch(cmds) => Response::Batch(
                cmds.iter()
                    .map(|c| match c {
                        Command::Batch(_) => {
                            Response::Error(crate::command::CommandError::NestedBatch)
                        }
                        c => self.apply_in(ctx, c),
                    })
                    .collect(),
            ),
        }
    }

    /// Takes the events produced since the last call. The next batch
    /// starts with room for as many: growing from empty by doubling had
    /// every batch copy its events several times, into fresh pages that
    /// the kernel zeroes (`clear_page_erms`, 4.5% of a follower's CPU at
    /// 8,000 fires/s).
    pub fn drain_events(&mut self) -> Vec<Event> {
        let room = self.events.len();
        std::mem::replace(&mut self.events, Vec::with_capacity(room))
    }

    /// Encodes the replicated part of the state for a snapshot. The
    /// encoding is canonical: equal states encode to equal bytes.
    pub fn encode(&self) -> Result<Vec<u8>, StateError> {
        #[derive(Serialize)]
        struct PersistedRef<'a> {
            jobs: &'a BTreeMap<String, Box<Job>>,
            occurrences: &'a BTreeMap<OccKey, Occurrence>,
            nodes: &'a BTreeMap<NodeId, NodeInfo>,
            scheduler_paused: bool,
            retention: u32,
            acl: &'a acl::Acl,
            calendars: &'a BTreeMap<String, Calendar>,
        }
        Ok(postcard::to_allocvec(&PersistedRef {
            jobs: &self.jobs,
            occurrences: &self.occurrences,
            nodes: &self.nodes,
            scheduler_paused: self.scheduler_paused,
            retention: self.retention,
            acl: &self.acl,
            calendars: &self.calendars,
        })?)
    }

    /// Decodes a state encoded by [`State::encode`] and rebuilds its indexes.
    pub fn decode(bytes: &[u8]) -> Result<State, StateError> {
        let p: Persisted = postcard::from_bytes(bytes)?;
        let mut state = State {
            jobs: p.jobs,
            occurrences: p.occurrences,
            nodes: p.nodes,
            scheduler_paused: p.scheduler_paused,
            retention: p.retention,
            acl: p.acl,
            calendars: p.calendars,
            ..State::default()
        };
        state.rebuild_indexes();
        Ok(state)
    }

    /// The one place that maintains the label index: job `id` no longer
    /// carries `old` and now carries `new`.
    fn index_labels(
        by_label: &mut BTreeMap<(String, String), BTreeSet<String>>,
        id: &str,
        old: Option<&crate::model::Labels>,
        new: Option<&crate::model::Labels>,
    ) {
        for (k, v) in old.into_iter().flatten() {
            let entry = (k.clone(), v.clone());
            if let Some(set) = by_label.get_mut(&entry) {
                set.remove(id);
                if set.is_empty() {
                    by_label.remove(&entry);
                }
            }
        }
        for (k, v) in new.into_iter().flatten() {
            by_label
                .entry((k.clone(), v.clone()))
                .or_default()
                .insert(id.to_string());
        }
    }

    /// The one place that maintains the dependents index: job `id` no
    /// longer has schedule `old` and now has `new`.
    fn index_upstream(
        dependents: &mut BTreeMap<String, BTreeSet<String>>,
        id: &str,
        old: Option<&crate::schedule::ScheduleSpec>,
        new: Option<&crate::schedule::ScheduleSpec>,
    ) {
        use crate::schedule::ScheduleSpec;
        if let Some(ScheduleSpec::After { job_id, .. }) = old
            && let Some(set) = dependents.get_mut(job_id)
        {
            set.remove(id);
            if set.is_empty() {
                dependents.remove(job_id);
            }
        }
        if let Some(ScheduleSpec::After { job_id, .. }) = new {
            dependents
                .entry(job_id.clone())
                .or_default()
                .insert(id.to_string());
        }
    }

    fn rebuild_indexes(&mut self) {
        self.due.clear();
        self.open.clear();
        self.by_label.clear();
        self.dependents.clear();
        self.token_by_hash = self
            .acl
            .tokens
            .values()
            .map(|t| (t.hash.clone(), t.name.clone()))
            .collect();
        for (id, job) in &self.jobs {
            Self::index_upstream(&mut self.dependents, id, None, Some(&job.spec.schedule));
        }
        for (id, job) in &self.jobs {
            if let (true, Some(at)) = (job.is_schedulable(), job.next_fire_at) {
                self.due.insert((at, id.clone()));
            }
            Self::index_labels(&mut self.by_label, id, None, Some(&job.spec.labels));
        }
        for (key, occ) in &self.occurrences {
            if occ.state.is_open() {
                self.open.insert(key.clone(), occ.current_node());
            }
            if not_ok(occ.state) {
                self.not_ok.insert((key.scheduled_at, key.clone()));
            }
        }
    }

    /// The compiled schedule of a job, compiled on first use. `None` if the
    /// job is unknown or its schedule no longer compiles (impossible for a
    /// validated spec, but handled rather than assumed).
    fn schedule_of(&mut self, job_id: &str) -> Option<Schedule> {
        if let Some(s) = self.compiled.get(job_id) {
            return Some(s.clone());
        }
        let spec = self.jobs.get(job_id)?.spec.clone();
        let schedule = match spec.exclude_calendars.is_empty() {
            true => crate::model::validate_spec(&spec).ok()?,
            // Calendars attached; `now` only refuses calendars that leave
            // no fire time, which a job already accepted cannot meet here.
            false => self.job_schedule(&spec, UnixMs::MIN / 2).ok()?,
        };
        self.compiled.put(job_id.to_string(), schedule.clone());
        Some(schedule)
    }

    /// Empties the cache of compiled schedules (tests: what an eviction does).
    #[cfg(test)]
    pub(crate) fn forget_compiled(&mut self) {
        self.compiled.clear();
    }

    /// Moves a job's cursor, keeping the `due` index in step.
    fn set_cursor(&mut self, job_id: &str, next: Option<UnixMs>) {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        if let (true, Some(at)) = (job.is_schedulable(), job.next_fire_at) {
            self.due.remove(&(at, job_id.to_string()));
        }
        job.next_fire_at = next;
        if let (true, Some(at)) = (job.is_schedulable(), job.next_fire_at) {
            self.due.insert((at, job_id.to_string()));
        }
    }

    /// Changes an occurrence's state, keeping the `open` index in step.
    fn set_occ_state(&mut self, key: &OccKey, state: crate::model::RunState) {
        if let Some(occ) = self.occurrences.get_mut(key) {
            occ.state = state;
            if state.is_open() {
                self.open.insert(key.clone(), occ.current_node());
            } else {
                self.open.remove(key);
            }
            let entry = (key.scheduled_at, key.clone());
            if not_ok(state) {
                self.not_ok.insert(entry);
            } else {
                self.not_ok.remove(&entry);
            }
        }
    }

    /// Gives an occurrence a new current attempt, keeping the `open`
    /// index's node in step.
    fn push_attempt(&mut self, key: &OccKey, attempt: crate::model::Attempt) {
        if let Some(occ) = self.occurrences.get_mut(key) {
            self.open.set_node(key, attempt.node_id);
            occ.attempts.push(attempt);
        }
    }

    /// Drops an occurrence, keeping the indexes in step.
    fn remove_occurrence(&mut self, key: &OccKey) {
        self.occurrences.remove(key);
        self.open.remove(key);
        self.not_ok.remove(&(key.scheduled_at, key.clone()));
    }

    fn emit(
        &mut self,
        ctx: &Ctx,
        kind: EventKind,
        job_id: &str,
        occurrence: Option<&OccKey>,
    ) -> &mut Event {
        self.events.push(Event {
            kind,
            at: ctx.now,
            log_index: ctx.index,
            job_id: job_id.to_string(),
            occurrence: occurrence.cloned(),
            node_id: None,
            token: None,
            detail: String::new(),
            cause: None,
            by: ctx.principal.clone(),
        });
        let last = self.events.len() - 1;
        &mut self.events[last]
    }

    /// Checks the index invariants (debug builds and tests).
    pub fn check_invariants(&self) {
        let due: BTreeSet<(UnixMs, String)> = self
            .jobs
            .iter()
            .filter_map(|(id, j)| {
                j.next_fire_at
                    .filter(|_| j.is_schedulable())
                    .map(|at| (at, id.clone()))
            })
            .collect();
        assert_eq!(due, self.due, "due index out of step with jobs");
        let open: BTreeMap<OccKey, Option<NodeId>> = self
            .occurrences
            .iter()
            .filter(|(_, o)| o.state.is_open())
            .map(|(k, o)| (k.clone(), o.current_node()))
            .collect();
        self.open.assert_is(&open);
        let bad: BTreeSet<(UnixMs, OccKey)> = self
            .occurrences
            .iter()
            .filter(|(_, o)| not_ok(o.state))
            .map(|(k, _)| (k.scheduled_at, k.clone()))
            .collect();
        assert_eq!(
            bad, self.not_ok,
            "not-ok index out of step with occurrences"
        );
        for (k, o) in &self.occurrences {
            assert_eq!(k, &o.key, "occurrence stored under another key");
            let tokens: Vec<u64> = o.attempts.iter().map(|a| a.token).collect();
            assert!(
                tokens.windows(2).all(|w| w[0] < w[1]),
                "tokens of {} not increasing: {tokens:?}",
                k.id()
            );
            // A not-run occurrence says why as a type, and only it does.
            let not_run = matches!(
                o.state,
                RunState::Missed | RunState::Skipped | RunState::Cancelled
            );
            match o.cause {
                Some(c) => assert_eq!(c.state(), o.state, "{} has cause {c:?}", k.id()),
                None => assert!(!not_run, "{} is {:?} with no cause", k.id(), o.state),
            }
        }
    }
}

#[cfg(test)]
mod tests;
