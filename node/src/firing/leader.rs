//! The leader's firing loop. While this node leads, every tick it reads the
//! due index of its applied state and proposes one `Fire` entry that arms,
//! a lookahead ahead of time, every occurrence due within the lookahead,
//! each with an assignee: the least loaded eligible node, preferring
//! followers. A new leader needs no hand-over: the committed log is the
//! whole truth, and occurrences that came due while no leader existed are
//! settled by the state machine under each job's misfire and coalesce
//! policies on the first `Fire`.

use std::collections::BTreeMap;
use std::time::Duration;

use openraft::ServerState;
use store::command::{Advance, Command};
use store::model::{ExecutorSpec, NodeId, UnixMs};
use store::state::State;

use crate::node::{Node, now_ms};

/// Timing and limits of the firing loop.
#[derive(Clone, Debug)]
pub struct FiringConfig {
    /// How far ahead of its due instant an occurrence is committed.
    pub lookahead: Duration,
    /// How often the leader looks for due jobs.
    pub tick: Duration,
    /// Most jobs advanced by one `Fire` entry.
    pub max_advances: usize,
}

impl Default for FiringConfig {
    fn default() -> Self {
        FiringConfig {
            lookahead: Duration::from_millis(1000),
            tick: Duration::from_millis(10),
            max_advances: 4096,
        }
    }
}

/// Runs the firing loop until the Raft core stops.
pub async fn run(node: Node, cfg: FiringConfig) {
    let mut metrics = node.raft.metrics();
    loop {
        let state = metrics.borrow().state;
        match state {
            ServerState::Shutdown => return,
            ServerState::Leader => {
                let now = now_ms();
                let advances = node.state.read(|s| plan(s, &node, now, &cfg));
                if advances.is_empty() {
                    tokio::time::sleep(cfg.tick).await;
                    continue;
                }
                let n = advances.len();
                if let Err(e) = node.write_as_leader(Command::Fire { now, advances }).await {
                    tracing::warn!(error = %e, jobs = n, "fire proposal failed");
                    tokio::time::sleep(cfg.tick).await;
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

/// The advances of one `Fire` entry at `now`.
pub fn plan(s: &State, node: &Node, now: UnixMs, cfg: &FiringConfig) -> Vec<Advance> {
    if s.scheduler_paused() {
        return Vec::new();
    }
    let through = now + cfg.lookahead.as_millis() as UnixMs;
    let mut picker = Picker::new(s, node);
    let mut out = Vec::new();
    for (at, id) in s.due_through(through) {
        if out.len() >= cfg.max_advances {
            break;
        }
        // A job whose overlap policy refuses a new occurrence now is only
        // proposed once it is due, when the state machine records it.
        let ahead = s.arms_ahead(id);
        if !ahead && at > now {
            continue;
        }
        let Some(job) = s.job(id) else { continue };
        let assignee = picker.pick(&job.spec.node_selector, &job.spec.executor);
        out.push(Advance {
            job_id: id.to_string(),
            through: if ahead { through } else { now },
            assignee,
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
}

impl<'a> Picker<'a> {
    fn new(state: &'a State, node: &Node) -> Self {
        let m = node.raft.metrics().borrow().clone();
        let last = m.last_log_index.unwrap_or(0);
        let replication = m.replication.clone().unwrap_or_default();
        let mut load = BTreeMap::new();
        for (id, _) in m.membership_config.membership().nodes() {
            let healthy = *id == node.id
                || replication
                    .get(id)
                    .copied()
                    .flatten()
                    .is_some_and(|l| last.saturating_sub(l.index) <= 1_000);
            if healthy {
                load.insert(*id, 0usize);
            }
        }
        for occ in state.open_occurrences() {
            if let Some(a) = occ.current()
                && let Some(n) = load.get_mut(&a.node_id)
            {
                *n += 1;
            }
        }
        Picker {
            state,
            me: node.id,
            load,
        }
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
        let shell_ok = !executor.needs_shell() || info.is_some_and(|i| i.shell_enabled);
        labels_ok && shell_ok
    }

    fn pick(&mut self, selector: &BTreeMap<String, String>, executor: &ExecutorSpec) -> NodeId {
        let best = |me_too: bool, p: &Self| {
            p.load
                .iter()
                .filter(|(id, _)| (me_too || **id != p.me) && p.eligible(**id, selector, executor))
                .min_by_key(|(id, n)| (**n, **id))
                .map(|(id, _)| *id)
        };
        // Nobody eligible (e.g. a shell job and no shell-enabled node): the
        // leader takes it, and its runner records why it failed.
        let chosen = best(false, self)
            .or_else(|| best(true, self))
            .unwrap_or(self.me);
        *self.load.entry(chosen).or_default() += 1;
        chosen
    }
}
