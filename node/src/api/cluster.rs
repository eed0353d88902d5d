//! `scheduler.v1.ClusterService`: a thin gRPC adapter over the application
//! layer's status, join and leave (`app::cluster`).

use proto::v1 as pb;
use proto::v1::cluster_service_server::ClusterService;
use tonic::{Request, Response, Status};

use super::caller;
use crate::app::App;

/// Serves the cluster API on one node.
pub struct Cluster {
    app: App,
}

impl Cluster {
    /// Serves `app`.
    pub fn new(app: App) -> Self {
        Cluster { app }
    }
}

#[tonic::async_trait]
impl ClusterService for Cluster {
    async fn status(
        &self,
        req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        Ok(Response::new(self.app.cluster_status(&caller(&req)).await))
    }

    async fn add_member(
        &self,
        req: Request<pb::AddMemberRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let who = caller(&req);
        let req = req.into_inner();
        let status = self.app.add_member(&who, req.id, &req.addr).await?;
        Ok(Response::new(status))
    }

    async fn remove_member(
        &self,
        req: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let who = caller(&req);
        let status = self.app.remove_member(&who, req.into_inner().id).await?;
        Ok(Response::new(status))
    }
}
