//! Errors of the schedule engine.
//!
//! Every error names *where* the problem is (`field`, a short path such as
//! `field 3 (day of month)`, `day_of_week`, `phrase` or `tz`), the character
//! position in the input when there is one, and what is allowed. The whole
//! sentence is kept in `message` so that `Display` is one line that a user can
//! act on.

/// Why a schedule was refused. `Display` names the field, the position and
/// what is allowed, e.g. `field 3 (day of month): 32 is out of range 1-31`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScheduleError {
    /// The full, human-readable sentence.
    pub message: String,
    /// Which part of the input is wrong (`field 3 (day of month)`, `hour`,
    /// `phrase`, `tz`, `bounds`, ...).
    pub field: String,
    /// 0-based character offset of the offending token in the input string,
    /// when the input is a string.
    pub position: Option<usize>,
}

impl ScheduleError {
    /// An error about `field`, at `position`, saying `what`.
    pub fn new(field: impl Into<String>, position: Option<usize>, what: impl AsRef<str>) -> Self {
        let field = field.into();
        let what = what.as_ref();
        let message = if field.is_empty() {
            what.to_string()
        } else {
            format!("{field}: {what}")
        };
        ScheduleError {
            message,
            field,
            position,
        }
    }

    /// An error about the whole schedule (no single field to blame).
    pub fn whole(what: impl AsRef<str>) -> Self {
        Self::new("", None, what)
    }
}
