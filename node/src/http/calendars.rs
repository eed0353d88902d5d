//! `/api/v1/calendars`: exclusion calendars as JSON, over the same
//! operations as `CalendarService`.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use store::model::time::rfc3339_ms;
use store::model::{Calendar, CalendarSpec};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorJson, HttpError};
use super::extract::{BodyType, JsonBody, Query, Who};
use crate::app::App;

/// A span of days, both ends included.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DateRangeJson {
    /// First day, YYYY-MM-DD.
    pub from: String,
    /// Last day, YYYY-MM-DD.
    pub to: String,
}

/// A calendar's days (the name is the path's).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarSpecJson {
    /// Free text.
    pub description: String,
    /// IANA zone the days are read in; empty: UTC.
    pub time_zone: String,
    /// Excluded days, YYYY-MM-DD.
    pub dates: Vec<String>,
    /// Excluded spans of days.
    pub ranges: Vec<DateRangeJson>,
    /// Cron expressions: a day on which one fires is excluded.
    pub crons: Vec<String>,
}

impl BodyType for CalendarSpecJson {
    const FIELD: &'static str = "calendar";
}

/// A calendar as the cluster holds it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CalendarJson {
    pub name: String,
    #[serde(flatten)]
    pub spec: CalendarSpecJson,
    /// Incremented by every change.
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
    /// The jobs that name it (on a single calendar's read).
    pub used_by: Vec<String>,
}

fn calendar_json(c: &Calendar, used_by: Vec<String>) -> CalendarJson {
    CalendarJson {
        name: c.spec.name.clone(),
        spec: CalendarSpecJson {
            description: c.spec.description.clone(),
            time_zone: c.spec.time_zone.clone(),
            dates: c.spec.dates.clone(),
            ranges: c
                .spec
                .ranges
                .iter()
                .map(|(from, to)| DateRangeJson {
                    from: from.clone(),
                    to: to.clone(),
                })
                .collect(),
            crons: c.spec.crons.clone(),
        },
        version: c.version,
        created_at: rfc3339_ms(c.created_at),
        updated_at: rfc3339_ms(c.updated_at),
        updated_by: c.updated_by.clone(),
        used_by,
    }
}

/// Every calendar.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CalendarsJson {
    pub calendars: Vec<CalendarJson>,
}

#[utoipa::path(get, path = "/api/v1/calendars", tag = "calendars",
    responses((status = 200, body = CalendarsJson)))]
/// Lists the calendars, in name order.
pub async fn list_calendars(State(app): State<App>, Who(who): Who) -> Json<CalendarsJson> {
    Json(CalendarsJson {
        calendars: app
            .list_calendars(&who)
            .iter()
            .map(|c| calendar_json(c, Vec::new()))
            .collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/calendars/{name}", tag = "calendars",
    params(("name" = String, Path, description = "Calendar name")),
    responses((status = 200, body = CalendarJson), (status = 404, body = ErrorJson)))]
/// One calendar, with the jobs that name it.
pub async fn get_calendar(
    State(app): State<App>,
    Who(who): Who,
    Path(name): Path<String>,
) -> Result<Json<CalendarJson>, HttpError> {
    let (c, users) = app.get_calendar(&who, &name)?;
    Ok(Json(calendar_json(&c, users)))
}

/// A version precondition.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PutQuery {
    /// Must equal the calendar's current version (else 412); absent or 0: no check.
    pub expected_version: Option<u64>,
    /// Refuse (409) when the calendar exists.
    pub create_only: Option<bool>,
}

#[utoipa::path(put, path = "/api/v1/calendars/{name}", tag = "calendars",
    params(("name" = String, Path, description = "Calendar name"), PutQuery),
    request_body = CalendarSpecJson,
    responses((status = 200, body = CalendarJson), (status = 400, body = ErrorJson),
               (status = 409, body = ErrorJson), (status = 412, body = ErrorJson)))]
/// Creates or replaces a calendar; the jobs that name it move at once.
pub async fn put_calendar(
    State(app): State<App>,
    Who(who): Who,
    Path(name): Path<String>,
    Query(q): Query<PutQuery>,
    JsonBody(body): JsonBody<CalendarSpecJson>,
) -> Result<Json<CalendarJson>, HttpError> {
    let spec = CalendarSpec {
        name,
        description: body.description,
        time_zone: body.time_zone,
        dates: body.dates,
        ranges: body.ranges.into_iter().map(|r| (r.from, r.to)).collect(),
        crons: body.crons,
    };
    let c = app
        .put_calendar(
            &who,
            spec,
            q.expected_version.unwrap_or(0),
            q.create_only.unwrap_or(false),
        )
        .await?;
    Ok(Json(calendar_json(&c, Vec::new())))
}

/// The deleted calendar.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedCalendarJson {
    pub name: String,
}

#[utoipa::path(delete, path = "/api/v1/calendars/{name}", tag = "calendars",
    params(("name" = String, Path, description = "Calendar name")),
    responses((status = 200, body = DeletedCalendarJson), (status = 404, body = ErrorJson),
               (status = 412, body = ErrorJson)))]
/// Deletes a calendar no job names (412, naming the jobs, otherwise).
pub async fn delete_calendar(
    State(app): State<App>,
    Who(who): Who,
    Path(name): Path<String>,
) -> Result<Json<DeletedCalendarJson>, HttpError> {
    app.delete_calendar(&who, &name).await?;
    Ok(Json(DeletedCalendarJson { name }))
}
