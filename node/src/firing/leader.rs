//! The leader's firing loop. While this node leads, every tick it reads the
//! due index of its applied state and proposes one `Fire` entry that arms,
//! a lookahead ahead of time, every occurrence due within the lookahead,
//! each with an assignee: the least loaded eligible node, preferring
//! followers. A new leader needs no hand-over: the committed log is the
//! whole truth, and occurrences that came due while no leader existed are
//! settled by the state machine under each job's misfire and coalesce
//! policies on the first `Fire`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use openraft::ServerState;
use proto::internal::{Assignment, DispatchRequest};
use store::command::{Advance, Command, Reassign, Response};
use store::model::{AttemptState, Capability, ExecutorSpec, NodeId, OccKey, UnixMs, WorkerSpec};
use store::state::{BACKLOG_AFTER_MS, State};

use crate::node::{Node, now_ms, now_us};
use crate::workers::CapacityTable;
use crate::workers::capacity::slots_for;

/// Timing and limits of the firing loop.
#[derive(Clone, Debug)]
pub struct FiringConfig {
    /// How far ahead of its due instant an occurrence is committed.
    pub lookahead: Duration,
    /// How often the leader looks for due jobs.
    pub tick: Duration,
    /// Most jobs advanced by one `Fire` entry.
    pub max_advances: usize,
    /// Instants armed ahead gather this long before a `Fire` proposes
    /// them: one is proposed once its instant is within `lookahead -
    /// gather` (or with anything due sooner), so each entry carries about
    /// this much of the schedule rather than one tick's.
    pub gather: Duration,
}

impl Default for FiringConfig {
    fn default() -> Self {
        FiringConfig {
            lookahead: Duration::from_millis(1000),
            tick: Duration::from_millis(10),
            max_advances: 4096,
            gather: Duration::from_millis(40),
        }
    }
}

/// How often the leader looks for attempts to reassign.
const REASSIGN_EVERY: Duration = Duration::from_millis(100);
/// Extra wait past an assignee's lease (clock-rate differences, scheduling).
const LEASE_MARGIN: Duration = Duration::from_millis(500);
/// How long past due an armed worker attempt waits on a node that has no
/// worker for it before it moves to a node that has one.
const WORKER_WAIT_MS: UnixMs = 500;
/// Most reassignments in one entry.
const MAX_REASSIGN: usize = 1024;
/// A node further behind the leader's log than this gets no new attempts.
use store::model::MAX_HEALTHY_LAG as MAX_ASSIGN_LAG;
/// A node not heard from for longer than this gets no new attempts.
const MAX_ASSIGN_SILENCE: Duration = Duration::from_millis(1_000);
/// The longest an instant that the open runs would refuse is held for
/// their results (a shorter misfire grace ends the hold sooner). Their run
/// may have ended with its result still on the way (a loaded assignee, a
/// slow commit); a skip must be judged on what really overlapped, never on
/// an outcome not yet known. Held, the instant is proposed `on_time` and
/// judged by what was in flight *at* its due instant on the schedule's
/// timeline (the state machine's rule), so holding changes no decision,
/// only the knowledge it is made with; the cost is that such a skip is
/// recorded (or such a run starts) late. Past the hold, a run still open
/// is taken as in flight: the skip is recorded with the run named. This
/// bounds how late a skip behind a run that really lasts is recorded, and
/// is the one limit of the rule (a result committed later than this).
const RESULT_HOLD_MAX_MS: UnixMs = 30_000;

/// How long before the end of its misfire grace a held instant is
/// proposed, so that a run still open is recorded as the skip it is (with
/// the run named) rather than as a miss: about one commit.
const HOLD_ENDS_BEFORE_GRACE_MS: UnixMs = 250;

/// Whether `job_id`'s instant `at` may still be held at `now` for the
/// results of runs in flight: until just before its misfire grace ends
/// (jitter included), or [`RESULT_HOLD_MAX_MS`], whichever comes first.
fn within_result_hold(s: &State, job_id: &str, at: UnixMs, now: UnixMs) -> bool {
    let Some(job) = s.job(job_id) else {
        return false;
    };
    let p = &job.spec.policies;
    let limit = p.misfire_grace_ms.map_or(RESULT_HOLD_MAX_MS, |g| {
        (g as UnixMs - HOLD_ENDS_BEFORE_GRACE_MS).min(RESULT_HOLD_MAX_MS)
    });
    now - at - (p.jitter_ms as UnixMs) < limit
}

