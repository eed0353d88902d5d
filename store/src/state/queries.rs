//! Read-only queries that the node serves from its applied state.

use std::collections::BTreeMap;

use crate::command::NodeInfo;
use crate::model::{Job, NodeId, OccKey, Occurrence, RunState, UnixMs};

use super::State;

/// A filter for [`State::runs`].
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Only this job.
    pub job_id: Option<String>,
    /// Scheduled at or after.
    pub since: Option<UnixMs>,
    /// Scheduled before.
    pub until: Option<UnixMs>,
    /// Only this state.
    pub state: Option<RunState>,
    /// At most this many.
    pub limit: usize,
}

impl State {
    /// One job.
    pub fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.get(id).map(|j| &**j)
    }

    /// Number of jobs.
    pub fn job_count(&self) -> usize {
        self.jobs.len()
    }

    /// Jobs after `after` (exclusive) in id order whose labels contain all
    /// of `selector`, at most `limit`.
    pub fn jobs_page(
        &self,
        selector: &BTreeMap<String, String>,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<&Job> {
        self.jobs_page_where(selector, after, limit, |_| true)
    }

    /// [`Self::jobs_page`] of the jobs that also satisfy `keep` (a state
    /// filter, say). Scans in id order until the page is full.
    pub fn jobs_page_where(
        &self,
        selector: &BTreeMap<String, String>,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&Job) -> bool,
    ) -> Vec<&Job> {
        let range = match after {
            Some(a) => self
                .jobs
                .range::<str, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => self.jobs.range::<str, _>(..),
        };
        range
            .map(|(_, j)| &**j)
            .filter(|j| matches(&j.spec.labels, selector) && keep(j))
            .take(limit)
            .collect()
    }

    /// Ids of the jobs whose labels contain all of `selector`, via the label index.
    pub fn jobs_matching(&self, selector: &BTreeMap<String, String>) -> Vec<String> {
        let mut sets = selector
            .iter()
            .map(|(k, v)| self.by_label.get(&(k.clone(), v.clone())));
        let Some(first) = sets.next() else {
            return self.jobs.keys().cloned().collect();
        };
        let Some(first) = first else {
            return Vec::new();
        };
        first
            .iter()
            .filter(|id| {
                self.jobs
                    .get(*id)
                    .is_some_and(|j| matches(&j.spec.labels, selector))
            })
            .cloned()
            .collect()
    }

    /// Schedulable jobs whose next fire instant is at or before `through`,
    /// earliest first: the leader's firing index.
    pub fn due_through(&self, through: UnixMs) -> impl Iterator<Item = (UnixMs, &str)> {
        self.due
            .range(..=(through, String::from("\u{10ffff}")))
            .map(|(at, id)| (*at, id.as_str()))
    }

    /// How many of `job_id`'s instants are due at or before `through` and
    /// not yet occurrences (from its cursor on), counting at most `cap`. A
    /// schedule not in the compiled cache here (`State::compiled`: not
    /// fired or changed lately) counts its cursor alone: this feeds a
    /// metric, and compiling from `&self` would need a lock on the cache.
    pub fn due_count(&self, job_id: &str, through: UnixMs, cap: usize) -> usize {
        let Some(mut at) = self.jobs.get(job_id).and_then(|j| j.next_fire_at) else {
            return 0;
        };
        let Some(schedule) = self.compiled.peek(job_id) else {
            return usize::from(at <= through);
        };
        let seed = crate::schedule::job_seed(job_id);
        let mut n = 0;
        while at <= through && n < cap {
            n += 1;
            match schedule.next_after(crate::model::time::to_datetime(at), seed) {
                Some(next) => at = crate::model::time::from_datetime(next),
                None => break,
            }
        }
        n
    }

    /// The earliest next fire instant of any schedulable job.
    pub fn next_due(&self) -> Option<UnixMs> {
        self.due.first().map(|(at, _)| *at)
    }

    /// One occurrence.
    pub fn occurrence(&self, key: &OccKey) -> Option<&Occurrence> {
        self.occurrences.get(key)
    }

    /// Every open (armed or running) occurrence, in key order.
    pub fn open_occurrences(&self) -> impl Iterator<Item = &Occurrence> {
        self.open.keys().filter_map(|k| self.occurrences.get(k))
    }

    /// Every open occurrence's key with the node of its current attempt
    /// (`None`: no attempt yet, buffered), without a lookup of each
    /// occurrence: what the leader counts each node's load from.
    pub fn open_assignees(&self) -> impl Iterator<Item = (&OccKey, Option<NodeId>)> {
        self.open.iter()
    }

    /// Number of open occurrences whose current attempt is on `node`.
    pub fn open_on(&self, node: NodeId) -> usize {
        self.open.on(node)
    }

    /// Number of open occurrences.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// A job's occurrences, oldest first.
    pub fn occurrences_of<'a>(
        &'a self,
        job_id: &str,
    ) -> impl Iterator<Item = (&'a OccKey, &'a Occurrence)> + 'a {
        let start = OccKey {
            job_id: job_id.to_string(),
            scheduled_at: UnixMs::MIN,
        };
        let job_id = job_id.to_string();
        self.occurrences
            .range(start..)
            .take_while(move |(k, _)| k.job_id == job_id)
    }

    /// Keys of a job's open occurrences.
    pub fn open_of(&self, job_id: &str) -> Vec<OccKey> {
        self.open_of_ref(job_id).into_iter().cloned().collect()
    }

    pub(super) fn open_of_ref(&self, job_id: &str) -> Vec<&OccKey> {
        let start = OccKey {
            job_id: job_id.to_string(),
            scheduled_at: UnixMs::MIN,
        };
        self.open
            .keys_from(start)
            .take_while(|k| k.job_id == job_id)
            .collect()
    }

    /// Occurrences matching `filter`, ordered by scheduled instant then job.
    pub fn runs(&self, filter: &RunFilter) -> Vec<&Occurrence> {
        let keep = |o: &&Occurrence| {
            filter.since.is_none_or(|s| o.key.scheduled_at >= s)
                && filter.until.is_none_or(|u| o.key.scheduled_at < u)
                && filter.state.is_none_or(|s| o.state == s)
        };
        match &filter.job_id {
            Some(id) => newest(
                self.occurrences_of(id).map(|(_, o)| o).filter(keep),
                filter.limit,
            ),
            None => newest(self.occurrences.values().filter(keep), filter.limit),
        }
    }

    /// The newest `limit` runs of any job in one of `states`, scheduled at
    /// or after `since`, in one pass (the dashboard's recent failures).
    pub fn runs_in_states(
        &self,
        states: &[RunState],
        since: UnixMs,
        limit: usize,
    ) -> Vec<&Occurrence> {
        if states.iter().all(|s| super::not_ok(*s)) {
            // Through the index of runs that ended badly, newest first:
            // no scan of the history.
            let mut out: Vec<&Occurrence> = self
                .not_ok
                .range(
                    (
                        since,
                        OccKey {
                            job_id: String::new(),
                            scheduled_at: since,
                        },
                    )..,
                )
                .rev()
                .filter_map(|(_, k)| self.occurrences.get(k))
                .filter(|o| states.contains(&o.state))
                .take(if limit == 0 { usize::MAX } else { limit })
                .collect();
            out.reverse();
            return out;
        }
        newest(
            self.occurrences
                .values()
                .filter(|o| o.key.scheduled_at >= since && states.contains(&o.state)),
            limit,
        )
    }

    /// Registered nodes and their assignment properties.
    pub fn nodes(&self) -> &BTreeMap<NodeId, NodeInfo> {
        &self.nodes
    }

    /// Whether the whole scheduler is paused.
    pub fn scheduler_paused(&self) -> bool {
        self.scheduler_paused
    }

    /// Finished occurrences kept per job.
    pub fn retention(&self) -> u32 {
        self.retention
    }
}

