//! `/api/v1/events`: the events applied on this node, as server-sent
//! events. Each has the id `<log index>-<position>` (the same on every
//! node), so a client that reconnects with `Last-Event-ID` (browsers' own
//! `EventSource` does) gets every event it missed, from any node, as long
//! as that node still holds it; otherwise it gets a `reset` event and must
//! re-read the state. Leader changes, which are node-local, come as
//! `leader` events without an id.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as Sse, KeepAlive};
use serde::Deserialize;
use store::model::time::rfc3339_ms;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};
use utoipa::IntoParams;

use super::error::{ErrorJson, HttpError};
use super::extract::{Query, Who};
use super::json::EventJson;
use crate::app::events::{EventId, Numbered, Resume};
use crate::app::{ApiError, App};
use crate::node::now_ms;

/// Which events, from where.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this job's events (and no leader events).
    pub job_id: Option<String>,
    /// Resume after this event id (as the `Last-Event-ID` header does; the
    /// header wins when both are given).
    pub last_event_id: Option<String>,
}

fn data(id: &str, e: &store::state::Event) -> Sse {
    let json = EventJson::from_event(id, e);
    let sse = Sse::default().event(json.kind.clone());
    match serde_json::to_string(&json) {
        Ok(text) => sse.id(id).data(text),
        Err(e) => sse.id(id).data(format!("{{\"error\":\"{e}\"}}")),
    }
}

/// What the merged stream does next.
enum Step {
    Send(Sse),
    Skip,
    /// Send, then end the stream.
    Last(Sse),
}

fn reset(message: &str) -> Sse {
    Sse::default()
        .event("reset")
        .data(serde_json::json!({ "message": message }).to_string())
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(EventsQuery, ("Last-Event-ID" = Option<String>, Header,
        description = "Resume after this event id")),
    responses((status = 200, content_type = "text/event-stream",
        description = "Server-sent events: `event:` is the kind, `id:` the event id, `data:` an EventJson",
        body = EventJson),
        (status = 400, body = ErrorJson)))]
/// Streams events as they are applied here, resumable by event id.
pub async fn events(
    State(app): State<App>,
    Who(_who): Who,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<axum::response::Sse<impl Stream<Item = Result<Sse, Infallible>>>, HttpError> {
    let header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let after = match header.or(q.last_event_id).filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<EventId>()
                .map_err(|e| ApiError::invalid("last_event_id", e))?,
        ),
    };
    let job = q.job_id.unwrap_or_default();
    let (resume, rx) = app.events.since(after);
    let keep = {
        let job = job.clone();
        move |n: &Numbered| job.is_empty() || n.event.job_id == job
    };
    let head: Vec<Sse> = match resume {
        Resume::From(held) => held
            .iter()
            .filter(|n| keep(n))
            .map(|n| data(&n.id.to_string(), &n.event))
            .collect(),
        Resume::Gap => vec![reset(
            "events after that id are no longer held by this node: re-read the state",
        )],
    };
    let live = BroadcastStream::new(rx).map(move |item| match item {
        Ok(n) if keep(&n) => Step::Send(data(&n.id.to_string(), &n.event)),
        Ok(_) => Step::Skip,
        // Behind: events were lost for this watcher. It is told so, and
        // the stream ends (a browser reconnects by itself, and gets a
        // replay or a reset).
        Err(_) => Step::Last(reset("this watcher fell behind: re-read the state")),
    });
    let all = job.is_empty();
    let leaders = app.leader_changes().filter(move |_| all).map(|c| {
        Step::Send(
            Sse::default().event("leader").data(
                serde_json::json!({
                    "leader": c.leader,
                    "term": c.term,
                    "at": rfc3339_ms(now_ms()),
                })
                .to_string(),
            ),
        )
    });
    let mut done = false;
    let stream = tokio_stream::iter(head.into_iter().map(Step::Send))
        .chain(live.merge(leaders))
        .map_while(move |step| {
            if done {
                return None;
            }
            match step {
                Step::Send(e) => Some(Some(e)),
                Step::Skip => Some(None),
                Step::Last(e) => {
                    done = true;
                    Some(Some(e))
                }
            }
        })
        .filter_map(|e| e.map(Ok));
    Ok(axum::response::Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
