//! `scheduler.v1.JobService`: writes go through the Raft log (forwarded to
//! the leader when needed); reads come from this node's applied state.

use std::pin::Pin;

use proto::v1 as pb;
use proto::v1::job_service_server::JobService;
use store::command::{Command, PauseTarget, Response as CmdResponse};
use store::model::OccKey;
use store::state::RunFilter;
use tokio_stream::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tonic::{Request, Response, Status};

use super::convert::{self, status_of};
use crate::node::{Node, now_ms};
use crate::write_batch::WriteBatcher;

/// Most jobs in one list page.
const MAX_PAGE: usize = 1000;
/// Default list page.
const DEFAULT_PAGE: usize = 100;
/// Default and most runs in one listing.
const MAX_RUNS: usize = 10_000;

/// Serves the job API on one node.
pub struct Jobs {
    node: Node,
    /// Client writes go through here, so concurrent ones share entries.
    writes: WriteBatcher,
}

impl Jobs {
    /// Serves `node`. Must run inside a tokio runtime (it starts the
    /// write batcher).
    pub fn new(node: Node) -> Self {
        let writes = WriteBatcher::start(node.clone());
        Jobs { node, writes }
    }

    fn job_reply(&self, r: CmdResponse) -> Result<Response<pb::Job>, Status> {
        match r {
            CmdResponse::Job(job) => Ok(Response::new(convert::job_to_pb(&job))),
            CmdResponse::Error(e) => Err(status_of(&e)),
            other => Err(Status::internal(format!("unexpected response {other:?}"))),
        }
    }

    fn new_id(&self) -> String {
        // Unique enough without a random source: node id, wall clock and a
        // per-process counter, hashed.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seed = format!("{}-{}-{n}", self.node.id, now_ms());
        format!("job-{:016x}", xxhash_rust::xxh3::xxh3_64(seed.as_bytes()))
    }
}

fn spec_of(job: Option<pb::JobSpec>) -> Result<pb::JobSpec, Status> {
    job.ok_or_else(|| Status::invalid_argument("job: is required"))
}