/// The newest `limit` (all when 0) of `runs` in (scheduled_at, job id)
/// order. Keeps at most `limit` in a heap while it scans, so listing the
/// newest page of a million runs neither sorts nor copies them all.
pub(super) fn newest<'a>(
    runs: impl Iterator<Item = &'a Occurrence>,
    limit: usize,
) -> Vec<&'a Occurrence> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let order = |o: &'a Occurrence| (o.key.scheduled_at, &o.key.job_id, o);
    if limit == 0 {
        let mut all: Vec<&Occurrence> = runs.collect();
        all.sort_by(|a, b| {
            (a.key.scheduled_at, &a.key.job_id).cmp(&(b.key.scheduled_at, &b.key.job_id))
        });
        return all;
    }
    // A min-heap of the newest seen so far: the oldest of them on top.
    let mut heap: BinaryHeap<Reverse<(UnixMs, &String, ByKey<'a>)>> =
        BinaryHeap::with_capacity(limit + 1);
    for o in runs {
        let (at, job, _) = order(o);
        if heap.len() == limit
            && heap
                .peek()
                .is_some_and(|Reverse((a, j, _))| (at, job) <= (*a, *j))
        {
            continue;
        }
        heap.push(Reverse((at, job, ByKey(o))));
        if heap.len() > limit {
            heap.pop();
        }
    }
    let mut out: Vec<&Occurrence> = heap.into_iter().map(|Reverse((_, _, o))| o.0).collect();
    out.sort_by(|a, b| {
        (a.key.scheduled_at, &a.key.job_id).cmp(&(b.key.scheduled_at, &b.key.job_id))
    });
    out
}

