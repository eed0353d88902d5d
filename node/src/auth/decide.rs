//! The decision in front of every call: who the caller is (a bearer
//! token, else the connection's certificate) and whether the policy table
//! lets them call the path. Pure functions of the applied state, so the
//! tests drive them without a server; the tower layer that applies them
//! to every request is `server::auth_layer`. A refusal is a gRPC status:
//! UNAUTHENTICATED when the caller is not known, PERMISSION_DENIED when it
//! may not. Neither names a secret.

use store::model::{Permission, Role};
use store::state::State;
use tonic::Status;

use super::policy::{self, Need};
use super::secret;
use super::{Caller, CertPrincipal};

/// The cookie the dashboard's sign-in page sets (HttpOnly, SameSite=Strict).
pub const TOKEN_COOKIE: &str = "schedulerd_token";

/// The bearer token of `authorization: Bearer <secret>`, else of the
/// dashboard's cookie, if any.
pub fn bearer(headers: &http::HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
            .filter(|t| !t.is_empty());
    }
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == TOKEN_COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// [`check`] for an HTTP route (`method path`, by [`policy::HTTP_TABLE`]).
/// A route not in the table does not exist: NOT_FOUND.
pub fn check_http(
    s: &State,
    secure: bool,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    cert: Option<&CertPrincipal>,
) -> Result<Caller, Status> {
    let Some(need) = policy::need_http(method, path) else {
        return Err(Status::not_found(format!(
            "no route {method} {path}: see /api/v1/openapi.json for the API's routes"
        )));
    };
    decide(s, secure, &format!("{method} {path}"), need, bearer, cert)
}

/// The whole decision, on the applied state: who calls `path`, and may
/// they. Pure, so the tests drive it without a server.
pub fn check(
    s: &State,
    secure: bool,
    path: &str,
    bearer: Option<&str>,
    cert: Option<&CertPrincipal>,
) -> Result<Caller, Status> {
    let Some(need) = policy::need(path) else {
        return Err(Status::permission_denied(format!(
            "{path} is not in the policy table, so nobody may call it"
        )));
    };
    decide(s, secure, path, need, bearer, cert)
}

fn decide(
    s: &State,
    secure: bool,
    what: &str,
    need: Need,
    bearer: Option<&str>,
    cert: Option<&CertPrincipal>,
) -> Result<Caller, Status> {
    let enforced = secure || s.acl_bootstrapped();
    let caller = match principal(s, enforced, bearer, cert) {
        Ok(c) => c,
        // An open call (status, health, the ACL bootstrap) from a client
        // certificate that names no token yet is anonymous, not refused:
        // the first admin of a secure cluster may hold only a certificate
        // until its token exists. A wrong bearer token is still refused.
        Err(_) if need == Need::Open && bearer.is_none() => Caller::anonymous(enforced),
        Err(e) => return Err(e),
    };
    let ok = match need {
        Need::Open => true,
        Need::Peer => !secure || caller.node.is_some(),
        Need::AdminOrPeer => caller.node.is_some() || caller.may(Permission::Admin),
        Need::Perm(p) => caller.may(p),
    };
    if ok {
        return Ok(caller);
    }
    Err(refusal(&caller, what, need))
}

/// Who is calling: the token's principal, else the certificate's.
fn principal(
    s: &State,
    enforced: bool,
    bearer: Option<&str>,
    cert: Option<&CertPrincipal>,
) -> Result<Caller, Status> {
    let mut caller = Caller::anonymous(enforced);
    if let Some(secret) = bearer {
        match s.token_by_hash(&secret::hash(secret)) {
            Some(t) => {
                caller.name = t.name.clone();
                caller.role = Some(t.role);
                caller.queues = t.queues.clone();
                return Ok(caller);
            }
            None if enforced => {
                return Err(Status::unauthenticated(
                    "the token is not known to this cluster (revoked, or never issued here)",
                ));
            }
            None => {}
        }
    }
    match cert {
        Some(CertPrincipal::Node(id)) => {
            caller.name = format!("node-{id}");
            caller.node = Some(*id);
        }
        Some(CertPrincipal::User(user)) => match s.token(user) {
            Some(t) => {
                caller.name = t.name.clone();
                caller.role = Some(t.role);
                caller.queues = t.queues.clone();
            }
            None if enforced => {
                return Err(Status::unauthenticated(format!(
                    "client certificate user {user:?} has no token of that name, so no role"
                )));
            }
            None => {}
        },
        None => {}
    }
    Ok(caller)
}

