//! Exclusion calendars: put, get, list and delete, validated here before
//! anything reaches the log.

use store::command::{Command, Response as CmdResponse};
use store::model::{Calendar, CalendarSpec, validate_calendar};

use super::{ApiError, App, Caller};
use crate::node::now_ms;

impl App {
    /// Creates or replaces a calendar (see `Command::PutCalendar`).
    pub async fn put_calendar(
        &self,
        caller: &Caller,
        spec: CalendarSpec,
        expected_version: u64,
        create_only: bool,
    ) -> Result<Calendar, ApiError> {
        validate_calendar(&spec)?;
        let w = self
            .writes
            .write(caller.by(Command::PutCalendar {
                spec,
                expected_version,
                create_only,
                now: now_ms(),
            }))
            .await?;
        match w.response {
            CmdResponse::Calendar(c) => Ok(*c),
            CmdResponse::Error(e) => Err(e.into()),
            other => Err(ApiError::Internal(format!("unexpected response {other:?}"))),
        }
    }

    /// One calendar and the jobs that name it, from this node's state.
    pub fn get_calendar(
        &self,
        _caller: &Caller,
        name: &str,
    ) -> Result<(Calendar, Vec<String>), ApiError> {
        self.node
            .state
            .read(|s| {
                s.calendar(name)
                    .cloned()
                    .map(|c| (c, s.calendar_users(name)))
            })
            .ok_or_else(|| ApiError::NotFound(format!("calendar {name:?} not found")))
    }

    /// Every calendar, in name order.
    pub fn list_calendars(&self, _caller: &Caller) -> Vec<Calendar> {
        self.node.state.read(|s| s.calendars().cloned().collect())
    }

    /// Deletes a calendar no job names.
    pub async fn delete_calendar(&self, caller: &Caller, name: &str) -> Result<(), ApiError> {
        let cmd = Command::DeleteCalendar {
            name: name.to_string(),
        };
        match self.writes.write(caller.by(cmd)).await?.response {
            CmdResponse::Error(e) => Err(e.into()),
            _ => Ok(()),
        }
    }
}
