//! Commands of the Raft log and their responses.
//!
//! Every command carries the `now` that the proposing leader read, so that
//! applying it never reads a clock: all replicas compute the same state.
//! Applying is idempotent per key: an occurrence that already exists is never
//! created twice, whoever proposes it and however often.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{
    AttemptOutcome, Job, JobSpec, NodeId, OccKey, TokenRecord, UnixMs, ValidationError,
};

/// What to do when a created job's id exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnConflict {
    /// Fail with "already exists".
    #[default]
    Fail,
    /// Replace the existing job's spec (a new version).
    Replace,
    /// Keep the existing job and return it unchanged.
    Keep,
}

/// Which jobs a pause or resume applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PauseTarget {
    /// One job.
    Job(String),
    /// Every job whose labels contain all of these.
    Labels(BTreeMap<String, String>),
    /// The whole scheduler.
    Scheduler,
}

/// "Turn job `job_id`'s due instants up to `through` into occurrences."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advance {
    /// The job.
    pub job_id: String,
    /// Create occurrences for scheduled instants `<= through` (the leader's
    /// now plus its lookahead).
    pub through: UnixMs,
    /// The node that runs the attempts created.
    pub assignee: NodeId,
    /// The leader held these instants for the results of runs in flight
    /// (not for a failover): judge them as on time, on the schedule's
    /// timeline, however late the entry is, never as a backlog to queue.
    pub on_time: bool,
}

/// "Move the current attempt of `key` to `assignee` with a new token."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reassign {
    /// The occurrence.
    pub key: OccKey,
    /// The token the leader saw as current; a mismatch makes this a no-op.
    pub token: u64,
    /// The new assignee.
    pub assignee: NodeId,
    /// Why (recorded on the old attempt).
    pub reason: String,
}

/// A start or a result of one attempt, reported by its assignee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The occurrence.
    pub key: OccKey,
    /// The attempt's token; a stale one is refused.
    pub token: u64,
    /// The reporting node.
    pub node_id: NodeId,
    /// Started or finished.
    pub outcome: AttemptOutcome,
}

/// A node's properties that the leader needs for assignment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Advertised gRPC address.
    pub addr: String,
    /// Labels matched by job node selectors.
    pub labels: BTreeMap<String, String>,
    /// The executor kinds it runs.
    pub capabilities: std::collections::BTreeSet<crate::model::Capability>,
}

impl NodeInfo {
    /// Whether this node can run `executor`'s kind.
    pub fn can_run(&self, executor: &crate::model::ExecutorSpec) -> bool {
        self.capabilities.contains(&executor.capability())
    }
}