fn refusal(caller: &Caller, path: &str, need: Need) -> Status {
    let needs = match need {
        Need::Peer => {
            return Status::unauthenticated(format!(
                "{path} is for cluster members: it needs a node certificate of the cluster's CA"
            ));
        }
        Need::AdminOrPeer | Need::Perm(Permission::Admin) => "the admin role",
        Need::Perm(Permission::Read) => "a role that reads (reader, writer, shell or admin)",
        Need::Perm(Permission::Write) => "a role that writes (writer, shell or admin)",
        Need::Perm(Permission::WriteShell) => "the shell or admin role",
        Need::Perm(Permission::Work) => "the worker or admin role",
        Need::Open => "nothing",
    };
    match caller.role {
        None if caller.node.is_none() => Status::unauthenticated(format!(
            "{path} needs a token ({needs}): pass --token or set $CLUSTERCTL_TOKEN \
             (over HTTP: send Authorization: Bearer <token>)"
        )),
        role => Status::permission_denied(format!(
            "{} ({}) may not call {path}: it needs {needs}",
            caller.name,
            role.map_or("a node", Role::as_str)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::command::Command;
    use store::model::TokenRecord;
    use tonic::Code;

    fn state_with(tokens: &[(&str, Role, &str)]) -> State {
        let mut s = State::default();
        for (i, (name, role, secret)) in tokens.iter().enumerate() {
            let token = TokenRecord {
                name: (*name).into(),
                role: *role,
                hash: secret::hash(secret),
                queues: Vec::new(),
                created_at: 0,
                created_by: "test".into(),
            };
            let cmd = if i == 0 {
                Command::AclBootstrap { token }
            } else {
                Command::CreateToken { token }
            };
            s.apply(i as u64 + 1, &cmd);
        }
        s
    }

    const CREATE: &str = "/scheduler.v1.JobService/CreateJob";
    const LIST: &str = "/scheduler.v1.JobService/ListJobs";
    const JOIN: &str = "/scheduler.v1.ClusterService/AddMember";
    const APPEND: &str = "/scheduler.internal.v1.RaftService/Append";

    #[test]
    fn open_until_bootstrapped_then_default_deny() {
        let open = State::default();
        let c = check(&open, false, CREATE, None, None).expect("open before bootstrap");
        assert!(!c.enforced);
        let s = state_with(&[
            ("root", Role::Admin, "sdt_root"),
            ("r", Role::Reader, "sdt_r"),
            ("w", Role::Writer, "sdt_w"),
        ]);
        let code = |path, token| {
            check(&s, false, path, token, None)
                .map(|c| c.name)
                .map_err(|e| e.code())
        };
        assert_eq!(code(CREATE, None), Err(Code::Unauthenticated));
        assert_eq!(
            code(CREATE, Some("sdt_revoked")),
            Err(Code::Unauthenticated)
        );
        assert_eq!(code(CREATE, Some("sdt_r")), Err(Code::PermissionDenied));
        assert_eq!(code(LIST, Some("sdt_r")), Ok("r".into()));
        assert_eq!(code(CREATE, Some("sdt_w")), Ok("w".into()));
        assert_eq!(code(JOIN, Some("sdt_w")), Err(Code::PermissionDenied));
        assert_eq!(code(JOIN, Some("sdt_root")), Ok("root".into()));
        assert_eq!(
            code("/scheduler.v1.ClusterService/Status", None),
            Ok("anonymous".into())
        );
        assert_eq!(
            code("/grpc.health.v1.Health/Check", None),
            Ok("anonymous".into())
        );
        assert_eq!(
            code("/no.Such/Method", Some("sdt_root")),
            Err(Code::PermissionDenied)
        );
    }

    #[test]
    fn peers_need_a_node_certificate_under_tls() {
        let s = State::default();
        assert!(
            check(&s, false, APPEND, None, None).is_ok(),
            "no TLS: peers open"
        );
        let refused = check(&s, true, APPEND, None, None).expect_err("no cert under TLS");
        assert_eq!(refused.code(), Code::Unauthenticated);
        let user = CertPrincipal::User("alice".into());
        assert!(
            check(&s, true, APPEND, None, Some(&user)).is_err(),
            "a user's certificate"
        );
        let node = CertPrincipal::Node(2);
        let c = check(&s, true, APPEND, None, Some(&node)).expect("a node certificate");
        assert_eq!(c.node, Some(2));
        assert!(
            check(&s, true, JOIN, None, Some(&node)).is_ok(),
            "a node joins"
        );
        // Under TLS, calls are checked before any bootstrap.
        assert_eq!(
            check(&s, true, CREATE, None, None)
                .map_err(|e| e.code())
                .err(),
            Some(Code::Unauthenticated)
        );
    }

    #[test]
    fn a_client_certificate_gets_the_role_of_the_token_of_its_name() {
        let s = state_with(&[
            ("root", Role::Admin, "sdt_root"),
            ("ci", Role::Writer, "sdt_ci"),
        ]);
        let ci = CertPrincipal::User("ci".into());
        let c = check(&s, true, CREATE, None, Some(&ci)).expect("a writer's certificate");
        assert_eq!((c.name.as_str(), c.role), ("ci", Some(Role::Writer)));
        assert_eq!(
            check(&s, true, JOIN, None, Some(&ci))
                .map_err(|e| e.code())
                .err(),
            Some(Code::PermissionDenied)
        );
        let nobody = CertPrincipal::User("mallory".into());
        assert_eq!(
            check(&s, true, LIST, None, Some(&nobody))
                .map_err(|e| e.code())
                .err(),
            Some(Code::Unauthenticated),
            "a certificate user with no token of that name"
        );
        // A bearer token wins over the certificate.
        let c = check(&s, true, JOIN, Some("sdt_root"), Some(&ci)).expect("the admin token");
        assert_eq!(c.name, "root");
    }

    #[test]
    fn refusals_never_name_the_secret() {
        let s = state_with(&[
            ("root", Role::Admin, "sdt_root"),
            ("r", Role::Reader, "sdt_rrr"),
        ]);
        for (path, token) in [(CREATE, "sdt_rrr"), (CREATE, "sdt_unknownsecret")] {
            let e = check(&s, false, path, Some(token), None).expect_err("refused");
            assert!(!e.message().contains(token), "{}", e.message());
        }
    }

    #[test]
    fn bearer_header_parsing() {
        let mut h = http::HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            http::header::AUTHORIZATION,
            "Bearer sdt_x".parse().expect("header"),
        );
        assert_eq!(bearer(&h).as_deref(), Some("sdt_x"));
        h.insert(
            http::header::AUTHORIZATION,
            "bearer  sdt_y ".parse().expect("header"),
        );
        assert_eq!(bearer(&h).as_deref(), Some("sdt_y"));
        h.insert(
            http::header::AUTHORIZATION,
            "Basic abc".parse().expect("header"),
        );
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn a_certificate_without_a_token_may_call_only_what_is_open() {
        // A secure cluster before its bootstrap: the first admin holds only
        // a certificate, and must reach status and the bootstrap itself.
        let s = State::default();
        let user = CertPrincipal::User("chaos".into());
        let status = "/scheduler.v1.ClusterService/Status";
        let c = check(&s, true, status, None, Some(&user)).expect("status is open");
        assert!(c.role.is_none(), "anonymous: {c:?}");
        let e = check(&s, true, LIST, None, Some(&user)).expect_err("listing needs a role");
        assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
        // A wrong bearer token stays refused, even on an open call.
        let e = check(&s, true, status, Some("sdt_wrong"), None).expect_err("a wrong token");
        assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    }
}
