//! Jobs, runs and events: validation, id generation, paging and the
//! write path, once for every transport.

use std::collections::BTreeMap;

use store::command::{Command, OnConflict, PauseTarget, Response as CmdResponse};
use store::model::{Capability, Job, JobSpec, JobState, OccKey, Occurrence, UnixMs};
use store::state::{Event, RunFilter};
use tokio::sync::broadcast;

use super::{ApiError, App, Caller};
use crate::node::now_ms;

pub use store::model::MAX_NEXT_FIRES;
use store::model::{
    DEFAULT_JOBS_PAGE as DEFAULT_PAGE, MAX_JOBS_PAGE as MAX_PAGE, MAX_RUNS_LISTED as MAX_RUNS,
};

/// One page of jobs.
pub struct JobsPage {
    /// In id order.
    pub jobs: Vec<Job>,
    /// Pass to get the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// A generated job id: unique without a random source (node id, wall
/// clock and a per-process counter, hashed).
fn new_id(node: u64) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = format!("{node}-{}-{n}", now_ms());
    format!("job-{:016x}", xxhash_rust::xxh3::xxh3_64(seed.as_bytes()))
}

fn job_of(r: CmdResponse) -> Result<Job, ApiError> {
    match r {
        CmdResponse::Job(job) => Ok(*job),
        CmdResponse::Error(e) => Err(e.into()),
        other => Err(ApiError::Internal(format!("unexpected response {other:?}"))),
    }
}

/// A shell job runs commands on the nodes: only a principal with the
/// `shell` (or `admin`) role may create or change one (docs/security.md,
/// "The rules": roles), beside the nodes' `--enable-shell-executor`
/// (docs/executors.md, "Shell").
fn check_shell_role(caller: &Caller, spec: &JobSpec) -> Result<(), ApiError> {
    if spec.executor.capability() == Capability::Shell
        && !caller.may(store::model::Permission::WriteShell)
    {
        return Err(ApiError::PermissionDenied(format!(
            "job.executor.shell: {} ({}) may not write shell jobs: that needs the shell or \
             admin role",
            caller.name,
            caller.role.map_or("no role", |r| r.as_str())
        )));
    }
    Ok(())
}

impl App {
    /// Refuses a job whose executor kind no member runs (a shell job on a
    /// cluster without `--enable-shell-executor`): every run would fail.
    /// Judged only once this node knows the membership and every member
    /// has registered its kinds; until then nobody can tell, and the job
    /// is accepted. (A follower that has not yet applied the membership
    /// sees no member at all: that is "cannot tell", not "nobody can".)
    fn check_runnable(&self, spec: &JobSpec) -> Result<(), ApiError> {
        let kind = spec.executor.capability();
        let members: Vec<u64> = self.node.membership().nodes().map(|(id, _)| *id).collect();
        let refuse = !members.is_empty()
            && self.node.state.read(|s| {
                let nodes = s.nodes();
                members.iter().all(|id| nodes.contains_key(id))
                    && !members
                        .iter()
                        .any(|id| nodes.get(id).is_some_and(|n| n.can_run(&spec.executor)))
            });
        if refuse {
            return Err(ApiError::invalid(
                format!("job.executor.{}", kind.as_str()),
                match kind {
                    Capability::Shell => "no member runs shell jobs; start nodes with \
                                          --enable-shell-executor to allow them"
                        .to_string(),
                    other => format!(
                        "no member runs {} jobs (see each node's log for why)",
                        other.as_str()
                    ),
                },
            ));
        }
        Ok(())
    }

