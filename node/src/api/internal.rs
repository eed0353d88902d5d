//! `scheduler.internal.v1.NodeService`: due-time dispatch, attempt
//! reports, write forwarding and leadership transfer.

use openraft::ServerState;
use proto::internal as ipb;
use proto::internal::node_service_server::NodeService;
use store::command::{Command, Report};
use tonic::{Request, Response, Status};

use crate::firing::reporter::{MAX_BATCH, Reporter};
use crate::node::{Node, now_ms};
use crate::workers::{CapacityTable, WorkerHub};

/// How long after the old leader's lease the hand-over's target
/// campaigns: clock rates and the request's transit.
const HAND_OVER_MARGIN: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether a follower may forward `cmd`: what clients ask for (job writes,
/// pause, run now, batches of those), a node registering itself, and an
/// attempt's report (a worker's result that reached another node). Never
/// what only the leader decides: firing, reassignment, unserved worker
/// jobs, retention, membership bookkeeping.
pub fn forwardable(cmd: &Command) -> bool {
    match cmd {
        Command::CreateJob { .. }
        | Command::UpdateJob { .. }
        | Command::DeleteJob { .. }
        | Command::SetPaused { .. }
        | Command::RunNow { .. }
        | Command::SetNode { .. }
        | Command::Report { .. }
        | Command::Backfill { .. }
        | Command::AclBootstrap { .. }
        | Command::CreateToken { .. }
        | Command::RevokeToken { .. }
        | Command::PutCalendar { .. }
        | Command::DeleteCalendar { .. } => true,
        Command::Batch(cmds) => cmds
            .iter()
            .all(|c| !matches!(c, Command::Batch(_)) && forwardable(c)),
        Command::By { cmd, .. } => !matches!(**cmd, Command::Batch(_)) && forwardable(cmd),
        Command::Noop
        | Command::Fire { .. }
        | Command::Reassign { .. }
        | Command::Unserved { .. }
        | Command::RemoveNode { .. }
        | Command::SetRetention { .. } => false,
    }
}

/// Serves the internal node API.
pub struct Internal {
    node: Node,
    reporter: Reporter,
    workers: WorkerHub,
    capacity: CapacityTable,
    admission: crate::raft::service::Admission,
}

impl Internal {
    /// Serves `node`; reports received as leader go to `reporter`;
    /// `workers` are this node's worker sessions.
    pub fn new(
        node: Node,
        reporter: Reporter,
        workers: WorkerHub,
        capacity: CapacityTable,
        admission: crate::raft::service::Admission,
    ) -> Self {
        Internal {
            node,
            reporter,
            workers,
            capacity,
            admission,
        }
    }
}

#[tonic::async_trait]
impl NodeService for Internal {
    async fn admit(
        &self,
        req: Request<ipb::AdmitRequest>,
    ) -> Result<Response<ipb::AdmitResponse>, Status> {
        let id = req.into_inner().node_id;
        if id != self.node.id {
            return Err(Status::invalid_argument(format!(
                "node_id: this is node {}, not node {id}",
                self.node.id
            )));
        }
        if !self.admission.is_open() {
            tracing::info!("added to the cluster by its leader: answering Raft from now on");
        }
        self.admission.open();
        Ok(Response::new(ipb::AdmitResponse {}))
    }

    async fn dispatch(
        &self,
        req: Request<ipb::DispatchRequest>,
    ) -> Result<Response<ipb::DispatchResponse>, Status> {
        // Only timing travels here: the attempt itself is taken from this
        // node's applied state, never from the message.
        let req = req.into_inner();
        let mut accepted = Vec::with_capacity(req.assignments.len());
        for (i, a) in req.assignments.into_iter().enumerate() {
            // A malformed (negative) duration means "due now".
            let due_in = a
                .due_in
                .and_then(|d| std::time::Duration::try_from(d).ok())
                .unwrap_or(std::time::Duration::ZERO);
            self.node
                .hints
                .put(a.fencing_token, due_in)
                .map_err(|e| Status::invalid_argument(format!("assignments[{i}].due_in: {e}")))?;
            accepted.push(a.fencing_token);
        }
        Ok(Response::new(ipb::DispatchResponse { accepted }))
    }

    async fn report_results(
        &self,
        req: Request<ipb::ReportResultsRequest>,
    ) -> Result<Response<ipb::ReportResultsResponse>, Status> {
        if self.node.raft.metrics().borrow().state != ServerState::Leader {
            return Err(self
                .node
                .unavailable("not the leader; report to the leader")
                .into());
        }
        let req = req.into_inner();
        if req.reports.len() > MAX_BATCH {
            return Err(Status::invalid_argument(format!(
                "reports: {} reports in one call; at most {MAX_BATCH}",
                req.reports.len()
            )));
        }
        let mut reports: Vec<Report> = Vec::with_capacity(req.reports.len());
        for (i, r) in req.reports.iter().enumerate() {
            let report: Report = postcard::from_bytes(&r.report).map_err(|e| {
                Status::invalid_argument(format!("reports[{i}].report: undecodable: {e}"))
            })?;
            if report.node_id != req.node_id {
                return Err(Status::invalid_argument(format!(
                    "reports[{i}]: from node {} in a call of node {}",
                    report.node_id, req.node_id
                )));
            }
            reports.push(report);
        }
        let tokens: Vec<u64> = reports.iter().map(|r| r.token).collect();
        // Merged with every other node's reports of this window into one entry.
        let Some(log_index) = self.reporter.send_all(reports).await else {
            return Err(self
                .node
                .unavailable("the report batch was not committed; re-send")
                .into());
        };
        Ok(Response::new(ipb::ReportResultsResponse {
            committed: tokens,
            log_index,
        }))
    }

    async fn forward_write(
        &self,
        req: Request<ipb::ForwardWriteRequest>,
    ) -> Result<Response<ipb::ForwardWriteResponse>, Status> {
        let mut cmd: Command = postcard::from_bytes(&req.into_inner().command)
            .map_err(|e| Status::invalid_argument(format!("undecodable command: {e}")))?;
        if !forwardable(&cmd) {
            return Err(Status::permission_denied(format!(
                "command: {} is proposed by the leader itself, never forwarded",
                cmd.name()
            )));
        }
        // The log's `now` is the leader's clock, not the forwarder's.
        cmd.restamp(now_ms());
        let written = self.node.write_as_leader(cmd).await?;
        let response = postcard::to_allocvec(&written.response)
            .map_err(|e| Status::internal(format!("encode response: {e}")))?;
        Ok(Response::new(ipb::ForwardWriteResponse {
            response,
            log_index: written.index,
        }))
    }

    async fn transfer_leadership(
        &self,
        req: Request<ipb::TransferLeadershipRequest>,
    ) -> Result<Response<ipb::TransferLeadershipResponse>, Status> {
        // The old leader has stopped before asking (`server::handover`),
        // but every voter refuses votes until its lease of that leader runs
        // out (openraft: `election_timeout_max` since it last heard it, at
        // or before this request came). Campaign just after that, in the
        // background: the old leader is on its way out and does not wait.
        let wait = std::time::Duration::from_millis(self.node.raft.config().election_timeout_max)
            + HAND_OVER_MARGIN;
        let from = req.into_inner().from;
        tracing::info!(
            from,
            after_ms = wait.as_millis() as u64,
            "leader stopped and asked this node to take over: campaigning once its lease has run out"
        );
        let raft = self.node.raft.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if raft
                .metrics()
                .borrow()
                .current_leader
                .is_some_and(|l| l != from)
            {
                return; // another election was faster
            }
            if let Err(e) = raft.trigger().elect().await {
                tracing::warn!(error = %e, "hand-over election not started");
            }
        });
        Ok(Response::new(ipb::TransferLeadershipResponse {}))
    }

    async fn worker_capacity(
        &self,
        req: Request<ipb::WorkerCapacityRequest>,
    ) -> Result<Response<ipb::WorkerCapacityResponse>, Status> {
        let req = req.into_inner();
        if self.node.membership().get_node(&req.node_id).is_none() {
            return Err(Status::invalid_argument(format!(
                "node_id: {} is not a member",
                req.node_id
            )));
        }
        // Kept by every receiver; only a leader's copy is used.
        self.capacity.put(req.node_id, req.capacity);
        Ok(Response::new(ipb::WorkerCapacityResponse {}))
    }

    async fn local_workers(
        &self,
        _req: Request<proto::v1::ListWorkersRequest>,
    ) -> Result<Response<proto::v1::ListWorkersResponse>, Status> {
        Ok(Response::new(proto::v1::ListWorkersResponse {
            workers: self.workers.list(),
            unreachable: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_client_writes_node_registration_and_reports_are_forwarded() {
        let fire = Command::Fire {
            now: 0,
            advances: Vec::new(),
        };
        assert!(!forwardable(&fire));
        assert!(!forwardable(&Command::Reassign {
            now: 0,
            items: Vec::new()
        }));
        assert!(!forwardable(&Command::SetRetention { per_job: 1 }));
        assert!(!forwardable(&Command::Unserved {
            now: 0,
            job_ids: Vec::new()
        }));
        assert!(!forwardable(&Command::Batch(vec![fire.clone()])));
        let pause = Command::SetPaused {
            target: store::command::PauseTarget::Scheduler,
            paused: true,
            now: 0,
        };
        assert!(forwardable(&pause));
        assert!(forwardable(&Command::Batch(vec![pause.clone()])));
        assert!(!forwardable(&Command::Batch(vec![pause, fire])));
    }
}
