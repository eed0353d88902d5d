//! Writing HTML safely with `format!`: [`esc`] for every piece of text
//! that is not our own markup (ids, names, labels, reasons, output),
//! [`seg`] for a value in a URL path, [`q`] for one in a query string, and
//! the page frame ([`page`]) with its security headers.
//!
//! The rule the pages follow: a `{}` in a format string of markup takes
//! either a literal of ours, a number, or the result of one of these
//! functions (or of a function here that returns markup built the same
//! way). The unit tests render hostile text through every page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `s` as HTML text or a quoted attribute value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` as one URL path segment (unreserved characters kept, the rest
/// percent-encoded), already escaped for an attribute.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `s` as a query-string value, already escaped for an attribute.
pub fn q(s: &str) -> String {
    esc(&form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>())
}

/// Where a page sits in the navigation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Nav {
    Overview,
    Jobs,
    Timeline,
    Events,
    None,
}

/// The stylesheet and script URLs, with a version so a new binary's
/// assets are never mixed with an old page's.
fn asset(file: &str) -> String {
    format!("/assets/{file}?v={}", super::assets::VERSION)
}

/// A whole page: `body` (markup) inside the frame, navigation and footer.
/// `kind` names the page for the script (`data-page`), `node` is the
/// answering node's id.
pub fn page(title: &str, nav: Nav, kind: &str, node: u64, body: &str) -> String {
    let link = |n: Nav, href: &str, text: &str| {
        let current = if n == nav {
            " aria-current=\"page\""
        } else {
            ""
        };
        format!("<a href=\"{href}\"{current}>{text}</a>")
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · schedulerd</title>\
<link rel=\"stylesheet\" href=\"{css}\">\
<script src=\"{js}\" defer></script></head>\
<body data-page=\"{kind}\" data-node=\"{node}\">\
<header><a class=\"brand\" href=\"/\">schedulerd</a><nav>{o}{j}{t}{e}</nav>\
<span class=\"live\" id=\"live\" title=\"live updates\">○ connecting</span></header>\
<div id=\"toast\" role=\"status\" aria-live=\"polite\" hidden></div>\
<main>{body}</main>\
<footer>answered by node {node} · <form method=\"post\" action=\"/logout\" class=\"inline\">\
<button type=\"submit\" class=\"link\">sign out</button></form></footer>\
</body></html>\n",
        title = esc(title),
        css = asset("dashboard.css"),
        js = asset("dashboard.js"),
        kind = esc(kind),
        o = link(Nav::Overview, "/", "Overview"),
        j = link(Nav::Jobs, "/jobs", "Jobs"),
        t = link(Nav::Timeline, "/timeline", "Timeline"),
        e = link(Nav::Events, "/events", "Events"),
    )
}

/// The headers every dashboard answer carries: no script, style or
/// connection from anywhere but this node, no framing, no sniffing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to `resp`.
pub fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// HTML markup as an answer (a page or a fragment), not cached.
pub struct Html(pub StatusCode, pub String);

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        let mut resp = (
            self.0,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            self.1,
        )
            .into_response();
        resp = secure(resp);
        resp
    }
}

/// An ok page or fragment.
pub fn ok(markup: String) -> Html {
    Html(StatusCode::OK, markup)
}

/// An RFC 3339 time as a `<time>` element showing a short UTC form; the
/// script turns it into the reader's local time.
pub fn time(t: Option<&str>) -> String {
    match t {
        None => "<span class=\"muted\">—</span>".into(),
        Some(t) => format!(
            "<time datetime=\"{a}\">{text}</time>",
            a = esc(t),
            text = esc(&short_time(t))
        ),
    }
}

/// `2026-01-02T03:04:05.678Z` as `2026-01-02 03:04:05`.
pub fn short_time(t: &str) -> String {
    let t = t.replacen('T', " ", 1);
    match t.find('.') {
        Some(i) => t[..i].to_string(),
        None => t.trim_end_matches('Z').to_string(),
    }
}

/// A countdown to `t`: kept current by the script.
pub fn countdown(t: Option<&str>) -> String {
    match t {
        None => "<span class=\"muted\">none</span>".into(),
        Some(t) => format!(
            "<time class=\"countdown\" datetime=\"{a}\">{text}</time>",
            a = esc(t),
            text = esc(&short_time(t))
        ),
    }
}

/// A run state's colour class: green, red, grey or blue.
pub fn state_class(state: &str) -> &'static str {
    match state {
        "succeeded" => "ok",
        "failed" | "timed_out" => "bad",
        "running" | "armed" => "run",
        _ => "idle",
    }
}

/// A run state as a coloured badge.
pub fn badge(state: &str) -> String {
    format!(
        "<span class=\"badge {c}\">{s}</span>",
        c = state_class(state),
        s = esc(&state.replace('_', " "))
    )
}

/// A job state as a badge.
pub fn job_badge(state: &str) -> String {
    let c = match state {
        "active" => "ok",
        "paused" => "paused",
        _ => "idle",
    };
    format!(
        "<span class=\"badge {c}\" data-state=\"{s}\">{s}</span>",
        s = esc(state)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(esc("plain-id_1.2:3"), "plain-id_1.2:3");
    }

    #[test]
    fn path_segments_and_queries_are_encoded() {
        assert_eq!(seg("a b/c\"<"), "a%20b%2Fc%22%3C");
        assert_eq!(seg("job-1.a_b~"), "job-1.a_b~");
        assert_eq!(q("team=a&b\"c"), "team%3Da%26b%22c");
    }

    #[test]
    fn the_frame_escapes_its_title_and_has_a_viewport() {
        let p = page("<x>", Nav::Jobs, "jobs", 2, "<p>body</p>");
        assert!(p.contains("&lt;x&gt; · schedulerd"));
        assert!(p.contains("name=\"viewport\""));
        assert!(p.contains("<a href=\"/jobs\" aria-current=\"page\">Jobs</a>"));
        assert!(p.contains("<p>body</p>"));
        assert!(!p.contains("<x>"));
    }

    #[test]
    fn times_are_short_and_escaped() {
        assert_eq!(
            short_time("2026-01-02T03:04:05.678Z"),
            "2026-01-02 03:04:05"
        );
        assert!(time(Some("\"><script>")).contains("&quot;&gt;&lt;script&gt;"));
    }
}
