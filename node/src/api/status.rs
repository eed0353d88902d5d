//! The gRPC form of [`ApiError`]: the one place where application errors
//! become `tonic::Status`, and where a peer's status becomes an
//! [`ApiError`] again (a forwarded write's answer).

use tonic::{Code, Status};

use crate::app::ApiError;

/// Metadata keys of the leader hint on UNAVAILABLE.
pub const LEADER_ADDR: &str = "x-leader-addr";
/// See [`LEADER_ADDR`].
pub const LEADER_ID: &str = "x-leader-id";

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        let message = e.to_string();
        match e {
            ApiError::Invalid { .. } => Status::invalid_argument(message),
            ApiError::NotFound(_) => Status::not_found(message),
            ApiError::AlreadyExists(_) => Status::already_exists(message),
            ApiError::Conflict(_) => Status::failed_precondition(message),
            ApiError::PermissionDenied(_) => Status::permission_denied(message),
            ApiError::ResourceExhausted(_) => Status::resource_exhausted(message),
            ApiError::Internal(_) => Status::internal(message),
            ApiError::Unavailable { leader, .. } => {
                let mut status = Status::unavailable(message);
                if let Some((id, addr)) = leader {
                    if let Ok(v) = addr.parse() {
                        status.metadata_mut().insert(LEADER_ADDR, v);
                    }
                    if let Ok(v) = id.to_string().parse() {
                        status.metadata_mut().insert(LEADER_ID, v);
                    }
                }
                status
            }
        }
    }
}

/// A peer's answer as an [`ApiError`] (its field path and leader hint kept).
pub fn from_status(s: &Status) -> ApiError {
    let message = s.message().to_string();
    match s.code() {
        Code::InvalidArgument => match message.split_once(": ") {
            Some((field, why)) => ApiError::invalid(field, why),
            None => ApiError::invalid("", message),
        },
        Code::NotFound => ApiError::NotFound(message),
        Code::AlreadyExists => ApiError::AlreadyExists(message),
        Code::FailedPrecondition => ApiError::Conflict(message),
        Code::PermissionDenied => ApiError::PermissionDenied(message),
        Code::ResourceExhausted => ApiError::ResourceExhausted(message),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            let meta = |k: &str| {
                s.metadata()
                    .get(k)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let leader = match (
                meta(LEADER_ID).and_then(|i| i.parse().ok()),
                meta(LEADER_ADDR),
            ) {
                (Some(id), Some(addr)) => Some((id, addr)),
                _ => None,
            };
            ApiError::Unavailable { message, leader }
        }
        _ => ApiError::Internal(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_through_a_status_with_field_and_leader() {
        for e in [
            ApiError::invalid(
                "job.schedule.cron",
                "field 3 (day of month): 32 is out of range 1-31",
            ),
            ApiError::NotFound("job \"a\" not found".into()),
            ApiError::AlreadyExists("job \"a\" already exists".into()),
            ApiError::Conflict("version".into()),
            ApiError::Unavailable {
                message: "not the leader".into(),
                leader: Some((2, "127.0.0.1:7101".into())),
            },
        ] {
            assert_eq!(from_status(&Status::from(e.clone())), e);
        }
    }
}
