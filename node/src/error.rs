//! The transport-neutral error of every application operation (and of the
//! write path under it). Each
//! adapter maps it to its own wire form (gRPC status in `api/status.rs`;
//! the HTTP API will map it to a status code and JSON body), keeping the
//! field path of an invalid argument and the leader hint of an
//! unavailable node.

use store::command::CommandError;
use store::model::ValidationError;

/// Why an operation did not happen. Nothing changed in any case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A field is wrong: its path, why, and what is allowed.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// No such job, occurrence or member.
    #[error("{0}")]
    NotFound(String),
    /// The id exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// A precondition failed (a version conflict, a membership change
    /// under way).
    #[error("{0}")]
    Conflict(String),
    /// No leader could take the write now; `leader` is a hint (id, address).
    #[error("{message}")]
    Unavailable {
        message: String,
        leader: Option<(u64, String)>,
    },
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// Too much at once or too large.
    #[error("{0}")]
    ResourceExhausted(String),
    /// It did not finish in time (and may still finish).
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A bug or a broken invariant on this node.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// An invalid argument at `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Unavailable with no leader hint.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::Unavailable {
            message: message.into(),
            leader: None,
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Invalid(v) => v.into(),
            CommandError::NotFound(_) => ApiError::NotFound(e.to_string()),
            CommandError::AlreadyExists(_) => ApiError::AlreadyExists(e.to_string()),
            CommandError::VersionConflict { .. } => ApiError::Conflict(e.to_string()),
            CommandError::NestedBatch => ApiError::Internal(e.to_string()),
            CommandError::AclBootstrapped => ApiError::Conflict(e.to_string()),
            CommandError::TokenExists(_) => ApiError::AlreadyExists(e.to_string()),
            CommandError::TokenNotFound(_) => ApiError::NotFound(e.to_string()),
            CommandError::TooManyTokens(_) => ApiError::ResourceExhausted(e.to_string()),
            CommandError::CalendarNotFound(_) => ApiError::NotFound(e.to_string()),
            CommandError::CalendarExists(_) => ApiError::AlreadyExists(e.to_string()),
            CommandError::CalendarVersionConflict { .. } | CommandError::CalendarInUse { .. } => {
                ApiError::Conflict(e.to_string())
            }
            CommandError::TooManyCalendars(_) => ApiError::ResourceExhausted(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_errors_keep_their_meaning_and_field_path() {
        let v = ValidationError {
            field: "job.schedule.cron".into(),
            message: "field 3 (day of month): 32 is out of range 1-31".into(),
        };
        let e: ApiError = CommandError::Invalid(v).into();
        assert_eq!(
            e.to_string(),
            "job.schedule.cron: field 3 (day of month): 32 is out of range 1-31"
        );
        assert!(matches!(
            ApiError::from(CommandError::NotFound("a".into())),
            ApiError::NotFound(_)
        ));
        assert!(matches!(
            ApiError::from(CommandError::VersionConflict {
                id: "a".into(),
                expected: 1,
                actual: 2
            }),
            ApiError::Conflict(_)
        ));
    }
}
