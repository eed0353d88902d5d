//! Signing in: a form for a token (as `clusterctl acl token create`
//! printed it), kept in the cookie the auth layer reads
//! ([`TOKEN_COOKIE`]: `HttpOnly`, `SameSite=Strict`, `Secure` over TLS),
//! and signing out. A token the cluster does not know is refused here,
//! so a typo is said at once rather than on every page.

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use store::model::MAX_LOGIN_FORM as MAX_FORM;

use super::html::{self, Html, Nav, esc};
use crate::app::App;
use crate::auth::decide::TOKEN_COOKIE;
use crate::http::extract::Query;

/// Where to go after signing in.
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

/// `next` when it is a path on this site (`/...`, never `//host` or
/// `/\host`, which browsers take as another site), else `/`.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_string()
        }
        _ => "/".into(),
    }
}

fn render(node: u64, next: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"login-error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1>{error}<form method=\"post\" action=\"/login\" class=\"login\">\
<label>Token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" \
placeholder=\"sdt_…\" required autofocus></label>\
<input type=\"hidden\" name=\"next\" value=\"{next}\">\
<button type=\"submit\">Sign in</button></form>\
<p class=\"muted\">A token from <code>clusterctl acl token create NAME --role reader</code>. \
It is kept in a cookie that scripts cannot read.</p>",
        next = esc(next),
    );
    html::page("Sign in", Nav::None, "login", node, &body)
}

/// `GET /login`.
pub async fn form(State(app): State<App>, Query(q): Query<NextQuery>) -> Html {
    html::ok(render(app.node.id, &local_path(q.next.as_deref()), None))
}

/// Whether a request came over TLS (the TLS accept loop tags each one).
fn over_tls(req: &Request) -> bool {
    req.extensions().get::<crate::tls::PeerInfo>().is_some()
}

/// Whether the `Origin`, when the browser sent one, is this host: a
/// sign-in posted from another site is refused.
fn same_origin(req: &Request) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, rest)| !host.is_empty() && rest == host)
}

/// The cookie that holds `value` (empty and expired to clear it).
pub fn cookie(value: &str, secure: bool) -> String {
    let expire = if value.is_empty() { "; Max-Age=0" } else { "" };
    let secure = if secure { "; Secure" } else { "" };
    format!("{TOKEN_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/{secure}{expire}")
}

fn with_cookie(mut resp: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `POST /login`: form fields `token` and `next`.
pub async fn sign_in(State(app): State<App>, req: Request) -> Response {
    let node = app.node.id;
    let secure = over_tls(&req);
    if !same_origin(&req) {
        return Html(
            StatusCode::FORBIDDEN,
            render(node, "/", Some("a sign-in from another site is refused")),
        )
        .into_response();
    }
    let Ok(body) = to_bytes(req.into_body(), MAX_FORM).await else {
        return Html(
            StatusCode::PAYLOAD_TOO_LARGE,
            render(node, "/", Some("the form could not be read")),
        )
        .into_response();
    };
    let (mut token, mut next) = (String::new(), None);
    for (k, v) in form_urlencoded::parse(&body) {
        match &*k {
            "token" => token = v.trim().to_string(),
            "next" => next = Some(v.into_owned()),
            _ => {}
        }
    }
    let next = local_path(next.as_deref());
    // A cookie value may not hold these; no token has them.
    let well_formed = !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_graphic() && c != ';' && c != ',' && c != '"' && c != '\\');
    let hash = crate::auth::secret::hash(&token);
    let known = well_formed && app.node.state.read(|s| s.token_by_hash(&hash).is_some());
    if !known {
        return Html(
            StatusCode::UNAUTHORIZED,
            render(
                node,
                &next,
                Some(
                    "that token is not known to this cluster (revoked, mistyped, or never issued)",
                ),
            ),
        )
        .into_response();
    }
    with_cookie(super::see_other(&next), &cookie(&token, secure))
}

/// `POST /logout`: clears the cookie.
pub async fn sign_out(req: Request) -> Response {
    let secure = over_tls(&req);
    with_cookie(super::see_other("/login"), &cookie("", secure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/jobs?x=1")), "/jobs?x=1");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/a\nb")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        assert_eq!(
            cookie("sdt_x", false),
            "schedulerd_token=sdt_x; HttpOnly; SameSite=Strict; Path=/"
        );
        assert!(cookie("sdt_x", true).ends_with("; Secure"));
        assert!(cookie("", false).contains("Max-Age=0"));
    }

    #[test]
    fn the_form_escapes_next_and_the_error() {
        let page = render(1, "/jobs\"><script>", Some("<b>"));
        assert!(!page.contains("<script>") && !page.contains("<b>"));
    }
}
