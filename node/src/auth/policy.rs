//! The policy table: what every RPC needs. Default deny: a method that is
//! not listed is refused, and `every_served_method_has_an_entry` fails on
//! any method of the generated service descriptors without one.

use store::model::Permission;

/// What a call needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health, status (probes and joining nodes need it), the
    /// ACL bootstrap (refused by the state once done), who-am-I.
    Open,
    /// A principal whose role carries the permission.
    Perm(Permission),
    /// A peer: a node certificate of the cluster's CA when the node serves
    /// TLS (without TLS, peer services cannot authenticate; see
    /// docs/security.md).
    Peer,
    /// An admin, or a peer node (a joining node adds itself; a follower
    /// forwards a member change to the leader).
    AdminOrPeer,
}

use Need::*;
use Permission::*;

/// Every method, by its gRPC path.
pub const TABLE: &[(&str, Need)] = &[
    // Jobs.
    ("/scheduler.v1.JobService/CreateJob", Perm(Write)),
    ("/scheduler.v1.JobService/UpdateJob", Perm(Write)),
    ("/scheduler.v1.JobService/DeleteJob", Perm(Write)),
    ("/scheduler.v1.JobService/PauseJobs", Perm(Write)),
    ("/scheduler.v1.JobService/ResumeJobs", Perm(Write)),
    ("/scheduler.v1.JobService/RunJobNow", Perm(Write)),
    ("/scheduler.v1.JobService/BackfillJob", Perm(Write)),
    ("/scheduler.v1.JobService/GetJob", Perm(Read)),
    ("/scheduler.v1.JobService/ListJobs", Perm(Read)),
    ("/scheduler.v1.JobService/ListRuns", Perm(Read)),
    ("/scheduler.v1.JobService/WatchEvents", Perm(Read)),
    // Cluster.
    ("/scheduler.v1.ClusterService/Status", Open),
    ("/scheduler.v1.ClusterService/AddMember", AdminOrPeer),
    ("/scheduler.v1.ClusterService/RemoveMember", AdminOrPeer),
    // Workers.
    ("/scheduler.v1.WorkerService/Session", Perm(Work)),
    ("/scheduler.v1.WorkerService/ListWorkers", Perm(Read)),
    // Calendars.
    ("/scheduler.v1.CalendarService/PutCalendar", Perm(Write)),
    ("/scheduler.v1.CalendarService/DeleteCalendar", Perm(Write)),
    ("/scheduler.v1.CalendarService/GetCalendar", Perm(Read)),
    ("/scheduler.v1.CalendarService/ListCalendars", Perm(Read)),
    // Tokens.
    ("/scheduler.v1.AclService/Bootstrap", Open),
    ("/scheduler.v1.AclService/WhoAmI", Open),
    ("/scheduler.v1.AclService/CreateToken", Perm(Admin)),
    ("/scheduler.v1.AclService/ListTokens", Perm(Admin)),
    ("/scheduler.v1.AclService/RevokeToken", Perm(Admin)),
    // Node to node.
    ("/scheduler.internal.v1.RaftService/Append", Peer),
    ("/scheduler.internal.v1.RaftService/Vote", Peer),
    ("/scheduler.internal.v1.RaftService/InstallSnapshot", Peer),
    ("/scheduler.internal.v1.NodeService/Dispatch", Peer),
    ("/scheduler.internal.v1.NodeService/ReportResults", Peer),
    ("/scheduler.internal.v1.NodeService/ForwardWrite", Peer),
    (
        "/scheduler.internal.v1.NodeService/TransferLeadership",
        Peer,
    ),
    ("/scheduler.internal.v1.NodeService/WorkerCapacity", Peer),
    ("/scheduler.internal.v1.NodeService/LocalWorkers", Peer),
    ("/scheduler.internal.v1.NodeService/Admit", Peer),
    // Health is open; reflection describes the API to readers.
    ("/grpc.health.v1.Health/Check", Open),
    ("/grpc.health.v1.Health/Watch", Open),
    (
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        Perm(Read),
    ),
    (
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        Perm(Read),
    ),
];

/// Every HTTP route, as `METHOD /path` with `{name}` for one path
/// segment: the JSON API (`/api/v1`) and the dashboard.
pub const HTTP_TABLE: &[(&str, Need)] = &[
    // The API: reads.
    ("GET /api/v1/jobs", Perm(Read)),
    ("GET /api/v1/jobs/{id}", Perm(Read)),
    ("GET /api/v1/jobs/{id}/next", Perm(Read)),
    ("GET /api/v1/runs", Perm(Read)),
    ("GET /api/v1/events", Perm(Read)),
    ("GET /api/v1/calendars", Perm(Read)),
    ("GET /api/v1/calendars/{name}", Perm(Read)),
    ("GET /api/v1/cluster", Open),
    ("GET /api/v1/openapi.json", Open),
    // The API: writes (a shell job needs the shell role besides: app::jobs).
    ("POST /api/v1/jobs", Perm(Write)),
    ("PUT /api/v1/jobs/{id}", Perm(Write)),
    ("DELETE /api/v1/jobs/{id}", Perm(Write)),
    ("POST /api/v1/jobs/{id}/pause", Perm(Write)),
    ("POST /api/v1/jobs/{id}/resume", Perm(Write)),
    ("POST /api/v1/jobs/{id}/run", Perm(Write)),
    ("POST /api/v1/jobs/{id}/backfill", Perm(Write)),
    ("POST /api/v1/scheduler/pause", Perm(Write)),
    ("POST /api/v1/scheduler/resume", Perm(Write)),
    ("PUT /api/v1/calendars/{name}", Perm(Write)),
    ("DELETE /api/v1/calendars/{name}", Perm(Write)),
    // The dashboard: its pages read; its buttons call the API above.
    ("GET /", Perm(Read)),
    ("GET /jobs", Perm(Read)),
    ("GET /jobs/{id}", Perm(Read)),
    ("GET /timeline", Perm(Read)),
    ("GET /events", Perm(Read)),
    ("GET /fragments/{name}", Perm(Read)),
    ("GET /fragments/jobs/{id}/{name}", Perm(Read)),
    // Its own script and style (no secret in them), and the sign-in page
    // that turns a token into a cookie.
    ("GET /assets/{file}", Open),
    ("GET /login", Open),
    ("POST /login", Open),
    ("POST /logout", Open),
];

