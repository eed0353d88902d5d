//! Attempts: reassignment, start and finish reports (refusing stale
//! fencing tokens), retries with backoff, buffered occurrences, and history
//! retention.

use crate::command::{Reassign, Report, ReportFate, Response};
use crate::model::{
    AttemptOutcome, AttemptState, MAX_OUTPUT_TAIL, NodeId, OccKey, RunState, UnixMs,
};

use super::fire::new_attempt;
use super::{Ctx, EventKind, State};

impl State {
    pub(super) fn reassign(&mut self, ctx: &mut Ctx, items: &[Reassign]) -> Response {
        let mut moved = 0;
        for item in items {
            let Some(occ) = self.occurrences.get(&item.key) else {
                continue;
            };
            let Some(current) = occ.current() else {
                continue;
            };
            if !occ.state.is_open() || current.token != item.token {
                continue; // the leader's view was stale: nothing to do
            }
            match current.state {
                AttemptState::Armed => {
                    let (number, due) = (current.number, current.due_at);
                    let Some(token) = ctx.next_token() else { break };
                    if let Some(occ) = self.occurrences.get_mut(&item.key)
                        && let Some(old) = occ.current_mut()
                    {
                        old.state = AttemptState::Superseded;
                        old.output_tail = truncate_tail(&format!("reassigned: {}", item.reason));
                        self.push_attempt(
                            &item.key,
                            new_attempt(number + 1, token, item.assignee, due),
                        );
                    }
                    let e = self.emit(
                        ctx,
                        EventKind::OccurrenceArmed,
                        &item.key.job_id,
                        Some(&item.key),
                    );
                    e.node_id = Some(item.assignee);
                    e.token = Some(token);
                    e.detail = format!("reassigned: {}", item.reason);
                    moved += 1;
                }
                AttemptState::Running => {
                    // It started, so it may still be running on a node that
                    // is cut off: count it as a failed attempt and let the
                    // retry policy decide. A retry carries a higher token.
                    let reason = format!("assignee lost while running: {}", item.reason);
                    let fate = self.finish_attempt(
                        ctx,
                        &item.key,
                        item.token,
                        ctx.now,
                        AttemptState::Failed,
                        None,
                        &reason,
                        Some(item.assignee),
                    );
                    if fate == ReportFate::Accepted {
                        moved += 1;
                    }
                }
                _ => {}
            }
        }
        Response::Affected(moved)
    }

    pub(super) fn report(&mut self, ctx: &mut Ctx, reports: &[Report]) -> Response {
        let fates = reports.iter().map(|r| self.report_one(ctx, r)).collect();
        Response::Reported(fates)
    }

    fn report_one(&mut self, ctx: &mut Ctx, r: &Report) -> ReportFate {
        match &r.outcome {
            AttemptOutcome::Started { at } => self.report_started(ctx, r, *at),
            AttemptOutcome::Finished {
                at,
                state,
                exit_code,
                output_tail,
            } => self.report_finished(ctx, r, *at, *state, *exit_code, output_tail),
            AttemptOutcome::Ran {
                started_at,
                at,
                state,
                exit_code,
                output_tail,
            } => {
                // Applied as the two reports it merges, in order, so the
                // attempt's start time and the events are theirs. The
                // start's own fate is not the report's: a start already
                // known, or an attempt moved on, is judged by the finish.
                let _ = self.report_started(ctx, r, *started_at);
                self.report_finished(ctx, r, *at, *state, *exit_code, output_tail)
            }
        }
    }

    /// The state of the attempt `r` reports on, and whether it is its
    /// occurrence's current attempt in an open occurrence; `Err(Stale)`
    /// when there is no such attempt of that node.
    fn reported_attempt(&self, r: &Report) -> Result<(AttemptState, bool), ReportFate> {
        let Some(occ) = self.occurrences.get(&r.key) else {
            return Err(ReportFate::Stale);
        };
        let Some(attempt) = occ.attempts.iter().find(|a| a.token == r.token) else {
            return Err(ReportFate::Stale);
        };
        if attempt.node_id != r.node_id {
            return Err(ReportFate::Stale);
        }
        let current = occ.current().is_some_and(|a| a.token == r.token) && occ.state.is_open();
        Ok((attempt.state, current))
    }