fn pause_target(req: pb::PauseRequest) -> Result<PauseTarget, Status> {
    match req.target {
        Some(pb::pause_request::Target::JobId(id)) => Ok(PauseTarget::Job(id)),
        Some(pb::pause_request::Target::Labels(sel)) if !sel.r#match.is_empty() => {
            Ok(PauseTarget::Labels(sel.r#match))
        }
        Some(pb::pause_request::Target::Labels(_)) => Err(Status::invalid_argument(
            "labels: give at least one key=value",
        )),
        Some(pb::pause_request::Target::Scheduler(true)) => Ok(PauseTarget::Scheduler),
        _ => Err(Status::invalid_argument(
            "target: give job_id, labels or scheduler=true",
        )),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl JobService for Jobs {
    async fn create_job(
        &self,
        req: Request<pb::CreateJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let req = req.into_inner();
        let mut spec = spec_of(req.job)?;
        if spec.id.is_empty() {
            spec.id = self.new_id();
        }
        let on_conflict = convert::on_conflict_from_pb(req.on_conflict)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let spec = convert::job_spec_from_pb(&spec)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        // Validate before proposing: bad input never reaches the log (G5).
        store::model::validate_spec(&spec).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let w = self
            .writes
            .write(Command::CreateJob {
                spec,
                on_conflict,
                now: now_ms(),
            })
            .await?;
        self.job_reply(w.response)
    }

    async fn get_job(&self, req: Request<pb::GetJobRequest>) -> Result<Response<pb::Job>, Status> {
        let id = req.into_inner().id;
        self.node
            .state
            .read(|s| s.job(&id).map(convert::job_to_pb))
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("job {id:?} not found")))
    }

    async fn list_jobs(
        &self,
        req: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let req = req.into_inner();
        let limit = match req.page_size as usize {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let after = (!req.page_token.is_empty()).then_some(req.page_token.as_str());
        let (jobs, more) = self.node.state.read(|s| {
            let page = s.jobs_page(&req.labels, after, limit + 1);
            let more = page.len() > limit;
            (
                page.into_iter()
                    .take(limit)
                    .map(convert::job_to_pb)
                    .collect::<Vec<_>>(),
                more,
            )
        });
        let next_page_token = if more {
            jobs.last()
                .and_then(|j| j.spec.as_ref())
                .map(|s| s.id.clone())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListJobsResponse {
            jobs,
            next_page_token,
        }))
    }

    async fn update_job(
        &self,
        req: Request<pb::UpdateJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let req = req.into_inner();
        let spec = convert::job_spec_from_pb(&spec_of(req.job)?)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        store::model::validate_spec(&spec).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let w = self
            .writes
            .write(Command::UpdateJob {
                spec,
                expected_version: req.expected_version,
                now: now_ms(),
            })
            .await?;
        self.job_reply(w.response)
    }

    async fn delete_job(
        &self,
        req: Request<pb::DeleteJobRequest>,
    ) -> Result<Response<pb::DeleteJobResponse>, Status> {
        let req = req.into_inner();
        let cmd = Command::DeleteJob {
            id: req.id.clone(),
            expected_version: req.expected_version,
            now: now_ms(),
        };
        match self.writes.write(cmd).await?.response {
            CmdResponse::Error(e) => Err(status_of(&e)),
            _ => Ok(Response::new(pb::DeleteJobResponse { id: req.id })),
        }
    }

    async fn pause_jobs(
        &self,
        req: Request<pb::PauseRequest>,
    ) -> Result<Response<pb::PauseResponse>, Status> {
        let target = pause_target(req.into_inner())?;
        set_paused(&self.node, target, true).await
    }

    async fn resume_jobs(
        &self,
        req: Request<pb::PauseRequest>,
    ) -> Result<Response<pb::PauseResponse>, Status> {
        let target = pause_target(req.into_inner())?;
        set_paused(&self.node, target, false).await
    }

    async fn run_job_now(
        &self,
        req: Request<pb::RunJobNowRequest>,
    ) -> Result<Response<pb::Run>, Status> {
        let id = req.into_inner().id;
        // The assignee of a manual run is this node for now; issue 5 moves
        // assignment to the leader's load-aware choice.
        let w = self
            .node
            .write(Command::RunNow {
                job_id: id.clone(),
                assignee: self.node.id,
                now: now_ms(),
            })
            .await?;
        match w.response {
            CmdResponse::Fired { keys, .. } => {
                let key: Option<OccKey> = keys.into_iter().next();
                let run = key.and_then(|k| {
                    self.node
                        .state
                        .read(|s| s.occurrence(&k).map(convert::run_to_pb))
                });
                run.map(Response::new)
                    .ok_or_else(|| Status::internal("run now created no occurrence"))
            }
            CmdResponse::Error(e) => Err(status_of(&e)),
            other => Err(Status::internal(format!("unexpected response {other:?}"))),
        }
    }

    async fn list_runs(
        &self,
        req: Request<pb::ListRunsRequest>,
    ) -> Result<Response<pb::ListRunsResponse>, Status> {
        let req = req.into_inner();
        let filter = RunFilter {
            job_id: (!req.job_id.is_empty()).then_some(req.job_id),
            since: req
                .since
                .as_ref()
                .map(|t| convert::ts_to_ms("since", t))
                .transpose()
                .map_err(|e| Status::invalid_argument(e.to_string()))?,
            until: req
                .until
                .as_ref()
                .map(|t| convert::ts_to_ms("until", t))
                .transpose()
                .map_err(|e| Status::invalid_argument(e.to_string()))?,
            state: convert::run_state_from_pb(req.state)
                .map_err(|e| Status::invalid_argument(e.to_string()))?,
            limit: match req.limit as usize {
                0 => MAX_RUNS,
                n => n.min(MAX_RUNS),
            },
        };
        let runs = self.node.state.read(|s| {
            s.runs(&filter)
                .into_iter()
                .map(convert::run_to_pb)
                .collect()
        });
        Ok(Response::new(pb::ListRunsResponse { runs }))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let job = req.into_inner().job_id;
        let all_jobs = job.is_empty();
        let rx = self.node.state.subscribe_events();
        // Leadership changes as this node sees them (node-local events,
        // log index 0), only for watchers of every job.
        let mut last_leader = self.node.raft.metrics().borrow().current_leader;
        let leaders = tokio_stream::wrappers::WatchStream::from_changes(self.node.raft.metrics())
            .filter_map(move |m| {
                let leader = m.current_leader;
                if !all_jobs || leader == last_leader {
                    return None;
                }
                last_leader = leader;
                Some(Ok(pb::Event {
                    kind: pb::EventKind::LeaderChanged as i32,
                    at: Some(convert::ms_to_ts(now_ms())),
                    node_id: leader.unwrap_or(0),
                    detail: match leader {
                        Some(id) => format!("node {id} leads (term {})", m.current_term),
                        None => format!("no leader known (term {})", m.current_term),
                    },
                    ..Default::default()
                }))
            });
        let stream = BroadcastStream::new(rx).filter_map(move |item| match item {
            Ok(e) if job.is_empty() || e.job_id == job => Some(Ok(super::events::event_to_pb(&e))),
            Ok(_) => None,
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                Some(Err(Status::data_loss(format!(
                    "watcher fell {n} events behind; reconnect and list runs to resync"
                ))))
            }
        });
        Ok(Response::new(Box::pin(stream.merge(leaders))))
    }
}

async fn set_paused(
    node: &Node,
    target: PauseTarget,
    paused: bool,
) -> Result<Response<pb::PauseResponse>, Status> {
    match node
        .write(Command::SetPaused {
            target,
            paused,
            now: now_ms(),
        })
        .await?
        .response
    {
        CmdResponse::Affected(n) => Ok(Response::new(pb::PauseResponse { affected: n })),
        CmdResponse::Error(e) => Err(status_of(&e)),
        other => Err(Status::internal(format!("unexpected response {other:?}"))),
    }
}