/// What `path` (a gRPC method path) needs; `None` (refused) for anything
/// not in the table.
pub fn need(path: &str) -> Option<Need> {
    TABLE.iter().find(|(p, _)| *p == path).map(|(_, n)| *n)
}

/// What the HTTP route `method path` needs; `None` (refused) for anything
/// not in [`HTTP_TABLE`]. `HEAD` is checked as `GET`.
pub fn need_http(method: &str, path: &str) -> Option<Need> {
    let method = if method == "HEAD" { "GET" } else { method };
    HTTP_TABLE
        .iter()
        .find(|(route, _)| {
            route
                .split_once(' ')
                .is_some_and(|(m, p)| m == method && path_matches(p, path))
        })
        .map(|(_, n)| *n)
}

/// Whether `path` fits `pattern`, where `{x}` stands for one non-empty
/// segment.
fn path_matches(pattern: &str, path: &str) -> bool {
    let (mut want, mut got) = (pattern.split('/'), path.split('/'));
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn methods(set: &[u8]) -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(set).expect("a descriptor set");
        set.file
            .iter()
            .flat_map(|f| {
                let package = f.package().to_string();
                f.service.iter().flat_map(move |s| {
                    let package = package.clone();
                    s.method
                        .iter()
                        .map(move |m| format!("/{package}.{}/{}", s.name(), m.name()))
                })
            })
            .collect()
    }

    #[test]
    fn every_served_method_has_an_entry() {
        let mut all = methods(proto::FILE_DESCRIPTOR_SET);
        all.extend(methods(tonic_health::pb::FILE_DESCRIPTOR_SET));
        all.extend(methods(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET));
        all.extend(methods(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET));
        assert!(all.len() > 30, "too few methods found: {all:?}");
        let missing: Vec<&String> = all.iter().filter(|m| need(m).is_none()).collect();
        assert!(
            missing.is_empty(),
            "methods without a policy entry: {missing:?}"
        );
        // And no entry names a method that does not exist (a typo would
        // leave the real one denied, and the table lying).
        let stale: Vec<&str> = TABLE
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| !all.iter().any(|m| m == p))
            .collect();
        assert!(stale.is_empty(), "entries for no method: {stale:?}");
    }

    #[test]
    fn every_api_route_in_the_openapi_document_has_an_entry() {
        let doc = crate::http::openapi();
        let mut routes = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
            ] {
                if op.is_some() {
                    routes.push(format!("{method} {path}"));
                }
            }
        }
        assert!(routes.len() >= 16, "too few routes: {routes:?}");
        let missing: Vec<&String> = routes
            .iter()
            .filter(|r| !HTTP_TABLE.iter().any(|(t, _)| t == r))
            .collect();
        assert!(
            missing.is_empty(),
            "API routes without a policy entry: {missing:?}"
        );
        // Every API entry is a served route (the dashboard's are checked
        // against its router in http::dashboard's tests).
        let stale: Vec<&str> = HTTP_TABLE
            .iter()
            .map(|(r, _)| *r)
            .filter(|r| r.contains(" /api/") && !routes.iter().any(|x| x == r))
            .collect();
        assert!(stale.is_empty(), "API entries for no route: {stale:?}");
    }

    #[test]
    fn http_routes_match_by_method_and_segment() {
        assert_eq!(need_http("GET", "/api/v1/jobs/a"), Some(Perm(Read)));
        assert_eq!(need_http("HEAD", "/api/v1/jobs/a"), Some(Perm(Read)));
        assert_eq!(need_http("PUT", "/api/v1/jobs/a"), Some(Perm(Write)));
        assert_eq!(need_http("GET", "/api/v1/jobs/a/next"), Some(Perm(Read)));
        assert_eq!(need_http("POST", "/api/v1/jobs/a/next"), None);
        assert_eq!(need_http("GET", "/api/v1/jobs/"), None);
        assert_eq!(need_http("GET", "/api/v1/jobs/a/b/c"), None);
        assert_eq!(need_http("GET", "/api/v1/tokens"), None);
        assert_eq!(need_http("GET", "/"), Some(Perm(Read)));
        assert_eq!(need_http("PUT", "/api/v1/calendars/x"), Some(Perm(Write)));
        assert_eq!(need_http("GET", "/api/v1/calendars"), Some(Perm(Read)));
    }

    #[test]
    fn unknown_methods_are_denied() {
        assert_eq!(need("/scheduler.v1.JobService/DropEverything"), None);
        assert_eq!(need(""), None);
    }
}
