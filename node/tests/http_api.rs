//! The HTTP/JSON API against a real three-node cluster: every route,
//! its errors (the gRPC API's codes and field paths), writes through a
//! follower, server-sent events resumed with `Last-Event-ID` on another
//! node, the OpenAPI document against what is served, and the same
//! tokens and roles as gRPC.

mod support;

use std::time::Duration;

use chaos_tests::harness::{wait_cluster, wait_for};
use proto::v1 as pb;
use proto::v1::acl_service_client::AclServiceClient;
use serde_json::{Value, json};
use support::*;

struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    fn new(addr: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            base: format!("http://{addr}"),
            token: None,
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Status and JSON body of a call.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut r = self.req(method.clone(), path);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = r
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let stream = resp
            .headers()
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        if stream {
            return (status, Value::String("an event stream".into()));
        }
        let text = resp.text().await.expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, json) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {json}"
        );
        json
    }
}

/// Asserts an error answer: status, gRPC code name and (when given) field.
fn assert_error(got: &(u16, Value), status: u16, code: &str, field: Option<&str>) {
    let (s, body) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    if let Some(f) = field {
        assert_eq!(body["error"]["field"], f, "{body}");
    }
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// The job: an HTTP GET of the cluster's own OpenAPI document (a 200),
/// so runs succeed with no sink.
fn job(id: &str, addr: &str) -> Value {
    json!({
        "id": id,
        "labels": {"suite": "http"},
        "schedule": {"cron": "0 0 1 1 *"},
        "executor": {"http": {"method": "GET", "url": format!("http://{addr}/api/v1/openapi.json")}},
        "policies": {"misfire_grace": "1m", "retries": {"max_retries": 1, "initial_backoff": "1s"}},
    })
}

/// Opens an event stream; once this returns, the node has subscribed (it
/// does so before it answers), so every later event is on it.
async fn open_events(api: &Api, path: &str, last_id: Option<&str>) -> reqwest::Response {
    let mut r = api.req(reqwest::Method::GET, path);
    if let Some(id) = last_id {
        r = r.header("Last-Event-ID", id);
    }
    let resp = r.send().await.expect("an event stream");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/event-stream")),
        "{:?}",
        resp.headers()
    );
    resp
}

