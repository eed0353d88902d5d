//! The worker executor: the attempt runs as a function in a worker process
//! connected to this node (`crate::workers`). The node stays the attempt's
//! assignee (lease, barrier, durable start, reports); this only hands the
//! attempt to a worker and waits for its result.
//!
//! Endings, each a [`RunOutcome`]:
//! - the worker's result: succeeded, or failed with its error text;
//! - the job's timeout: a cancel goes to the worker, then `TimedOut`;
//! - the attempt stops being current (delete, replace): a cancel, then
//!   `Failed` "cancelled";
//! - the worker falls silent for its lease plus a margin (its stream broke
//!   or is cut off): `Failed` "worker lost", by which time the worker has
//!   cancelled the function itself, so a retry never overlaps it.

use std::future::Future;
use std::time::{Duration, Instant};

use proto::v1 as pb;
use store::model::{AttemptState, WorkerSpec};

use super::{RunContext, RunOutcome, tail};
use crate::workers::WorkerHub;

/// How often a waiting attempt checks whether its worker is lost.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Runs one attempt on a worker of `hub`.
pub async fn run(
    hub: &WorkerHub,
    spec: &WorkerSpec,
    ctx: &RunContext,
    cancel: impl Future<Output = ()>,
) -> RunOutcome {
    let mut claim = match hub.assign(spec, ctx) {
        Ok(c) => c,
        Err(why) => return RunOutcome::failed(why),
    };
    tokio::pin!(cancel);
    let deadline = ctx.timeout.map(|t| tokio::time::Instant::now() + t);
    let never = tokio::time::Instant::now() + Duration::from_secs(366 * 24 * 3600);
    // Why and when this node asked the worker to stop.
    let mut stopping: Option<(AttemptState, Instant)> = None;
    let grace = hub.timing.lease + hub.timing.margin;
    loop {
        tokio::select! {
            r = &mut claim.result => {
                return match r {
                    Ok(result) => outcome_of(result, stopping.map(|s| s.0)),
                    Err(_) => RunOutcome::failed("worker lost: its session ended"),
                };
            }
            _ = &mut cancel, if stopping.is_none() => {
                hub.cancel(ctx.fencing_token, "cancelled");
                stopping = Some((AttemptState::Failed, Instant::now()));
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or(never)), if deadline.is_some() && stopping.is_none() => {
                hub.cancel(ctx.fencing_token, "timeout");
                stopping = Some((AttemptState::TimedOut, Instant::now()));
            }
            _ = tokio::time::sleep(CHECK_EVERY) => {
                if let Some(why) = hub.lost(ctx.fencing_token) {
                    return RunOutcome::failed(why);
                }
                // Asked to stop and silent about it for a whole lease: the
                // worker has fenced itself by now (or is paused past its
                // lease, G2's exception, and its late result is stale).
                if let Some((state, since)) = stopping && since.elapsed() > grace {
                    return stopped(state, "no result from the worker after the cancel");
                }
            }
        }
    }
}

/// The outcome of a cancel that the worker confirmed or never answered.
fn stopped(state: AttemptState, detail: &str) -> RunOutcome {
    if state == AttemptState::TimedOut {
        RunOutcome {
            state: AttemptState::TimedOut,
            exit_code: None,
            output_tail: format!("timed out; {detail}"),
        }
    } else {
        RunOutcome::cancelled()
    }
}

fn outcome_of(r: pb::WorkerResult, stopping: Option<AttemptState>) -> RunOutcome {
    let output = tail::trim_front(r.output, store::model::MAX_OUTPUT_TAIL);
    match pb::WorkerOutcome::try_from(r.outcome) {
        Ok(pb::WorkerOutcome::Succeeded) => RunOutcome {
            state: AttemptState::Succeeded,
            exit_code: None,
            output_tail: output,
        },
        Ok(pb::WorkerOutcome::Cancelled) => stopped(
            stopping.unwrap_or(AttemptState::Failed),
            "the function stopped",
        ),
        Ok(pb::WorkerOutcome::Failed) => RunOutcome {
            state: AttemptState::Failed,
            exit_code: None,
            output_tail: output,
        },
        _ => RunOutcome::failed(format!(
            "worker sent an unknown outcome {}; output: {output}",
            r.outcome
        )),
    }
}