/// One entry's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Does nothing (tests, leader barriers).
    Noop,
    /// Register a job.
    CreateJob {
        spec: JobSpec,
        on_conflict: OnConflict,
        now: UnixMs,
    },
    /// Replace a job's spec if its version matches (`expected_version` 0 skips the check).
    UpdateJob {
        spec: JobSpec,
        expected_version: u64,
        now: UnixMs,
    },
    /// Delete a job; its open occurrences are cancelled.
    DeleteJob {
        id: String,
        expected_version: u64,
        now: UnixMs,
    },
    /// Pause (`paused`) or resume jobs or the scheduler.
    SetPaused {
        target: PauseTarget,
        paused: bool,
        now: UnixMs,
    },
    /// Fire a batch: advance many jobs in one entry.
    Fire { now: UnixMs, advances: Vec<Advance> },
    /// Create an occurrence at `now`, outside the schedule.
    RunNow {
        job_id: String,
        assignee: NodeId,
        now: UnixMs,
    },
    /// Reassign attempts whose assignee's lease ran out.
    Reassign { now: UnixMs, items: Vec<Reassign> },
    /// Starts and results of attempts, batched.
    Report { now: UnixMs, reports: Vec<Report> },
    /// Register or update a node's assignment properties.
    SetNode { id: NodeId, info: NodeInfo },
    /// Forget a node (after it left the membership).
    RemoveNode { id: NodeId },
    /// Set how many finished occurrences are kept per job.
    SetRetention { per_job: u32 },
    /// Make the first admin token; refused once any bootstrap happened.
    AclBootstrap { token: TokenRecord },
    /// Add a token; refused if its name is taken.
    CreateToken { token: TokenRecord },
    /// Remove a token by name.
    RevokeToken { name: String },
    /// `cmd`, asked for by `principal`: jobs record who created and last
    /// changed them, and events who caused them (audit).
    By {
        principal: String,
        cmd: Box<Command>,
    },
    /// No node has a worker for these worker jobs: their instants already
    /// past the misfire grace at `now` are recorded as missed, with the
    /// reason "no worker for queue Q (function F)". Instants still within
    /// the grace are left to wait for a worker (a job without a grace
    /// waits for one indefinitely).
    Unserved { now: UnixMs, job_ids: Vec<String> },
    /// Create the occurrences of `job_id`'s instants in `[from, to]` (a
    /// past range), in order, under its policies: what may not run at once
    /// waits in the job's queue. Idempotent per occurrence; at most
    /// `MAX_BACKFILL` instants.
    Backfill {
        job_id: String,
        from: UnixMs,
        to: UnixMs,
        assignee: NodeId,
        now: UnixMs,
    },
    /// Several client commands in one entry, applied in order, as if each
    /// had an entry of its own (but sharing this entry's fencing tokens).
    /// Concurrent client writes are grouped so that one flush on a majority
    /// acknowledges many of them. A batch never contains a batch.
    Batch(Vec<Command>),
    /// Create or replace an exclusion calendar. `expected_version` 0
    /// skips the version check; `create_only` refuses an existing name.
    /// The jobs that name it move their cursors to the new days.
    PutCalendar {
        spec: crate::model::CalendarSpec,
        expected_version: u64,
        create_only: bool,
        now: UnixMs,
    },
    /// Delete a calendar; refused while a job names it.
    DeleteCalendar { name: String },
}

impl Command {
    /// The command's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Noop => "Noop",
            Command::CreateJob { .. } => "CreateJob",
            Command::UpdateJob { .. } => "UpdateJob",
            Command::DeleteJob { .. } => "DeleteJob",
            Command::SetPaused { .. } => "SetPaused",
            Command::Fire { .. } => "Fire",
            Command::RunNow { .. } => "RunNow",
            Command::Reassign { .. } => "Reassign",
            Command::Report { .. } => "Report",
            Command::SetNode { .. } => "SetNode",
            Command::RemoveNode { .. } => "RemoveNode",
            Command::SetRetention { .. } => "SetRetention",
            Command::AclBootstrap { .. } => "AclBootstrap",
            Command::CreateToken { .. } => "CreateToken",
            Command::RevokeToken { .. } => "RevokeToken",
            Command::By { cmd, .. } => cmd.name(),
            Command::Unserved { .. } => "Unserved",
            Command::Backfill { .. } => "Backfill",
            Command::Batch(_) => "Batch",
            Command::PutCalendar { .. } => "PutCalendar",
            Command::DeleteCalendar { .. } => "DeleteCalendar",
        }
    }

    /// Sets every `now` this command carries (inside a batch too) to
    /// `now`. A leader calls it on a write that a follower forwarded: the
    /// follower read its own wall clock, which may be off, while the log's
    /// `now` must be the proposing leader's (a job resumed through a
    /// follower whose clock is 5 s ahead would otherwise skip 5 s of its
    /// instants).
    pub fn restamp(&mut self, at: UnixMs) {
        match self {
            Command::CreateJob { now, .. }
            | Command::UpdateJob { now, .. }
            | Command::DeleteJob { now, .. }
            | Command::SetPaused { now, .. }
            | Command::Fire { now, .. }
            | Command::RunNow { now, .. }
            | Command::Reassign { now, .. }
            | Command::Report { now, .. }
            | Command::Unserved { now, .. }
            | Command::Backfill { now, .. }
            | Command::PutCalendar { now, .. } => *now = at,
            Command::Batch(cmds) => cmds.iter_mut().for_each(|c| c.restamp(at)),
            Command::By { cmd, .. } => cmd.restamp(at),
            Command::Noop
            | Command::SetNode { .. }
            | Command::RemoveNode { .. }
            | Command::SetRetention { .. }
            | Command::AclBootstrap { .. }
            | Command::CreateToken { .. }
            | Command::RevokeToken { .. }
            | Command::DeleteCalendar { .. } => {}
        }
    }
}

