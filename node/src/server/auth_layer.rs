//! The tower layer in front of every service of the client and peer
//! listeners: it finds the caller and applies the policy table
//! ([`crate::auth::decide`]) and hands the [`Caller`] to the handlers in
//! the request's extensions. A refusal is a gRPC status for gRPC calls, a
//! JSON error (or, for a dashboard page, a redirect to the sign-in page)
//! for HTTP ones.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::Status;

use crate::auth::decide::{bearer, check, check_http};
use crate::auth::secret::Bearer;
use crate::node::Node;

/// The layer: [`Auth`] around every service of the server.
#[derive(Clone)]
pub struct AuthLayer {
    node: Node,
    secure: bool,
}

impl AuthLayer {
    /// Checks calls against `node`'s replicated ACL. `secure`: the node
    /// serves TLS, so calls are checked from the start and peer services
    /// need a node certificate.
    pub fn new(node: Node, secure: bool) -> Self {
        AuthLayer { node, secure }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            node: self.node.clone(),
            secure: self.secure,
        }
    }
}

/// The service the layer makes.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    node: Node,
    secure: bool,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Auth<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let cert = req
            .extensions()
            .get::<crate::tls::PeerInfo>()
            .and_then(|p| p.identity.clone());
        let bearer = bearer(req.headers());
        let grpc = is_grpc(req.headers());
        let path = req.uri().path().to_string();
        let verdict = self.node.state.read(|s| {
            if grpc {
                check(s, self.secure, &path, bearer.as_deref(), cert.as_ref())
            } else {
                check_http(
                    s,
                    self.secure,
                    req.method().as_str(),
                    &path,
                    bearer.as_deref(),
                    cert.as_ref(),
                )
            }
        });
        match verdict {
            Ok(mut caller) => {
                caller.bearer = bearer.map(Bearer);
                req.extensions_mut().insert(caller);
                Box::pin(self.inner.call(req))
            }
            Err(status) => {
                tracing::debug!(path = %path, code = ?status.code(), "call refused");
                if grpc {
                    return Box::pin(async move { Ok(status.into_http()) });
                }
                let resp = http_refusal(&status, req.method(), &path);
                Box::pin(async move { Ok(resp) })
            }
        }
    }
}

/// Whether a request is gRPC (by its content type); anything else is
/// judged by the HTTP routes' table.
fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// An HTTP refusal: JSON for the API, a redirect to the sign-in page for
/// a dashboard page that needs a token.
fn http_refusal(
    status: &Status,
    method: &http::Method,
    path: &str,
) -> http::Response<tonic::body::Body> {
    use axum::response::IntoResponse;
    let (code, name) = match status.code() {
        tonic::Code::Unauthenticated => (http::StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        tonic::Code::NotFound => (http::StatusCode::NOT_FOUND, "NOT_FOUND"),
        _ => (http::StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
    };
    let page = method == http::Method::GET && !path.starts_with("/api/");
    let resp = if page && code == http::StatusCode::UNAUTHORIZED {
        let next = form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>();
        axum::response::Redirect::to(&format!("/login?next={next}")).into_response()
    } else {
        crate::http::error::refusal(code, name, status.message().to_string())
    };
    resp.map(tonic::body::Body::new)
}
