//! The gRPC form of [`ApiError`]: the one place where application errors
//! become `tonic::Status`, and where a peer's status becomes an
//! [`ApiError`] again (a forwarded write's answer).

use tonic::Status;

use crate::error::ApiError;

pub use crate::peers::{LEADER_ADDR, LEADER_ID};

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
            ApiError::DeadlineExceeded(_) => Status::deadline_exceeded(message),
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

pub use crate::peers::from_status;

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