    /// Registers a job; an empty id is generated (and names an unnamed
    /// job). Acknowledged once committed and applied here.
    pub async fn create_job(
        &self,
        caller: &Caller,
        mut spec: JobSpec,
        on_conflict: OnConflict,
    ) -> Result<Job, ApiError> {
        if spec.id.is_empty() {
            spec.id = new_id(self.node.id);
            if spec.name.is_empty() {
                spec.name = spec.id.clone();
            }
        }
        // Validate before proposing: bad input never reaches the log (G5).
        store::model::validate_spec(&spec)?;
        check_shell_role(caller, &spec)?;
        self.check_runnable(&spec)?;
        let w = self
            .writes
            .write(caller.by(Command::CreateJob {
                spec,
                on_conflict,
                now: now_ms(),
            }))
            .await?;
        job_of(w.response)
    }

    /// One job, from this node's applied state.
    pub fn get_job(&self, _caller: &Caller, id: &str) -> Result<Job, ApiError> {
        self.node
            .state
            .read(|s| s.job(id).cloned())
            .ok_or_else(|| ApiError::NotFound(format!("job {id:?} not found")))
    }

    /// A page of jobs whose labels contain `labels`, after `page_token`.
    pub fn list_jobs(
        &self,
        caller: &Caller,
        labels: &BTreeMap<String, String>,
        page_size: usize,
        page_token: Option<&str>,
    ) -> JobsPage {
        self.list_jobs_in(caller, labels, None, page_size, page_token)
    }

