//! `scheduler.internal.v1.NodeService`: due-time dispatch, write
//! forwarding and leadership transfer. Results travel as forwarded
//! `Report` writes; `ReportResults` answers UNIMPLEMENTED.

use proto::internal as ipb;
use proto::internal::node_service_server::NodeService;
use store::command::Command;
use tonic::{Request, Response, Status};

use crate::node::Node;

/// Serves the internal node API.
pub struct Internal {
    node: Node,
}

impl Internal {
    /// Serves `node`.
    pub fn new(node: Node) -> Self {
        Internal { node }
    }
}

#[tonic::async_trait]
impl NodeService for Internal {
    async fn dispatch(
        &self,
        req: Request<ipb::DispatchRequest>,
    ) -> Result<Response<ipb::DispatchResponse>, Status> {
        // Only timing travels here: the attempt itself is taken from this
        // node's applied state, never from the message.
        let req = req.into_inner();
        let mut accepted = Vec::with_capacity(req.assignments.len());
        for a in req.assignments {
            let due_in = a.due_in.map_or(std::time::Duration::ZERO, |d| {
                std::time::Duration::from_millis(
                    crate::api::convert::dur_to_ms("due_in", &d).unwrap_or(0),
                )
            });
            self.node.hints.put(a.fencing_token, due_in);
            accepted.push(a.fencing_token);
        }
        Ok(Response::new(ipb::DispatchResponse { accepted }))
    }

    async fn report_results(
        &self,
        _req: Request<ipb::ReportResultsRequest>,
    ) -> Result<Response<ipb::ReportResultsResponse>, Status> {
        Err(Status::unimplemented(
            "result reporting arrives with exactly-once firing (issue 5)",
        ))
    }

    async fn forward_write(
        &self,
        req: Request<ipb::ForwardWriteRequest>,
    ) -> Result<Response<ipb::ForwardWriteResponse>, Status> {
        let cmd: Command = postcard::from_bytes(&req.into_inner().command)
            .map_err(|e| Status::invalid_argument(format!("undecodable command: {e}")))?;
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
        tracing::info!(
            from = req.into_inner().from,
            "leader asked this node to take over: starting an election"
        );
        self.node
            .raft
            .trigger()
            .elect()
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(ipb::TransferLeadershipResponse {}))
    }
}
