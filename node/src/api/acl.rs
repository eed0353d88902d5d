//! `AclService`: a thin adapter over `app::acl`.

use proto::v1 as pb;
use proto::v1::acl_service_server::AclService;
use store::model::TokenRecord;
use tonic::{Request, Response, Status};

use super::caller;
use super::convert::ms_to_ts;
use crate::app::App;
use crate::app::acl::NewToken;

/// Serves the ACL API.
pub struct Acl {
    app: App,
}

impl Acl {
    /// Serves `app`.
    pub fn new(app: App) -> Self {
        Acl { app }
    }
}

fn info(t: &TokenRecord) -> pb::TokenInfo {
    pb::TokenInfo {
        name: t.name.clone(),
        role: t.role.as_str().to_string(),
        queues: t.queues.clone(),
        created_at: Some(ms_to_ts(t.created_at)),
        created_by: t.created_by.clone(),
    }
}

fn secret(t: NewToken) -> pb::TokenSecret {
    pb::TokenSecret {
        token: Some(info(&t.record)),
        secret: t.secret,
    }
}

#[tonic::async_trait]
impl AclService for Acl {
    async fn bootstrap(
        &self,
        req: Request<pb::AclBootstrapRequest>,
    ) -> Result<Response<pb::TokenSecret>, Status> {
        let who = caller(&req);
        let t = self.app.acl_bootstrap(&who, &req.into_inner().name).await?;
        Ok(Response::new(secret(t)))
    }

    async fn create_token(
        &self,
        req: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::TokenSecret>, Status> {
        let who = caller(&req);
        let r = req.into_inner();
        let t = self
            .app
            .create_token(&who, &r.name, &r.role, r.queues)
            .await?;
        Ok(Response::new(secret(t)))
    }

    async fn list_tokens(
        &self,
        req: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let tokens = self.app.list_tokens(&caller(&req));
        Ok(Response::new(pb::ListTokensResponse {
            tokens: tokens.iter().map(info).collect(),
        }))
    }

    async fn revoke_token(
        &self,
        req: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let who = caller(&req);
        self.app.revoke_token(&who, &req.into_inner().name).await?;
        Ok(Response::new(pb::RevokeTokenResponse {}))
    }

    async fn who_am_i(
        &self,
        req: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let who = caller(&req);
        Ok(Response::new(pb::WhoAmIResponse {
            name: who.name,
            role: who.role.map(|r| r.as_str().to_string()).unwrap_or_default(),
            enforced: who.enforced,
        }))
    }
}
