//! The exactly-once ledger of a window: every (job, scheduled instant) the
//! scenario's jobs must fire in it, against what reached the sink. A
//! benchmark that fires fast but drops or repeats occurrences has measured
//! nothing, so the steady-state scenarios all check this as they go.

use std::collections::{BTreeMap, HashMap, HashSet};

use proto::v1 as pb;
use serde_json::{Value, json};

use crate::deliveries::Delivery;
use crate::stats::Summary;
use crate::time::ts;

#[derive(Default)]
struct Slot {
    deliveries: u32,
    accepted: u32,
    /// Lateness of the delivery the sink kept.
    lateness_ms: Option<f64>,
}

/// Expected occurrences of a window `[from_ms, to_ms)` and their deliveries.
pub struct Ledger {
    from_ms: i64,
    to_ms: i64,
    slots: HashMap<(String, i64), Slot>,
    jobs: HashSet<String>,
    delivered: usize,
    unexpected: u64,
}

impl Ledger {
    /// An empty ledger of the scheduled instants in `[from_ms, to_ms)`.
    pub fn new(from_ms: i64, to_ms: i64) -> Ledger {
        Ledger {
            from_ms,
            to_ms,
            slots: HashMap::new(),
            jobs: HashSet::new(),
            delivered: 0,
            unexpected: 0,
        }
    }

    /// Expects `job` to fire at `at_ms` (ignored outside the window).
    pub fn expect(&mut self, job: &str, at_ms: i64) {
        if (self.from_ms..self.to_ms).contains(&at_ms) {
            self.jobs.insert(job.to_string());
            self.slots.entry((job.to_string(), at_ms)).or_default();
        }
    }

    /// Expects an every-second job at `offset_ms` past each second to
    /// fire at each of its instants in the window.
    pub fn expect_every_second(&mut self, job: &str, offset_ms: i64) {
        let first = self.from_ms.div_euclid(1000) * 1000 + offset_ms.rem_euclid(1000);
        let mut at = if first < self.from_ms {
            first + 1000
        } else {
            first
        };
        while at < self.to_ms {
            self.expect(job, at);
            at += 1000;
        }
    }

    /// Counts one request at the sink. Requests of other jobs, or for
    /// instants outside the window, are not this ledger's.
    pub fn note(&mut self, d: &Delivery) {
        if !(self.from_ms..self.to_ms).contains(&d.scheduled_ms) || !self.jobs.contains(&d.job_id) {
            return;
        }
        let Some(slot) = self.slots.get_mut(&(d.job_id.clone(), d.scheduled_ms)) else {
            self.unexpected += 1;
            return;
        };
        slot.deliveries += 1;
        if d.accepted {
            slot.accepted += 1;
            if slot.accepted == 1 {
                self.delivered += 1;
                slot.lateness_ms = Some(d.lateness_ms());
            }
        }
    }

    /// Whether every expected occurrence has an effect at the sink.
    pub fn complete(&self) -> bool {
        self.delivered == self.slots.len()
    }

    /// What reached the sink, against what was expected.
    pub fn outcome(&self) -> Outcome {
        let mut o = Outcome {
            expected: self.slots.len(),
            delivered: self.delivered,
            unexpected: self.unexpected,
            ..Outcome::default()
        };
        let mut late = Vec::with_capacity(self.delivered);
        for (key, slot) in &self.slots {
            match (slot.deliveries, slot.accepted) {
                (0, _) => o.missing.push(key.clone()),
                (_, 0) => o.refused_only.push(key.clone()),
                (_, a) if a > 1 => o.accepted_twice += 1,
                _ => {}
            }
            o.duplicate_deliveries += u64::from(slot.deliveries.saturating_sub(1));
            late.extend(slot.lateness_ms);
        }
        o.missing.sort();
        o.refused_only.sort();
        o.lateness = Summary::of(late);
        o
    }
}

