//! The HTTP form of [`ApiError`]: a status code and a JSON body that keeps
//! the gRPC code's name, the field path and the leader hint, so a script
//! handles both transports' errors alike.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::ApiError;

/// An error answer: `{"error": {...}}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorJson {
    pub error: ErrorBody,
}

/// What went wrong.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The gRPC code's name: INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
    /// FAILED_PRECONDITION, PERMISSION_DENIED, UNAUTHENTICATED,
    /// RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, UNAVAILABLE or INTERNAL.
    pub code: String,
    /// The path of the wrong field (`job.schedule.cron`), for INVALID_ARGUMENT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
    /// The leader to retry at, for UNAVAILABLE when one is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderJson>,
}

/// A leader hint.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LeaderJson {
    pub id: u64,
    pub addr: String,
}

/// An [`ApiError`] as an HTTP answer.
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError(e)
    }
}

/// The status and gRPC code name of an error.
pub fn status_of(e: &ApiError) -> (StatusCode, &'static str) {
    match e {
        ApiError::Invalid { .. } => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
        ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        ApiError::AlreadyExists(_) => (StatusCode::CONFLICT, "ALREADY_EXISTS"),
        ApiError::Conflict(_) => (StatusCode::PRECONDITION_FAILED, "FAILED_PRECONDITION"),
        ApiError::PermissionDenied(_) => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
        ApiError::ResourceExhausted(_) => (StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED"),
        ApiError::DeadlineExceeded(_) => (StatusCode::GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED"),
        ApiError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
        ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code) = status_of(&self.0);
        let (field, message, leader) = match self.0 {
            ApiError::Invalid { field, message } => (Some(field), message, None),
            ApiError::Unavailable { message, leader } => (
                None,
                message,
                leader.map(|(id, addr)| LeaderJson { id, addr }),
            ),
            other => (None, other.to_string(), None),
        };
        let hint = leader.clone();
        let mut resp = (
            status,
            Json(ErrorJson {
                error: ErrorBody {
                    code: code.into(),
                    field,
                    message,
                    leader,
                },
            }),
        )
            .into_response();
        if let Some(l) = hint
            && let Ok(v) = HeaderValue::from_str(&l.addr)
        {
            resp.headers_mut().insert(crate::peers::LEADER_ADDR, v);
        }
        resp
    }
}

/// A JSON error answer with an explicit status (the auth layer's refusals).
pub fn refusal(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(ErrorJson {
            error: ErrorBody {
                code: code.into(),
                field: None,
                message,
                leader: None,
            },
        }),
    )
        .into_response()
}