/// Runs the firing loop until the Raft core stops.
pub async fn run(node: Node, cfg: FiringConfig, capacity: CapacityTable) {
    let mut metrics = node.raft.metrics();
    // When this node became leader (monotonic), when its settling ends
    // (its wall clock, ms: the instants it compares with are wall-clock),
    // the last log index it then held, and the term it leads in.
    let mut leader_since: Option<(Instant, UnixMs, u64, u64)> = None;
    let mut last_reassign = Instant::now();
    loop {
        let (state, term, last_log, applied) = {
            let m = metrics.borrow();
            (
                m.state,
                m.current_term,
                m.last_log_index.unwrap_or(0),
                m.last_applied.map_or(0, |l| l.index),
            )
        };
        // Leadership lost, or lost and won again in a later term between
        // two turns of this loop (a proposal of the old term failed while
        // this node was re-elected): either way a new leadership, which
        // settles and catches up anew.
        if state != ServerState::Leader || leader_since.is_some_and(|l| l.3 != term) {
            leader_since = None;
        }
        match state {
            ServerState::Shutdown => return,
            ServerState::Leader => {
                let (since, settle_end, caught_up_at, _) = *leader_since.get_or_insert_with(|| {
                    let settle = (node.lease + LEASE_MARGIN).as_millis() as UnixMs;
                    (Instant::now(), now_ms() + settle, last_log, term)
                });
                // A new leader plans on its applied state only once that
                // state holds every entry in its log when it was elected:
                // an occurrence the old leader armed, committed but not yet
                // applied here, would look like no run in flight, and the
                // next instant would be judged (skipped) on it unseen.
                if applied < caught_up_at {
                    tokio::time::sleep(cfg.tick).await;
                    continue;
                }
                if last_reassign.elapsed() >= REASSIGN_EVERY {
                    last_reassign = Instant::now();
                    let items = node
                        .state
                        .read(|s| reassignments(s, &node, now_ms(), since, &capacity));
                    if !items.is_empty() {
                        let n = items.len();
                        tracing::info!(
                            attempts = n,
                            "reassigning attempts of nodes whose lease ran out"
                        );
                        if let Err(e) = node
                            .write_as_leader(Command::Reassign {
                                now: now_ms(),
                                items,
                            })
                            .await
                        {
                            tracing::warn!(error = %e, attempts = n, "reassign proposal failed");
                        }
                    }
                }
                let now = now_ms();
                let (advances, unserved) = node
                    .state
                    .read(|s| plan(s, &node, now, &cfg, settle_end, &capacity));
                if !unserved.is_empty() {
                    let n = unserved.len();
                    let cmd = Command::Unserved {
                        now,
                        job_ids: unserved,
                    };
                    if let Err(e) = node.write_as_leader(cmd).await {
                        tracing::warn!(error = %e, jobs = n, "recording unserved worker jobs failed");
                    }
                }
                if advances.is_empty() {
                    tokio::time::sleep(cfg.tick).await;
                    continue;
                }
                let n = advances.len();
                let turn = tokio::time::Instant::now();
                match node.write_as_leader(Command::Fire { now, advances }).await {
                    Ok(w) => {
                        if let Response::Fired { keys, .. } = w.response {
                            dispatch(&node, &keys);
                        }
                        // At most one `Fire` per tick unless a backlog fills
                        // entries: the instants it arms are a lookahead
                        // (a second) ahead, so waiting out the tick delays
                        // none of them, and planning again as soon as the
                        // entry committed made one entry per commit (about
                        // 200 a second at 1,000 fires/s), each an fsync on
                        // every node.
                        if n < cfg.max_advances {
                            tokio::time::sleep_until(turn + cfg.tick).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, jobs = n, "fire proposal failed");
                        tokio::time::sleep(cfg.tick).await;
                    }
                }
            }
            _ => {
                if metrics.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The advances of one `Fire` entry at `now`. While settling (a new
/// leader, for one lease and margin after its election, until
/// `settle_end`), an instant that the open occurrences would refuse or
/// replace is held rather than judged: their results may have gone to the
/// old leader and be on their way here again, and a run skipped as "max
/// instances reached" on stale knowledge would be a run lost. Once the
/// result lands the instant is proposed at once. Once settled, it is
/// judged as a backlog under the job's misfire and coalesce policies: an
/// instant due before the settling ended is held until it is late enough
/// for the state machine to count it as one ([`BACKLOG_AFTER_MS`]), or it
/// would be judged as on time, on knowledge that may still be stale.
///
/// The same holds, at any time, for instants blocked by a run on a node
/// gone silent ([`held_by_silent`]), and, within the job's misfire grace
/// ([`within_result_hold`]), for any instant that the open runs would
/// refuse (not replace: a replacement is due on time), until their results
/// are known.
///
/// A worker job goes only to a node with a live worker for its queue and
/// function and a free slot; with none, it waits (in instant order, so a
/// queue's backlog is served oldest first), and once its instants are past
/// their misfire grace it is returned in the second list, for an
/// `Unserved` entry that records them as missed with the reason.
pub fn plan(
    s: &State,
    node: &Node,
    now: UnixMs,
    cfg: &FiringConfig,
    settle_end: UnixMs,
    capacity: &CapacityTable,
) -> (Vec<Advance>, Vec<String>) {
    let settling = now < settle_end;
    let mut unserved = Vec::new();
    if s.scheduler_paused() {
        return (Vec::new(), unserved);
    }
    let through = now + cfg.lookahead.as_millis() as UnixMs;
    // Every instant here is still at least `lookahead - gather` away: wait
    // for company (an entry per tick was an fsync on every node per tick).
    // Anything due sooner (a new job, a held instant, a backlog) goes now.
    let gather_until = through - cfg.gather.as_millis() as UnixMs;
    // Most ticks gather: when even the earliest due instant is that far
    // away (the index is in instant order), the pass below could only end
    // in the check after it, so skip it (and the picker it would build).
    if s.due_through(through)
        .next()
        .is_some_and(|(at, _)| at > gather_until)
        && s.due_through(through)
            .nth(cfg.max_advances.saturating_sub(1))
            .is_none()
    {
        return (Vec::new(), unserved);
    }
    let mut picker = Picker::new(s, node, capacity);
    let mut out = Vec::new();
    let mut earliest = UnixMs::MAX;
    for (at, id) in s.due_through(through) {
        if out.len() >= cfg.max_advances {
            break;
        }
        // A job whose overlap policy refuses a new occurrence now is only
        // proposed once it is due, when the state machine records it.
        let overlap = s.overlap_now(id);
        let ahead = overlap.arms_ahead();
        if !ahead
            && (at > now
                || (overlap.judged_by_open()
                    && (settling
                        || (at < settle_end && !late_as_backlog(s, id, at, now))
                        || held_by_silent(s, node, id)))
                || (overlap.refused() && within_result_hold(s, id, at, now)))
        {
            continue;
        }
        let Some(job) = s.job(id) else { continue };
        let Some(assignee) = picker.pick(&job.spec.node_selector, &job.spec.executor) else {
            // No worker with a free slot anywhere: wait, or, past the
            // misfire grace, have the instants recorded as missed.
            let late = now - at - job.spec.policies.jitter_ms as UnixMs;
            if job
                .spec
                .policies
                .misfire_grace_ms
                .is_some_and(|g| late > g as UnixMs)
            {
                unserved.push(id.to_string());
            }
            continue;
        };
        // An instant proposed once due (its overlap policy kept it from
        // being armed ahead, or it was held for results) that came due
        // after this leader settled is late only for the results it was
        // held for (or a slow tick): it is judged as on time, one instant
        // per entry, on what really overlapped it, never folded into a
        // backlog with the instants held behind it.
        let on_time = at <= now && at >= settle_end;
        earliest = earliest.min(at);
        out.push(Advance {
            job_id: id.to_string(),
            through: if on_time {
                at
            } else if ahead {
                through
            } else {
                now
            },
            assignee,
            on_time,
        });
    }
    if out.len() < cfg.max_advances && earliest > gather_until {
        out.clear();
    }
    (out, unserved)
}

/// Whether the state machine will count `job_id`'s instant `at`, proposed
/// at `now`, as a backlog (late by more than [`BACKLOG_AFTER_MS`] past its
/// due instant, jitter included).
fn late_as_backlog(s: &State, job_id: &str, at: UnixMs, now: UnixMs) -> bool {
    let jitter = s
        .job(job_id)
        .map_or(0, |j| j.spec.policies.jitter_ms as UnixMs);
    now - at > BACKLOG_AFTER_MS + jitter
}

/// Whether an open occurrence of `job_id` is held by a node not heard from
/// lately: its run may have ended with nobody to tell (the node died), and
/// the lease will settle it (reassigned, or failed as lost). Until then a
/// new instant is held rather than skipped for an overlap the cluster
/// cannot judge; once settled, it is judged as a backlog.
fn held_by_silent(s: &State, node: &Node, job_id: &str) -> bool {
    s.open_of(job_id).iter().any(|key| {
        s.occurrence(key)
            .and_then(|o| o.current())
            .is_some_and(|a| {
                a.node_id != node.id
                    && node
                        .contacts
                        .last(a.node_id)
                        .is_none_or(|c| c.elapsed() > MAX_ASSIGN_SILENCE)
            })
    })
}

/// Tells each assignee when its new attempts are due, as "due in" on the
/// leader's clock, so it can wait on its monotonic clock. Fire and forget:
/// an assignee that misses it waits on the leader's clock learnt from
/// appends (`lease`).
fn dispatch(node: &Node, keys: &[OccKey]) {
    // Each assignment with its due instant (wall clock, ms); "due in" is
    // computed just before the send, so the assignee's hint is late only by
    // the message's transit.
    let mut by_node: BTreeMap<NodeId, Vec<(Assignment, UnixMs)>> = BTreeMap::new();
    node.state.read(|s| {
        for key in keys {
            let Some(occ) = s.occurrence(key) else {
                continue;
            };
            let Some(a) = occ.current() else { continue };
            if a.node_id == node.id || a.state != AttemptState::Armed {
                continue;
            }
            let assignment = Assignment {
                occurrence_id: key.id(),
                fencing_token: a.token,
                attempt: a.number,
                log_index: store::model::FencingToken::from_u64(a.token).log_index(),
                due_in: None,
            };
            by_node
                .entry(a.node_id)
                .or_default()
                .push((assignment, a.due_at));
        }
    });
    let membership = node.membership();
    let term = node.raft.metrics().borrow().current_term;
    for (target, assignments) in by_node {
        let Some(addr) = membership.get_node(&target).map(|n| n.addr.clone()) else {
            continue;
        };
        let Ok(channel) = node.channels.get(&addr) else {
            continue;
        };
        let leader_id = node.id;
        tokio::spawn(async move {
            // To the microsecond: a millisecond truncated here would be a
            // millisecond late at the assignee.
            let now_us = now_us();
            let assignments = assignments
                .into_iter()
                .map(|(mut a, due_at)| {
                    let due_in =
                        Duration::from_micros((i128::from(due_at) * 1_000 - now_us).max(0) as u64);
                    a.due_in = prost_types::Duration::try_from(due_in).ok();
                    a
                })
                .collect();
            let req = DispatchRequest {
                leader_id,
                term,
                assignments,
            };
            if let Err(e) = crate::peers::dispatch(channel, req).await {
                tracing::debug!(target, error = %e, "dispatch not delivered; the assignee waits on the leader's clock from appends");
            }
        });
    }
}

/// Attempts whose assignee has not acknowledged an append for longer than
/// its lease (plus a margin): by now it has stopped starting runs, so the
/// attempt can move to another node under a new, higher token. An armed
/// attempt moves only once overdue; a running one is failed (and retried
/// under its policy) by the state machine.
pub fn reassignments(
    s: &State,
    node: &Node,
    now: UnixMs,
    leader_since: Instant,
    capacity: &CapacityTable,
) -> Vec<Reassign> {
    let mut picker = Picker::new(s, node, capacity);
    let mut out = Vec::new();
    for occ in s.open_occurrences() {
        if out.len() >= MAX_REASSIGN {
            break;
        }
        let Some(a) = occ.current() else { continue };
        // Heard from lately: its report of what its workers serve is
        // current, and it is not cut off.
        let in_contact = a.node_id == node.id
            || node
                .contacts
                .last(a.node_id)
                .is_some_and(|c| c.elapsed() <= MAX_ASSIGN_SILENCE);
        if a.state == AttemptState::Armed
            && a.due_at + WORKER_WAIT_MS < now
            && in_contact
            && picker.reported(a.node_id)
            && let Some(job) = s.job(&occ.key.job_id)
            && let Some(w) = job.spec.executor.worker()
            && picker.worker_slots(a.node_id, w) == 0
        {
            // A worker attempt whose node, in contact and reporting, has no
            // worker for it any more (it left, or this is a retry on the node whose
            // worker was lost): move it to a node that has one, under a
            // new token. A node out of contact may have started it (its
            // report lost with it): only its lease settles that, below.
            if let Some(assignee) =
                picker.pick_excluding(&job.spec.node_selector, &job.spec.executor, Some(a.node_id))
            {
                out.push(Reassign {
                    key: occ.key.clone(),
                    token: a.token,
                    assignee,
                    reason: format!(
                        "node {} has no worker for it; {}",
                        a.node_id,
                        w.no_worker_reason()
                    ),
                });
            }
            continue;
        }
        if a.node_id == node.id || (a.state == AttemptState::Armed && a.due_at > now) {
            continue;
        }
        // A new leader counts from its own start: it cannot know older contacts.
        let contact = node
            .contacts
            .last(a.node_id)
            .map_or(leader_since, |c| c.max(leader_since));
        let silent = contact.elapsed();
        if silent <= node.lease + LEASE_MARGIN {
            continue;
        }
        let Some(job) = s.job(&occ.key.job_id) else {
            continue;
        };
        // With no node eligible (no worker anywhere), the leader takes it:
        // its runner waits for a worker, and this loop moves it on to a
        // node that gets one.
        let assignee = picker
            .pick_excluding(&job.spec.node_selector, &job.spec.executor, Some(a.node_id))
            .unwrap_or(node.id);
        out.push(Reassign {
            key: occ.key.clone(),
            token: a.token,
            assignee,
            reason: format!(
                "node {} silent for {} ms (lease {} ms)",
                a.node_id,
                silent.as_millis(),
                node.lease.as_millis()
            ),
        });
    }
    out
}

/// Chooses assignees: healthy members, least loaded first, followers before
/// the leader (which runs jobs itself only when no follower is eligible).
struct Picker<'a> {
    state: &'a State,
    me: NodeId,
    load: BTreeMap<NodeId, usize>,
    /// What each node's workers serve: node -> (queue, function) -> slots.
    workers: BTreeMap<NodeId, BTreeMap<(String, String), u32>>,
    /// Open worker attempts per (node, queue, function), picks included.
    worker_load: BTreeMap<(NodeId, String, String), u32>,
}

impl<'a> Picker<'a> {
    fn new(state: &'a State, node: &Node, capacity: &CapacityTable) -> Self {
        let m = node.raft.metrics().borrow().clone();
        let last = m.last_log_index.unwrap_or(0);
        let replication = m.replication.clone().unwrap_or_default();
        let mut load = BTreeMap::new();
        for (id, _) in m.membership_config.membership().nodes() {
            // Healthy: caught up within a bound, and heard from lately (a
            // dead node's replication progress stays put, so lag alone
            // would keep assigning to it until the log moved 1,000 entries).
            let healthy = *id == node.id
                || (replication
                    .get(id)
                    .copied()
                    .flatten()
                    .is_some_and(|l| last.saturating_sub(l.index) <= MAX_ASSIGN_LAG)
                    && node
                        .contacts
                        .last(*id)
                        .is_some_and(|c| c.elapsed() <= MAX_ASSIGN_SILENCE));
            if healthy {
                // Every tick: the state keeps each node's count of open
                // attempts, so this reads a number, not the open index.
                load.insert(*id, state.open_on(*id));
            }
        }
        let workers = capacity.snapshot();
        let mut worker_load = BTreeMap::new();
        // Each node reports its workers, an empty list when it has none:
        // only a worker somewhere makes the per-function load worth a pass
        // over the open occurrences and a job lookup for each.
        if workers.values().any(|w| !w.is_empty()) {
            for (key, node_id) in state.open_assignees() {
                let Some(node_id) = node_id else { continue };
                if let Some(w) = state
                    .job(&key.job_id)
                    .and_then(|j| j.spec.executor.worker())
                {
                    *worker_load
                        .entry((node_id, w.queue.clone(), w.function.clone()))
                        .or_default() += 1;
                }
            }
        }
        Picker {
            state,
            me: node.id,
            load,
            workers,
            worker_load,
        }
    }

    /// The slots node `id`'s workers have for `w` (0: none serves it).
    /// Whether node `id` has reported its workers lately. A new leader
    /// learns the reports within a second; until then "no report" is not
    /// "no worker" (its attempts may be running).
    fn reported(&self, id: NodeId) -> bool {
        self.workers.contains_key(&id)
    }

    fn worker_slots(&self, id: NodeId, w: &WorkerSpec) -> u32 {
        slots_for(&self.workers, id, w)
    }

    /// Whether node `id` has a worker for `w` with a slot not yet taken.
    fn worker_free(&self, id: NodeId, w: &WorkerSpec) -> bool {
        let used = self
            .worker_load
            .get(&(id, w.queue.clone(), w.function.clone()))
            .copied()
            .unwrap_or(0);
        used < self.worker_slots(id, w)
    }

    fn eligible(
        &self,
        id: NodeId,
        selector: &BTreeMap<String, String>,
        executor: &ExecutorSpec,
    ) -> bool {
        let info = self.state.nodes().get(&id);
        let labels_ok =
            selector.is_empty() || info.is_some_and(|i| store::state::matches(&i.labels, selector));
        // A node that has not registered yet runs what every node runs
        // (HTTP, workers), never shell jobs.
        let capable = match info {
            Some(i) => i.can_run(executor),
            None => executor.capability() != Capability::Shell,
        };
        let worker_ok = executor.worker().is_none_or(|w| self.worker_free(id, w));
        labels_ok && capable && worker_ok
    }

    /// The node for a new attempt; `None` only for a worker job that no
    /// node has a free worker slot for.
    fn pick(
        &mut self,
        selector: &BTreeMap<String, String>,
        executor: &ExecutorSpec,
    ) -> Option<NodeId> {
        self.pick_excluding(selector, executor, None)
    }

    fn pick_excluding(
        &mut self,
        selector: &BTreeMap<String, String>,
        executor: &ExecutorSpec,
        exclude: Option<NodeId>,
    ) -> Option<NodeId> {
        let best = |me_too: bool, p: &Self| {
            p.load
                .iter()
                .filter(|(id, _)| Some(**id) != exclude)
                .filter(|(id, _)| (me_too || **id != p.me) && p.eligible(**id, selector, executor))
                .min_by_key(|(id, n)| (**n, **id))
                .map(|(id, _)| *id)
        };
        let chosen = best(false, self).or_else(|| best(true, self));
        // Nobody eligible for a worker job: it waits for a worker. For any
        // other kind (e.g. a shell job and no shell-enabled node) the
        // leader takes it, and its runner records why it failed.
        let chosen = match (chosen, executor.worker()) {
            (Some(c), _) => c,
            (None, Some(_)) => return None,
            (None, None) => self.me,
        };
        *self.load.entry(chosen).or_default() += 1;
        if let Some(w) = executor.worker() {
            *self
                .worker_load
                .entry((chosen, w.queue.clone(), w.function.clone()))
                .or_default() += 1;
        }
        Some(chosen)
    }
}