/// Server-sent events: `(id, event, data)` of each, until `want` says stop.
async fn read_events(
    mut resp: reqwest::Response,
    mut want: impl FnMut(&(String, String, Value)) -> bool,
) -> Vec<(String, String, Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().into();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().into();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data += v.trim();
                }
            }
            if event.is_empty() {
                continue; // a keep-alive comment
            }
            let e = (
                id,
                event,
                serde_json::from_str(&data).unwrap_or(Value::Null),
            );
            let stop = want(&e);
            out.push(e);
            if stop {
                return out;
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("awaited an event; got {out:?}"))
            .expect("the stream reads")
            .unwrap_or_else(|| panic!("the stream ended; got {out:?}"));
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_error_through_a_follower() {
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let s = wait_cluster(&procs[0].addr, &[1, 2, 3]).await;
    let leader = s.leader.expect("a leader");
    let follower = procs.iter().find(|p| p.id != leader).expect("a follower");
    let other = procs
        .iter()
        .find(|p| p.id != leader && p.id != follower.id)
        .expect("another follower");
    let api = Api::new(&follower.addr);

    // The document, and every route in it is served (not the API's 404).
    let doc = api.ok("GET", "/api/v1/openapi.json", None).await;
    assert_eq!(
        doc["openapi"].as_str().map(|v| &v[..2]),
        Some("3."),
        "{doc}"
    );
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 12, "{paths:?}");
    for (path, item) in paths {
        for method in item.as_object().expect("methods").keys() {
            let concrete = path
                .replace("{id}", "no-such-job")
                .replace("{name}", "no-such-calendar");
            let (status, body) = api.call(&method.to_uppercase(), &concrete, None).await;
            let unrouted = body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no API route") || m.starts_with("no route"));
            assert!(
                !unrouted && status != 405,
                "{method} {path} is documented but not served: {status} {body}"
            );
        }
    }
    // And what is not documented is not served.
    assert_error(
        &api.call("GET", "/api/v1/tokens", None).await,
        404,
        "NOT_FOUND",
        None,
    );

    // Create through the follower (forwarded to the leader).
    let created = api
        .ok("POST", "/api/v1/jobs", Some(job("h1", &follower.addr)))
        .await;
    assert_eq!(created["spec"]["id"], "h1");
    assert_eq!(created["state"], "active");
    assert_eq!(created["version"], 1);
    assert_eq!(created["spec"]["policies"]["misfire_grace"], "1m");
    assert_eq!(created["schedule_text"], "cron 0 0 1 1 *");
    assert!(created["next_fire_at"].is_string(), "{created}");
    // An unnamed job gets an id.
    let mut unnamed = job("", &follower.addr);
    unnamed.as_object_mut().expect("object").remove("id");
    let generated = api.ok("POST", "/api/v1/jobs", Some(unnamed)).await;
    assert!(
        generated["spec"]["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("job-")),
        "{generated}"
    );

    // Errors: the gRPC codes and field paths.
    assert_error(
        &api.call("POST", "/api/v1/jobs", Some(job("h1", &follower.addr)))
            .await,
        409,
        "ALREADY_EXISTS",
        None,
    );
    let mut bad = job("h2", &follower.addr);
    bad["schedule"] = json!({"cron": "0 0 32 * *"});
    assert_error(
        &api.call("POST", "/api/v1/jobs", Some(bad)).await,
        400,
        "INVALID_ARGUMENT",
        Some("job.schedule.cron"),
    );
    let mut bad = job("h2", &follower.addr);
    bad["policies"]["timeout"] = json!("soon");
    assert_error(
        &api.call("POST", "/api/v1/jobs", Some(bad)).await,
        400,
        "INVALID_ARGUMENT",
        Some("job.policies.timeout"),
    );
    let mut bad = job("h2", &follower.addr);
    bad["policies"]["overlap"] = json!("sometimes");
    assert_error(
        &api.call("POST", "/api/v1/jobs", Some(bad)).await,
        400,
        "INVALID_ARGUMENT",
        Some("job.policies.overlap"),
    );
    let mut bad = job("h2", &follower.addr);
    bad["colour"] = json!("red");
    assert_error(
        &api.call("POST", "/api/v1/jobs", Some(bad)).await,
        400,
        "INVALID_ARGUMENT",
        Some("job.colour"),
    );
    let (s, b) = api
        .call(
            "POST",
            "/api/v1/jobs",
            Some(json!({"id": "h2", "schedule": {"cron": "* * * * *"}})),
        )
        .await;
    assert_error(&(s, b), 400, "INVALID_ARGUMENT", Some("job.executor"));
    let no_json = api
        .req(reqwest::Method::POST, "/api/v1/jobs")
        .body("{}")
        .send()
        .await
        .expect("a call");
    assert_eq!(no_json.status(), 400);
    assert_error(
        &api.call("GET", "/api/v1/jobs/nope", None).await,
        404,
        "NOT_FOUND",
        None,
    );
    assert_error(
        &api.call("GET", "/api/v1/jobs?state=sleeping", None).await,
        400,
        "INVALID_ARGUMENT",
        Some("state"),
    );
    assert_error(
        &api.call("GET", "/api/v1/runs?since=yesterday", None).await,
        400,
        "INVALID_ARGUMENT",
        Some("since"),
    );
    assert_error(
        &api.call("GET", "/api/v1/jobs/h1/next?count=1000", None)
            .await,
        400,
        "INVALID_ARGUMENT",
        Some("count"),
    );
    // Nothing was created by any refused call.
    assert_error(
        &api.call("GET", "/api/v1/jobs/h2", None).await,
        404,
        "NOT_FOUND",
        None,
    );

    // Update: a version conflict, a mismatched id, then a real change.
    let mut changed = job("h1", &follower.addr);
    changed["name"] = json!("renamed");
    assert_error(
        &api.call(
            "PUT",
            "/api/v1/jobs/h1?expected_version=7",
            Some(changed.clone()),
        )
        .await,
        412,
        "FAILED_PRECONDITION",
        None,
    );
    assert_error(
        &api.call("PUT", "/api/v1/jobs/other", Some(changed.clone()))
            .await,
        400,
        "INVALID_ARGUMENT",
        Some("job.id"),
    );
    let updated = api
        .ok("PUT", "/api/v1/jobs/h1?expected_version=1", Some(changed))
        .await;
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["spec"]["name"], "renamed");

    // Reads: list with filters and paging, next fire times.
    let page = api.ok("GET", "/api/v1/jobs?page_size=1", None).await;
    assert_eq!(page["jobs"].as_array().map(Vec::len), Some(1), "{page}");
    let token = page["next_page_token"].as_str().expect("a next page");
    let rest = api
        .ok(
            "GET",
            &format!("/api/v1/jobs?page_size=10&page_token={token}"),
            None,
        )
        .await;
    assert_eq!(rest["jobs"].as_array().map(Vec::len), Some(1), "{rest}");
    assert!(rest["next_page_token"].is_null(), "{rest}");
    let labelled = api.ok("GET", "/api/v1/jobs?labels=suite=http", None).await;
    assert_eq!(labelled["jobs"].as_array().map(Vec::len), Some(2));
    let none = api.ok("GET", "/api/v1/jobs?labels=suite=other", None).await;
    assert_eq!(none["jobs"].as_array().map(Vec::len), Some(0));
    let next = api.ok("GET", "/api/v1/jobs/h1/next?count=3", None).await;
    let times: Vec<&str> = next["times"]
        .as_array()
        .expect("times")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(times.len(), 3, "{next}");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert!(
        times.iter().all(|t| t.contains("-01-01T00:00:00.000Z")),
        "{times:?}"
    );

    // Events: watch on the follower until h3 is added, then resume on
    // the other follower from that event's id.
    let stream = open_events(&api, "/api/v1/events", None).await;
    api.ok("POST", "/api/v1/jobs", Some(job("h3", &follower.addr)))
        .await;
    let seen = read_events(stream, |(_, kind, data)| {
        kind == "job_added" && data["job_id"] == "h3"
    })
    .await;
    let (mark, _, _) = seen.last().expect("the h3 event").clone();
    assert!(mark.contains('-'), "an event id: {mark:?}");
    api.ok("POST", "/api/v1/jobs", Some(job("h4", &follower.addr)))
        .await;
    let other_api = Api::new(&other.addr);
    let resumed = read_events(
        open_events(&other_api, "/api/v1/events", Some(&mark)).await,
        |(_, kind, data)| kind == "job_added" && data["job_id"] == "h4",
    )
    .await;
    let parse = |id: &str| -> (u64, u32) {
        let (i, p) = id.split_once('-').expect("index-pos");
        (i.parse().expect("index"), p.parse().expect("pos"))
    };
    assert!(
        resumed
            .iter()
            .filter(|(id, _, _)| !id.is_empty())
            .all(|(id, _, _)| parse(id) > parse(&mark)),
        "a resume replays only later events: after {mark}: {resumed:?}"
    );
    assert_eq!(resumed[0].2["id"], resumed[0].0, "the data carries its id");
    assert_error(
        &api.call("GET", "/api/v1/events?last_event_id=twelve", None)
            .await,
        400,
        "INVALID_ARGUMENT",
        Some("last_event_id"),
    );

    // Run now: a run that succeeds, with its attempt, in the run list.
    let run = api.ok("POST", "/api/v1/jobs/h1/run", None).await;
    let occ = run["occurrence_id"]
        .as_str()
        .expect("an occurrence")
        .to_string();
    let done = wait_for(&format!("{occ} to succeed"), || async {
        let runs = api.ok("GET", "/api/v1/runs?job_id=h1", None).await;
        runs["runs"]
            .as_array()?
            .iter()
            .find(|r| r["occurrence_id"] == occ.as_str() && r["state"] == "succeeded")
            .cloned()
    })
    .await;
    assert_eq!(done["exit_code"], 200, "{done}");
    assert_eq!(done["attempts"][0]["state"], "succeeded", "{done}");
    assert!(
        done["fencing_token"].as_u64().is_some_and(|t| t > 0),
        "{done}"
    );
    let failed = api
        .ok("GET", "/api/v1/runs?state=failed&limit=5", None)
        .await;
    assert_eq!(failed["runs"].as_array().map(Vec::len), Some(0), "{failed}");

    // Pause, resume, the scheduler, backfill, delete.
    assert_eq!(
        api.ok("POST", "/api/v1/jobs/h1/pause", None).await["affected"],
        1
    );
    let paused = api.ok("GET", "/api/v1/jobs/h1", None).await;
    assert_eq!(paused["state"], "paused");
    let paused_list = api.ok("GET", "/api/v1/jobs?state=paused", None).await;
    assert_eq!(paused_list["jobs"][0]["spec"]["id"], "h1", "{paused_list}");
    let next = api.ok("GET", "/api/v1/jobs/h1/next", None).await;
    assert_eq!(next["times"].as_array().map(Vec::len), Some(0), "{next}");
    assert_eq!(
        api.ok("POST", "/api/v1/jobs/h1/resume", None).await["affected"],
        1
    );
    assert_eq!(
        api.ok("GET", "/api/v1/jobs/h1", None).await["state"],
        "active"
    );
    api.ok("POST", "/api/v1/scheduler/pause", None).await;
    assert_eq!(
        api.ok("GET", "/api/v1/cluster", None).await["scheduler_paused"],
        true
    );
    api.ok("POST", "/api/v1/scheduler/resume", None).await;
    let bf = api
        .call(
            "POST",
            "/api/v1/jobs/h1/backfill",
            Some(json!({"from": "2020-01-01T00:00:00Z", "to": "yesterday"})),
        )
        .await;
    assert_error(&bf, 400, "INVALID_ARGUMENT", Some("to"));
    let bf = api
        .ok(
            "POST",
            "/api/v1/jobs/h1/backfill",
            Some(json!({"from": "2020-01-01T00:00:00Z", "to": "2021-06-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(bf["created"], 2, "{bf}");
    assert_eq!(api.ok("DELETE", "/api/v1/jobs/h1", None).await["id"], "h1");
    assert_error(
        &api.call("DELETE", "/api/v1/jobs/h1", None).await,
        404,
        "NOT_FOUND",
        None,
    );

    // Calendars: h3 fires on 1 January; excluding the next two, its next
    // fire times start in the third year. In use, the calendar cannot go.
    let cal = api
        .ok(
            "PUT",
            "/api/v1/calendars/new-year",
            Some(json!({"dates": ["2027-01-01", "2028-01-01"]})),
        )
        .await;
    assert_eq!(cal["version"], 1, "{cal}");
    assert_error(
        &api.call(
            "PUT",
            "/api/v1/calendars/bad",
            Some(json!({"dates": ["2026-02-30"]})),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
        Some("calendar.dates[0]"),
    );
    let mut h3 = job("h3", &follower.addr);
    h3["exclude_calendars"] = json!(["new-year"]);
    api.ok("PUT", "/api/v1/jobs/h3", Some(h3)).await;
    let next = api.ok("GET", "/api/v1/jobs/h3/next?count=2", None).await;
    let years: Vec<&str> = next["times"]
        .as_array()
        .expect("times")
        .iter()
        .filter_map(|t| t.as_str().map(|s| &s[..4]))
        .collect();
    assert_eq!(years, ["2029", "2030"], "{next}");
    let used = api.ok("GET", "/api/v1/calendars/new-year", None).await;
    assert_eq!(used["used_by"][0], "h3", "{used}");
    let refused = api.call("DELETE", "/api/v1/calendars/new-year", None).await;
    assert_error(&refused, 412, "FAILED_PRECONDITION", None);
    assert!(
        refused.1.to_string().contains("h3"),
        "the refusal names the job: {}",
        refused.1
    );
    let list = api.ok("GET", "/api/v1/calendars", None).await;
    assert_eq!(
        list["calendars"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );

    // The cluster as the follower shows it.
    let cluster = api.ok("GET", "/api/v1/cluster", None).await;
    assert_eq!(cluster["leader"], leader, "{cluster}");
    assert_eq!(
        cluster["members"].as_array().map(Vec::len),
        Some(3),
        "{cluster}"
    );
    // The follower asked the leader, which alone knows replication progress.
    assert_eq!(cluster["answered_by"], leader, "{cluster}");

    // Tokens: after the bootstrap, the same roles as gRPC.
    let mut acl = AclServiceClient::connect(format!("http://{}", follower.addr))
        .await
        .expect("connect");
    let admin = acl
        .bootstrap(pb::AclBootstrapRequest {
            name: "root".into(),
        })
        .await
        .expect("bootstrap")
        .into_inner()
        .secret;
    let mut r = tonic::Request::new(pb::CreateTokenRequest {
        name: "viewer".into(),
        role: "reader".into(),
        queues: Vec::new(),
    });
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {admin}").parse().expect("ascii"),
    );
    let reader = acl
        .create_token(r)
        .await
        .expect("a token")
        .into_inner()
        .secret;
    assert_error(
        &api.call("GET", "/api/v1/jobs", None).await,
        401,
        "UNAUTHENTICATED",
        None,
    );
    let open = api.call("GET", "/api/v1/cluster", None).await;
    assert_eq!(open.0, 200, "status stays open: {}", open.1);
    let as_reader = Api {
        token: Some(reader.clone()),
        ..Api::new(&follower.addr)
    };
    as_reader.ok("GET", "/api/v1/jobs", None).await;
    let denied = as_reader
        .call("POST", "/api/v1/jobs", Some(job("h5", &follower.addr)))
        .await;
    assert_error(&denied, 403, "PERMISSION_DENIED", None);
    assert!(
        !denied.1.to_string().contains(&reader),
        "no secret in an error: {}",
        denied.1
    );
    let bogus = Api {
        token: Some("sdt_not-a-token".into()),
        ..Api::new(&follower.addr)
    };
    assert_error(
        &bogus.call("GET", "/api/v1/jobs", None).await,
        401,
        "UNAUTHENTICATED",
        None,
    );
    // A dashboard page without a token goes to the sign-in page.
    let page = api
        .req(reqwest::Method::GET, "/jobs")
        .send()
        .await
        .expect("a page");
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/login?next=%2Fjobs");
    for p in &procs {
        let log = std::fs::read_to_string(p.dir.with_extension("log")).unwrap_or_default();
        assert!(
            !log.contains(&reader) && !log.contains(&admin),
            "a secret in node {}'s log",
            p.id
        );
    }
}