    /// [`Self::list_jobs`], only jobs in `state` when given.
    pub fn list_jobs_in(
        &self,
        _caller: &Caller,
        labels: &BTreeMap<String, String>,
        state: Option<JobState>,
        page_size: usize,
        page_token: Option<&str>,
    ) -> JobsPage {
        let limit = match page_size {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let (jobs, more) = self.node.state.read(|s| {
            let page = s.jobs_page_where(labels, page_token, limit + 1, |j| {
                state.is_none_or(|st| j.state == st)
            });
            let more = page.len() > limit;
            (
                page.into_iter().take(limit).cloned().collect::<Vec<_>>(),
                more,
            )
        });
        let next_page_token = more
            .then(|| jobs.last().map(|j| j.spec.id.clone()))
            .flatten();
        JobsPage {
            jobs,
            next_page_token,
        }
    }

    /// Replaces a job's spec when `expected_version` matches (0: any).
    pub async fn update_job(
        &self,
        caller: &Caller,
        spec: JobSpec,
        expected_version: u64,
    ) -> Result<Job, ApiError> {
        store::model::validate_spec(&spec)?;
        check_shell_role(caller, &spec)?;
        self.check_runnable(&spec)?;
        let w = self
            .writes
            .write(caller.by(Command::UpdateJob {
                spec,
                expected_version,
                now: now_ms(),
            }))
            .await?;
        job_of(w.response)
    }

    /// Deletes a job (its open occurrences are cancelled).
    pub async fn delete_job(
        &self,
        caller: &Caller,
        id: &str,
        expected_version: u64,
    ) -> Result<(), ApiError> {
        let cmd = Command::DeleteJob {
            id: id.to_string(),
            expected_version,
            now: now_ms(),
        };
        match self.writes.write(caller.by(cmd)).await?.response {
            CmdResponse::Error(e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Pauses (`paused`) or resumes jobs or the scheduler; how many changed.
    pub async fn set_paused(
        &self,
        caller: &Caller,
        target: PauseTarget,
        paused: bool,
    ) -> Result<u64, ApiError> {
        if let PauseTarget::Labels(sel) = &target
            && sel.is_empty()
        {
            return Err(ApiError::invalid("labels", "give at least one key=value"));
        }
        let w = self
            .node
            .write(caller.by(Command::SetPaused {
                target,
                paused,
                now: now_ms(),
            }))
            .await?;
        match w.response {
            CmdResponse::Affected(n) => Ok(n),
            CmdResponse::Error(e) => Err(e.into()),
            other => Err(ApiError::Internal(format!("unexpected response {other:?}"))),
        }
    }

    /// Creates an occurrence now, outside the schedule, and returns it.
    pub async fn run_now(&self, caller: &Caller, id: &str) -> Result<Occurrence, ApiError> {
        // The assignee of a manual run is this node; a worker job's attempt
        // moves to a node with a worker if this one has none.
        let w = self
            .node
            .write(caller.by(Command::RunNow {
                job_id: id.to_string(),
                assignee: self.node.id,
                now: now_ms(),
            }))
            .await?;
        match w.response {
            CmdResponse::Fired { keys, .. } => {
                let key: Option<OccKey> = keys.into_iter().next();
                key.and_then(|k| self.node.state.read(|s| s.occurrence(&k).cloned()))
                    .ok_or_else(|| ApiError::Internal("run now created no occurrence".into()))
            }
            CmdResponse::Error(e) => Err(e.into()),
            other => Err(ApiError::Internal(format!("unexpected response {other:?}"))),
        }
    }

    /// Creates the occurrences of `id`'s instants in `[from, to]`; the
    /// number created and the number that existed already.
    pub async fn backfill(
        &self,
        caller: &Caller,
        id: &str,
        from: store::model::UnixMs,
        to: store::model::UnixMs,
    ) -> Result<(u32, u32), ApiError> {
        let w = self
            .node
            .write(caller.by(Command::Backfill {
                job_id: id.to_string(),
                from,
                to,
                assignee: self.node.id,
                now: now_ms(),
            }))
            .await?;
        match w.response {
            CmdResponse::Backfilled { created, existing } => Ok((created, existing)),
            CmdResponse::Error(e) => Err(e.into()),
            other => Err(ApiError::Internal(format!("unexpected response {other:?}"))),
        }
    }

    /// Runs matching `filter` (its limit capped at [`MAX_RUNS`], 0 meaning
    /// the cap), in (scheduled_at, job id) order.
    pub fn list_runs(&self, _caller: &Caller, mut filter: RunFilter) -> Vec<Occurrence> {
        filter.limit = match filter.limit {
            0 => MAX_RUNS,
            n => n.min(MAX_RUNS),
        };
        self.node
            .state
            .read(|s| s.runs(&filter).into_iter().cloned().collect())
    }

    /// The newest `limit` runs of any job in one of `states`, scheduled at
    /// or after `since`, oldest first (one pass over the runs).
    pub fn runs_in_states(
        &self,
        _caller: &Caller,
        states: &[store::model::RunState],
        since: UnixMs,
        limit: usize,
    ) -> Vec<Occurrence> {
        self.node.state.read(|s| {
            s.runs_in_states(states, since, limit.min(MAX_RUNS))
                .into_iter()
                .cloned()
                .collect()
        })
    }

    /// The next `count` (at most [`MAX_NEXT_FIRES`]) fire instants of job
    /// `id`, before jitter, from its cursor on: what it will run if
    /// nothing changes. Empty for a paused, finished or dependent job.
    pub fn next_fire_times(
        &self,
        caller: &Caller,
        id: &str,
        count: usize,
    ) -> Result<Vec<UnixMs>, ApiError> {
        if count == 0 || count > MAX_NEXT_FIRES {
            return Err(ApiError::invalid(
                "count",
                format!("{count} is out of range 1-{MAX_NEXT_FIRES}"),
            ));
        }
        let job = self.get_job(caller, id)?;
        let Some(first) = job.next_fire_at.filter(|_| job.state == JobState::Active) else {
            return Ok(Vec::new());
        };
        let schedule = store::model::validate_spec(&job.spec)?;
        let seed = store::schedule::job_seed(id);
        let mut out = vec![first];
        out.extend(
            schedule
                .upcoming(store::model::time::to_datetime(first), seed)
                .take(count - 1)
                .map(|t| t.timestamp_millis()),
        );
        Ok(out)
    }

    /// The events applied on this node from now on.
    pub fn subscribe_events(&self, _caller: &Caller) -> broadcast::Receiver<std::sync::Arc<Event>> {
        self.node.state.subscribe_events()
    }
}
