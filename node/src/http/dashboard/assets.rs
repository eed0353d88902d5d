//! The dashboard's own script and stylesheet, compiled into the binary
//! (`include_str!`): no asset comes from anywhere else.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");

/// The stylesheet, with the timeline's position classes `.x0` to
/// `.x100` (`left: N%`) appended: positions by class, so the strict
/// content security policy needs no inline style.
fn style() -> &'static str {
    static CSS: OnceLock<String> = OnceLock::new();
    CSS.get_or_init(|| {
        let mut css = String::from(STYLE);
        for i in 0..=100 {
            css.push_str(&format!(".x{i}{{left:{i}%}}\n"));
        }
        css
    })
}

/// A version of the assets, in their URLs: a new binary's pages never
/// use an old binary's cached script.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn etag(body: &str) -> String {
    format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(body.as_bytes()))
}

/// `GET /assets/{file}`.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let (body, kind) = match file.as_str() {
        "dashboard.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "dashboard.css" => (style(), "text/css; charset=utf-8"),
        _ => {
            return super::html::secure(
                (StatusCode::NOT_FOUND, format!("no asset {file:?}\n")).into_response(),
            );
        }
    };
    let tag = etag(body);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == tag);
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, kind)], body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    super::html::secure(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_opens_the_event_stream_and_uses_no_outside_url() {
        assert!(SCRIPT.contains("new EventSource('/api/v1/events')"));
        for text in [SCRIPT, style()] {
            assert!(!text.contains("http://") && !text.contains("https://"));
            assert!(!text.contains("//cdn"), "no asset from outside the binary");
        }
        // The script never writes server text as markup except fragments
        // of our own pages.
        assert!(!SCRIPT.contains("eval("));
        assert!(style().contains(".x100{left:100%}"));
    }
}