/// A ledger's verdict.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Occurrences expected in the window.
    pub expected: usize,
    /// Occurrences whose effect the sink kept.
    pub delivered: usize,
    /// Occurrences never delivered.
    pub missing: Vec<(String, i64)>,
    /// Occurrences delivered, but every delivery refused (stale token).
    pub refused_only: Vec<(String, i64)>,
    /// Requests beyond the first per occurrence (the sink refused them
    /// as duplicates, or kept a second: see `accepted_twice`).
    pub duplicate_deliveries: u64,
    /// Occurrences whose effect the sink kept twice (the sink's rule
    /// forbids it: a sink bug if ever non-zero).
    pub accepted_twice: usize,
    /// Requests of the window's jobs at instants not in their schedule.
    pub unexpected: u64,
    /// Lateness of the kept effects, ms.
    pub lateness: Summary,
}

impl Outcome {
    /// Exactly one kept effect per expected occurrence, each from a single
    /// delivery, and nothing else.
    pub fn exactly_once(&self) -> bool {
        self.missing.is_empty()
            && self.refused_only.is_empty()
            && self.accepted_twice == 0
            && self.duplicate_deliveries == 0
            && self.unexpected == 0
    }

    /// The counts as JSON fields, with the first few missing occurrences.
    pub fn fields(&self) -> Value {
        let sample = |v: &[(String, i64)]| -> Vec<String> {
            v.iter()
                .take(5)
                .map(|(j, at)| format!("{j}@{}", crate::time::rfc3339_ms(*at)))
                .collect()
        };
        json!({
            "expected": self.expected,
            "delivered": self.delivered,
            "missing": self.missing.len(),
            "refused_only": self.refused_only.len(),
            "duplicate_deliveries": self.duplicate_deliveries,
            "accepted_twice": self.accepted_twice,
            "unexpected": self.unexpected,
            "exactly_once": self.exactly_once(),
            "missing_sample": sample(&self.missing),
            "refused_only_sample": sample(&self.refused_only),
        })
    }

    /// Prints a loud notice on stderr when exactly-once does not hold, so
    /// a violation is seen even by someone reading figures only.
    pub fn shout(&self, what: &str) {
        if !self.exactly_once() {
            eprintln!(
                "\n!!! EXACTLY-ONCE VIOLATED in {what}: missing {}, refused-only {}, \
                 duplicate deliveries {}, accepted twice {}, unexpected {} \
                 (of {} expected) !!!\n",
                self.missing.len(),
                self.refused_only.len(),
                self.duplicate_deliveries,
                self.accepted_twice,
                self.unexpected,
                self.expected
            );
        }
    }
}

/// Most jobs whose runs `classify` looks up (one `ListRuns` each).
const CLASSIFY_JOBS: usize = 300;

/// What the cluster recorded for occurrences that never reached the sink
/// (`ListRuns` at `addr`), counted by state and reason: a skipped or
/// missed record with a reason is a policy at work, no record at all is a
/// lost occurrence.
pub async fn classify(addr: &str, missing: &[(String, i64)]) -> Value {
    let Ok(mut c) = crate::cluster::jobs_client(addr).await else {
        return json!({"error": format!("cannot reach {addr}")});
    };
    let mut by_job: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (job, at) in missing {
        by_job.entry(job).or_default().push(*at);
    }
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut looked = 0;
    for (job, ats) in by_job.iter().take(CLASSIFY_JOBS) {
        let (Some(first), Some(last)) = (ats.iter().min(), ats.iter().max()) else {
            continue;
        };
        let req = pb::ListRunsRequest {
            job_id: job.to_string(),
            since: Some(ts(*first)),
            until: Some(ts(last + 1)),
            limit: 1000,
            ..Default::default()
        };
        let runs = match c.list_runs(req).await {
            Ok(r) => r.into_inner().runs,
            Err(e) => {
                *reasons
                    .entry(format!("ListRuns failed: {}", e.code()))
                    .or_default() += ats.len() as u64;
                continue;
            }
        };
        for at in ats {
            looked += 1;
            let run = runs.iter().find(|r| {
                r.scheduled_at
                    .as_ref()
                    .is_some_and(|t| crate::time::ms(t) == *at)
            });
            let what = match run {
                None => "no run recorded".to_string(),
                Some(r) => {
                    let state =
                        pb::RunState::try_from(r.state).unwrap_or(pb::RunState::Unspecified);
                    format!("{}: {}", state.as_str_name(), r.reason)
                }
            };
            *reasons.entry(what).or_default() += 1;
        }
    }
    json!({"looked_up": looked, "of": missing.len(), "by_state_and_reason": reasons})
}
