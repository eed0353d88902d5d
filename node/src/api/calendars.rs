//! `scheduler.v1.CalendarService`: a thin gRPC adapter over
//! `app::calendars`.

use proto::v1 as pb;
use proto::v1::calendar_service_server::CalendarService;
use store::model::{Calendar, CalendarSpec};
use tonic::{Request, Response, Status};

use super::caller;
use super::convert::ms_to_ts;
use crate::app::{ApiError, App};

/// Serves the calendar API on one node.
pub struct Calendars {
    app: App,
}

impl Calendars {
    /// Serves `app`.
    pub fn new(app: App) -> Self {
        Calendars { app }
    }
}

fn spec_from_pb(s: pb::CalendarSpec) -> CalendarSpec {
    CalendarSpec {
        name: s.name,
        description: s.description,
        time_zone: s.time_zone,
        dates: s.dates,
        ranges: s.ranges.into_iter().map(|r| (r.from, r.to)).collect(),
        crons: s.crons,
    }
}

/// A calendar as protobuf, with the jobs that name it.
pub fn calendar_to_pb(c: &Calendar, used_by: Vec<String>) -> pb::Calendar {
    pb::Calendar {
        spec: Some(pb::CalendarSpec {
            name: c.spec.name.clone(),
            description: c.spec.description.clone(),
            time_zone: c.spec.time_zone.clone(),
            dates: c.spec.dates.clone(),
            ranges: c
                .spec
                .ranges
                .iter()
                .map(|(from, to)| pb::DateRange {
                    from: from.clone(),
                    to: to.clone(),
                })
                .collect(),
            crons: c.spec.crons.clone(),
        }),
        version: c.version,
        created_at: Some(ms_to_ts(c.created_at)),
        updated_at: Some(ms_to_ts(c.updated_at)),
        updated_by: c.updated_by.clone(),
        used_by,
    }
}

#[tonic::async_trait]
impl CalendarService for Calendars {
    async fn put_calendar(
        &self,
        req: Request<pb::PutCalendarRequest>,
    ) -> Result<Response<pb::Calendar>, Status> {
        let who = caller(&req);
        let req = req.into_inner();
        let spec = req
            .calendar
            .ok_or_else(|| ApiError::invalid("calendar", "is required"))?;
        let c = self
            .app
            .put_calendar(
                &who,
                spec_from_pb(spec),
                req.expected_version,
                req.create_only,
            )
            .await?;
        Ok(Response::new(calendar_to_pb(&c, Vec::new())))
    }

    async fn get_calendar(
        &self,
        req: Request<pb::GetCalendarRequest>,
    ) -> Result<Response<pb::Calendar>, Status> {
        let who = caller(&req);
        let (c, users) = self.app.get_calendar(&who, &req.into_inner().name)?;
        Ok(Response::new(calendar_to_pb(&c, users)))
    }

    async fn list_calendars(
        &self,
        req: Request<pb::ListCalendarsRequest>,
    ) -> Result<Response<pb::ListCalendarsResponse>, Status> {
        let who = caller(&req);
        let calendars = self
            .app
            .list_calendars(&who)
            .iter()
            .map(|c| calendar_to_pb(c, Vec::new()))
            .collect();
        Ok(Response::new(pb::ListCalendarsResponse { calendars }))
    }

    async fn delete_calendar(
        &self,
        req: Request<pb::DeleteCalendarRequest>,
    ) -> Result<Response<pb::DeleteCalendarResponse>, Status> {
        let who = caller(&req);
        let name = req.into_inner().name;
        self.app.delete_calendar(&who, &name).await?;
        Ok(Response::new(pb::DeleteCalendarResponse { name }))
    }
}