/// An occurrence ordered by its key alone (occurrences are not `Ord`).
struct ByKey<'a>(&'a Occurrence);

impl PartialEq for ByKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}
impl Eq for ByKey<'_> {}
impl PartialOrd for ByKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByKey<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.key.cmp(&other.0.key)
    }
}

/// Labels as a map from key to value: a job's ([`crate::model::Labels`])
/// or a node's (`BTreeMap`).
pub trait LabelLookup {
    /// The value of `key`, if present.
    fn label(&self, key: &str) -> Option<&String>;
}

impl LabelLookup for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&String> {
        self.get(key)
    }
}

impl LabelLookup for crate::model::Labels {
    fn label(&self, key: &str) -> Option<&String> {
        self.get(key)
    }
}

/// Whether `labels` contain every entry of `selector`.
pub fn matches(labels: &impl LabelLookup, selector: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.label(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn occ(job: u8, at: i64) -> Occurrence {
        Occurrence {
            key: OccKey {
                job_id: format!("j{job}"),
                scheduled_at: at,
            },
            state: RunState::Succeeded,
            reason: None,
            cause: None,
            manual: false,
            created_index: 0,
            buffered: false,
            attempts: Vec::new(),
        }
    }

    proptest! {
        /// The bounded scan keeps exactly what sorting all and keeping the
        /// last `limit` keeps.
        #[test]
        fn newest_is_the_tail_of_the_sorted_runs(
            keys in proptest::collection::btree_set((0u8..5, -50i64..50), 0..60),
            limit in 0usize..20,
        ) {
            let all: Vec<Occurrence> = keys.iter().map(|(j, a)| occ(*j, *a)).collect();
            let mut want: Vec<&Occurrence> = all.iter().collect();
            want.sort_by(|a, b| {
                (a.key.scheduled_at, &a.key.job_id).cmp(&(b.key.scheduled_at, &b.key.job_id))
            });
            if limit > 0 && want.len() > limit {
                want.drain(..want.len() - limit);
            }
            let got = newest(all.iter(), limit);
            prop_assert_eq!(got, want);
        }
    }
}
