//! Connecting to the cluster: try each `--cluster` address in turn, and
//! follow a follower's leader hint (`x-leader-addr`) on UNAVAILABLE.

use std::time::Duration;

use anyhow::{Context, anyhow};
use proto::v1::acl_service_client::AclServiceClient;
use proto::v1::calendar_service_client::CalendarServiceClient;
use proto::v1::cluster_service_client::ClusterServiceClient;
use proto::v1::job_service_client::JobServiceClient;
use proto::v1::worker_service_client::WorkerServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// A channel whose calls carry the `--token` (if any).
pub type Ch = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to every call. `Debug` never shows
/// the token.
#[derive(Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Bearer(<redacted>)"
        } else {
            "Bearer(none)"
        })
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// How long to wait for a TCP/HTTP2 connection to one address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(150);

/// The addresses given with `--cluster`.
#[derive(Clone, Debug)]
pub struct Cluster {
    addrs: Vec<String>,
    bearer: Bearer,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Cluster {
    /// Parses `ADDR[,ADDR...]`.
    pub fn parse(s: &str) -> anyhow::Result<Cluster> {
        let addrs: Vec<String> = s
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect();
        if addrs.is_empty() {
            return Err(anyhow!("--cluster: give at least one HOST:PORT"));
        }
        Ok(Cluster {
            addrs,
            bearer: Bearer::default(),
            tls: None,
        })
    }

    /// The same addresses, calling with `token` (`--token`,
    /// `$CLUSTERCTL_TOKEN`).
    pub fn with_token(mut self, token: Option<&str>) -> anyhow::Result<Cluster> {
        self.bearer = match token.map(str::trim).filter(|t| !t.is_empty()) {
            None => Bearer(None),
            Some(t) => Bearer(Some(format!("Bearer {t}").parse().map_err(|_| {
                anyhow!("--token: a token is printable ASCII (sdt_ and 64 hex digits)")
            })?)),
        };
        Ok(self)
    }

    fn wrap(&self, ch: Channel) -> Ch {
        InterceptedService::new(ch, self.bearer.clone())
    }

    async fn channel_to(&self, addr: &str) -> anyhow::Result<Channel> {
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .with_context(|| format!("--cluster: {addr:?} is not a valid HOST:PORT"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        match &self.tls {
            Some(config) => {
                endpoint
                    .connect_with_connector(node::tls::TlsConnector::new(config.clone()))
                    .await
            }
            None => endpoint.connect().await,
        }
        .with_context(|| format!("cannot connect to {addr}"))
    }

    /// The same addresses, over TLS that trusts `ca` (`--tls-ca`), with a
    /// client certificate when `cert` is given (`--tls-cert`, `--tls-key`).
    pub fn with_tls(
        mut self,
        ca: Option<&std::path::Path>,
        cert: Option<(&std::path::Path, &std::path::Path)>,
    ) -> anyhow::Result<Cluster> {
        self.tls = match ca {
            None => {
                anyhow::ensure!(cert.is_none(), "--tls-cert needs --tls-ca");
                None
            }
            Some(ca) => {
                Some(node::tls::client_config_from_files(ca, cert).context("--tls-ca/--tls-cert")?)
            }
        };
        Ok(self)
    }

    /// A channel to the first address that answers.
    pub async fn channel(&self) -> anyhow::Result<Ch> {
        let mut errors = Vec::new();
        for addr in &self.addrs {
            match self.channel_to(addr).await {
                Ok(ch) => return Ok(self.wrap(ch)),
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        Err(anyhow!(
            "no cluster member reachable: {}",
            errors.join("; ")
        ))
    }

    /// Runs `call` against a member; on UNAVAILABLE with a leader hint, runs
    /// it once more against the hinted leader.
    pub async fn with_jobs<T, F, Fut>(&self, call: F) -> anyhow::Result<T>
    where
        F: Fn(JobServiceClient<Ch>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        let ch = self.channel().await?;
        match call(JobServiceClient::new(ch)).await {
            Ok(v) => Ok(v),
            Err(s) => match leader_hint(&s) {
                Some(addr) => {
                    let ch = self.wrap(self.channel_to(&addr).await?);
                    call(JobServiceClient::new(ch)).await.map_err(status_error)
                }
                None => Err(status_error(s)),
            },
        }
    }

    /// Like [`Cluster::with_jobs`], for the worker service.
    pub async fn with_workers<T, F, Fut>(&self, call: F) -> anyhow::Result<T>
    where
        F: Fn(WorkerServiceClient<Ch>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        let ch = self.channel().await?;
        call(WorkerServiceClient::new(ch))
            .await
            .map_err(status_error)
    }

    /// Like [`Cluster::with_jobs`], for the ACL service (writes follow a
    /// leader hint the same way).
    pub async fn with_acl<T, F, Fut>(&self, call: F) -> anyhow::Result<T>
    where
        F: Fn(AclServiceClient<Ch>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        let ch = self.channel().await?;
        match call(AclServiceClient::new(ch)).await {
            Ok(v) => Ok(v),
            Err(s) => match leader_hint(&s) {
                Some(addr) => {
                    let ch = self.wrap(self.channel_to(&addr).await?);
                    call(AclServiceClient::new(ch)).await.map_err(status_error)
                }
                None => Err(status_error(s)),
            },
        }
    }

    /// Like [`Cluster::with_jobs`], for the calendar service.
    pub async fn with_calendars<T, F, Fut>(&self, call: F) -> anyhow::Result<T>
    where
        F: Fn(CalendarServiceClient<Ch>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        let ch = self.channel().await?;
        match call(CalendarServiceClient::new(ch)).await {
            Ok(v) => Ok(v),
            Err(s) => match leader_hint(&s) {
                Some(addr) => {
                    let ch = self.wrap(self.channel_to(&addr).await?);
                    call(CalendarServiceClient::new(ch))
                        .await
                        .map_err(status_error)
                }
                None => Err(status_error(s)),
            },
        }
    }

    /// Like [`Cluster::with_jobs`], for the cluster service.
    pub async fn with_cluster<T, F, Fut>(&self, call: F) -> anyhow::Result<T>
    where
        F: Fn(ClusterServiceClient<Ch>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        let ch = self.channel().await?;
        match call(ClusterServiceClient::new(ch)).await {
            Ok(v) => Ok(v),
            Err(s) => match leader_hint(&s) {
                Some(addr) => {
                    let ch = self.wrap(self.channel_to(&addr).await?);
                    call(ClusterServiceClient::new(ch))
                        .await
                        .map_err(status_error)
                }
                None => Err(status_error(s)),
            },
        }
    }
}

fn leader_hint(s: &tonic::Status) -> Option<String> {
    if s.code() != tonic::Code::Unavailable {
        return None;
    }
    s.metadata()
        .get("x-leader-addr")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// A gRPC status as an error message that names the code.
pub fn status_error(s: tonic::Status) -> anyhow::Error {
    anyhow!("{}: {}", code_name(s.code()), s.message())
}

fn code_name(c: tonic::Code) -> &'static str {
    match c {
        tonic::Code::InvalidArgument => "invalid argument",
        tonic::Code::NotFound => "not found",
        tonic::Code::AlreadyExists => "already exists",
        tonic::Code::FailedPrecondition => "failed precondition",
        tonic::Code::Unavailable => "unavailable",
        tonic::Code::DeadlineExceeded => "deadline exceeded",
        tonic::Code::Unimplemented => "not implemented",
        tonic::Code::Unauthenticated => "unauthenticated",
        tonic::Code::PermissionDenied => "permission denied",
        tonic::Code::ResourceExhausted => "resource exhausted",
        _ => "error",
    }
}