    fn report_started(&mut self, ctx: &mut Ctx, r: &Report, at: UnixMs) -> ReportFate {
        let (state, current) = match self.reported_attempt(r) {
            Ok(found) => found,
            Err(fate) => return fate,
        };
        match state {
            AttemptState::Armed if current => {
                if let Some(a) = self
                    .occurrences
                    .get_mut(&r.key)
                    .and_then(|o| o.current_mut())
                {
                    a.state = AttemptState::Running;
                    a.started_at = Some(at);
                }
                self.set_occ_state(&r.key, RunState::Running);
                let e = self.emit(
                    ctx,
                    EventKind::OccurrenceStarted,
                    &r.key.job_id,
                    Some(&r.key),
                );
                e.node_id = Some(r.node_id);
                e.token = Some(r.token);
                ReportFate::Accepted
            }
            AttemptState::Armed | AttemptState::Superseded => ReportFate::Stale,
            _ => ReportFate::Duplicate,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn report_finished(
        &mut self,
        ctx: &mut Ctx,
        r: &Report,
        at: UnixMs,
        state: AttemptState,
        exit_code: Option<i32>,
        output_tail: &str,
    ) -> ReportFate {
        let (was, current) = match self.reported_attempt(r) {
            Ok(found) => found,
            Err(fate) => return fate,
        };
        match was {
            AttemptState::Armed | AttemptState::Running if current => {
                let state = match state {
                    AttemptState::Succeeded | AttemptState::TimedOut => state,
                    _ => AttemptState::Failed,
                };
                self.finish_attempt(
                    ctx,
                    &r.key,
                    r.token,
                    at,
                    state,
                    exit_code,
                    output_tail,
                    None,
                )
            }
            AttemptState::Succeeded | AttemptState::Failed | AttemptState::TimedOut => {
                ReportFate::Duplicate
            }
            _ => ReportFate::Stale,
        }
    }

    /// Ends the current attempt of `key`, then retries it or settles the
    /// occurrence. `retry_on` overrides the node a retry goes to.
    #[allow(clippy::too_many_arguments)]
    fn finish_attempt(
        &mut self,
        ctx: &mut Ctx,
        key: &OccKey,
        token: u64,
        at: UnixMs,
        state: AttemptState,
        exit_code: Option<i32>,
        output_tail: &str,
        retry_on: Option<NodeId>,
    ) -> ReportFate {
        let Some(job) = self.jobs.get(&key.job_id) else {
            return ReportFate::Stale;
        };
        let retry = job.spec.policies.retry;
        let Some(occ) = self.occurrences.get_mut(key) else {
            return ReportFate::Stale;
        };
        let Some(attempt) = occ.current_mut() else {
            return ReportFate::Stale;
        };
        if attempt.token != token {
            return ReportFate::Stale;
        }
        attempt.state = state;
        attempt.started_at.get_or_insert(at);
        attempt.finished_at = Some(at);
        attempt.exit_code = exit_code;
        attempt.output_tail = truncate_tail(output_tail);
        let node = attempt.node_id;
        let failures = occ
            .attempts
            .iter()
            .filter(|a| matches!(a.state, AttemptState::Failed | AttemptState::TimedOut))
            .count() as u32;
        let number = occ.attempts.len() as u32;
        if state != AttemptState::Succeeded
            && failures <= retry.max_retries
            && let Some(next_token) = ctx.next_token()
        {
            let due = at
                .max(ctx.now)
                .saturating_add(retry.backoff_ms(failures) as i64);
            let assignee = retry_on.unwrap_or(node);
            self.push_attempt(key, new_attempt(number + 1, next_token, assignee, due));
            self.set_occ_state(key, RunState::Armed);
            let e = self.emit(ctx, EventKind::OccurrenceRetried, &key.job_id, Some(key));
            e.node_id = Some(assignee);
            e.token = Some(next_token);
            e.detail = format!("retry {failures} of {} after {state:?}", retry.max_retries);
            return ReportFate::Accepted;
        }
        let (run_state, kind) = match state {
            AttemptState::Succeeded => (RunState::Succeeded, EventKind::OccurrenceSucceeded),
            AttemptState::TimedOut => (RunState::TimedOut, EventKind::OccurrenceTimedOut),
            _ => (RunState::Failed, EventKind::OccurrenceFailed),
        };
        if state != AttemptState::Succeeded
            && let Some(occ) = self.occurrences.get_mut(key)
        {
            occ.reason = Some(match exit_code {
                Some(c) => format!("{state:?} with exit code {c}").to_lowercase(),
                None => truncate_tail(output_tail),
            });
        }
        self.set_occ_state(key, run_state);
        let e = self.emit(ctx, kind, &key.job_id, Some(key));
        e.node_id = Some(node);
        e.token = Some(token);
        e.detail = exit_code
            .map(|c| format!("exit code {c}"))
            .unwrap_or_default();
        self.count_outcome(
            ctx,
            &key.job_id,
            &key.id(),
            state != AttemptState::Succeeded,
        );
        self.fire_dependents(ctx, key, state == AttemptState::Succeeded, node);
        self.release_buffered(ctx, &key.job_id, retry_on.unwrap_or(node));
        self.enforce_retention(&key.job_id);
        ReportFate::Accepted
    }

    /// Once nothing of the job is in flight, its earliest buffered
    /// occurrence (buffer-one, or a queued `coalesce: all` backlog) gets its
    /// first attempt, due now, under a token issued now.
    pub(super) fn release_buffered(&mut self, ctx: &mut Ctx, job_id: &str, node: NodeId) {
        let open = self.open_of(job_id);
        let is_buffered = |k: &OccKey| self.occurrences.get(k).is_some_and(|o| o.buffered);
        if open.iter().any(|k| !is_buffered(k)) {
            return; // another occurrence is still in flight
        }
        // `open_of` is in key order: the earliest instant first.
        let Some(buffered) = open.iter().find(|k| is_buffered(k)).cloned() else {
            return;
        };
        let Some(token) = ctx.next_token() else {
            return;
        };
        if let Some(occ) = self.occurrences.get_mut(&buffered) {
            occ.buffered = false;
        }
        self.push_attempt(&buffered, new_attempt(1, token, node, ctx.now));
        let e = self.emit(ctx, EventKind::OccurrenceArmed, job_id, Some(&buffered));
        e.node_id = Some(node);
        e.token = Some(token);
        e.detail = "released from the buffer".into();
    }

    /// Keeps at most `retention` finished occurrences of a job, dropping the
    /// oldest. Open occurrences are never dropped.
    pub(super) fn enforce_retention(&mut self, job_id: &str) {
        // Count first, clone only the excess (usually one key): cloning
        // every finished key of a full history on each finish was most of
        // this function's cost at 8,000 fires/s.
        let finished = self
            .occurrences_of(job_id)
            .filter(|(_, o)| !o.state.is_open())
            .count();
        let excess = finished.saturating_sub(self.retention as usize);
        if excess == 0 {
            return;
        }
        let oldest: Vec<OccKey> = self
            .occurrences_of(job_id)
            .filter(|(_, o)| !o.state.is_open())
            .take(excess)
            .map(|(k, _)| k.clone())
            .collect();
        for key in oldest {
            self.remove_occurrence(&key);
        }
    }
}

/// The last [`MAX_OUTPUT_TAIL`] bytes of `s`, cut at a character boundary.
fn truncate_tail(s: &str) -> String {
    if s.len() <= MAX_OUTPUT_TAIL {
        return s.to_string();
    }
    let mut start = s.len() - MAX_OUTPUT_TAIL;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}
