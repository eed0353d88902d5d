//! Request parts as the handlers want them: the caller the auth layer
//! found, and a JSON body whose errors name the wrong field the way the
//! gRPC API does (`job.policies.timeout: ...`).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::HttpError;
use crate::app::{ApiError, Caller};

/// The caller, from the auth layer (anonymous when it is not installed).
pub struct Who(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HttpError> {
        Ok(Who(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_default()))
    }
}

/// A request body type and the field path its errors start with.
pub trait BodyType: DeserializeOwned {
    /// `job` for a job spec (as gRPC's `CreateJobRequest.job`); empty for
    /// bodies whose fields are the request's own.
    const FIELD: &'static str;
}

/// Largest accepted body: the gRPC API's client message limit.
const MAX_BODY_BYTES: usize = store::model::MAX_CLIENT_MESSAGE_BYTES;

/// A JSON body.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: BodyType> FromRequest<S> for JsonBody<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, HttpError> {
        let field = |p: &str| match (T::FIELD, p) {
            ("", ".") => "body".to_string(),
            ("", p) => p.to_string(),
            (f, ".") => f.to_string(),
            (f, p) => format!("{f}.{p}"),
        };
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::invalid(
                "content-type",
                "the body must be JSON: send Content-Type: application/json",
            )
            .into());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|e| {
                ApiError::ResourceExhausted(format!(
                    "the body could not be read or is larger than {MAX_BODY_BYTES} bytes: {e}"
                ))
            })?;
        let _ = state;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(JsonBody)
            .map_err(|e| {
                let path = e.path().to_string();
                ApiError::invalid(field(&path), e.into_inner().to_string()).into()
            })
    }
}

/// A query string, with its errors as INVALID_ARGUMENT naming the parameter.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HttpError> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." { "query".into() } else { path };
                ApiError::invalid(field, e.into_inner().to_string()).into()
            })
    }
}