/// Why a command changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CommandError {
    /// The spec is invalid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No such job.
    #[error("job {0:?} not found")]
    NotFound(String),
    /// A job with this id exists.
    #[error("job {0:?} already exists")]
    AlreadyExists(String),
    /// Optimistic concurrency check failed.
    #[error("job {id:?} is at version {actual}, not the expected {expected}")]
    VersionConflict {
        id: String,
        expected: u64,
        actual: u64,
    },
    /// A batch inside a batch (never proposed by a node).
    #[error("a batch may not contain a batch")]
    NestedBatch,
    /// The ACL was bootstrapped already.
    #[error("the ACL was bootstrapped already; ask an admin for a token")]
    AclBootstrapped,
    /// A token with this name exists.
    #[error("token {0:?} already exists")]
    TokenExists(String),
    /// No token with this name.
    #[error("token {0:?} not found")]
    TokenNotFound(String),
    /// The cluster keeps at most this many tokens.
    #[error("the cluster keeps at most {0} tokens; revoke one first")]
    TooManyTokens(usize),
    /// No calendar with this name.
    #[error("calendar {0:?} not found")]
    CalendarNotFound(String),
    /// A calendar with this name exists.
    #[error("calendar {0:?} already exists")]
    CalendarExists(String),
    /// A calendar's version check failed.
    #[error("calendar {name:?} is at version {actual}, not the expected {expected}")]
    CalendarVersionConflict {
        name: String,
        expected: u64,
        actual: u64,
    },
    /// Jobs still name the calendar.
    #[error("calendar {name:?} is used by jobs {jobs}: remove it from them first")]
    CalendarInUse { name: String, jobs: String },
    /// The cluster keeps at most this many calendars.
    #[error("the cluster keeps at most {0} calendars; delete one first")]
    TooManyCalendars(usize),
}

/// The fate of one report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportFate {
    /// Recorded.
    Accepted,
    /// Already recorded (a resend): nothing changed.
    Duplicate,
    /// Refused: the token is not the occurrence's current one, or the
    /// occurrence is gone.
    Stale,
}

/// What applying a command returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Done; nothing to return.
    #[default]
    Ok,
    /// The job after the change.
    Job(Box<Job>),
    /// The calendar after the change.
    Calendar(Box<crate::model::Calendar>),
    /// How many jobs changed state.
    Affected(u64),
    /// Occurrences created by a fire or run-now: how many were armed, and
    /// how many recorded as missed or skipped.
    Fired {
        armed: u32,
        missed: u32,
        skipped: u32,
        keys: Vec<OccKey>,
    },
    /// One fate per report, in order.
    Reported(Vec<ReportFate>),
    /// The command changed nothing.
    Error(CommandError),
    /// One response per command of a batch, in order.
    Batch(Vec<Response>),
    /// A backfill: occurrences created, and instants that had one already.
    Backfilled { created: u32, existing: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restamp_sets_every_now_inside_batches_too() {
        let mut cmd = Command::Batch(vec![
            Command::SetPaused {
                target: PauseTarget::Scheduler,
                paused: false,
                now: 5_000,
            },
            Command::RunNow {
                job_id: "a".into(),
                assignee: 1,
                now: 5_000,
            },
            Command::DeleteJob {
                id: "a".into(),
                expected_version: 0,
                now: 5_000,
            },
            Command::SetRetention { per_job: 3 },
        ]);
        cmd.restamp(1_000);
        let Command::Batch(cmds) = &cmd else {
            panic!("still a batch");
        };
        assert!(matches!(cmds[0], Command::SetPaused { now: 1_000, .. }));
        assert!(matches!(cmds[1], Command::RunNow { now: 1_000, .. }));
        assert!(matches!(cmds[2], Command::DeleteJob { now: 1_000, .. }));
        assert_eq!(cmds[3], Command::SetRetention { per_job: 3 });
    }
}
