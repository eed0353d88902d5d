//! The HTTP executor: one request per attempt, through a pooled client.
//!
//! - Method, URL, headers and body come from the job; the contract's
//!   `X-Scheduler-*` headers are set last, so a job cannot spoof them.
//! - Redirects are not followed: a redirect could repeat the effect
//!   elsewhere (or turn a POST into a GET), so a 3xx is reported as it is.
//! - Success is any 2xx, or exactly the job's `success_codes` when it has
//!   some. The status is the outcome's exit code.
//! - The whole exchange, body included, must finish within the attempt's
//!   timeout ([`DEFAULT_TIMEOUT`] when the job has none).
//! - At most [`MAX_BODY_READ`] bytes of the response body are read; the
//!   tail keeps the last [`store::model::MAX_OUTPUT_TAIL`] of them.

use std::future::Future;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use store::model::{AttemptState, HttpSpec, MAX_OUTPUT_TAIL};
use tokio::time::{Instant, timeout_at};

use super::tail::Tail;
use super::{RunContext, RunOutcome};

/// The timeout of a request whose job sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longer timeouts are cut to this (store caps policies at a year anyway).
const LONGEST_TIMEOUT: Duration = Duration::from_secs(10 * 366 * 24 * 3600);
/// How much of a response body is read at most.
pub const MAX_BODY_READ: usize = store::model::MAX_HTTP_BODY_READ;

/// Why the HTTP client could not be built (in practice: TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// The HTTP executor: a client whose connection pool all attempts share.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpExecutor {
    client: reqwest::Client,
}

impl HttpExecutor {
    /// An executor with a new client.
    pub fn new() -> Result<Self, ClientError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("schedulerd/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(HttpExecutor { client })
    }

    /// Runs one attempt of an HTTP job; see the module docs. Never panics;
    /// `cancel` resolving aborts the request (`Failed`, tail "cancelled").
    pub async fn run(
        &self,
        spec: &HttpSpec,
        ctx: &RunContext,
        cancel: impl Future<Output = ()>,
    ) -> RunOutcome {
        let (request, shown) = match self.request(spec, ctx) {
            Ok(r) => r,
            Err(why) => return RunOutcome::failed(why),
        };
        // Clamped so that the deadline cannot overflow (and panic).
        let limit = ctx.timeout.unwrap_or(DEFAULT_TIMEOUT).min(LONGEST_TIMEOUT);
        let deadline = Instant::now() + limit;
        tokio::select! {
            outcome = self.exchange(request, spec, &shown, deadline, limit) => outcome,
            () = cancel => RunOutcome::cancelled(),
        }
    }

    /// The request, and the URL as messages may show it (no password).
    fn request(
        &self,
        spec: &HttpSpec,
        ctx: &RunContext,
    ) -> Result<(reqwest::Request, String), String> {
        let method = match spec.method.as_str() {
            "" => Method::GET,
            m => Method::from_bytes(m.as_bytes())
                .map_err(|_| format!("invalid HTTP method {m:?}"))?,
        };
        let url = Url::parse(&spec.url).map_err(|e| format!("invalid URL {:?}: {e}", spec.url))?;
        let mut shown = url.clone();
        let _ = shown.set_password(None);
        let shown = format!("{method} {shown}");
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{shown}: only http and https URLs are supported"));
        }

        let mut headers = HeaderMap::new();
        for (name, value) in &spec.headers {
            headers.append(header_name(name)?, header_value(name, value)?);
        }
        for (_, name, value) in ctx.contract() {
            headers.insert(header_name(name)?, header_value(name, &value)?);
        }
        let mut builder = self.client.request(method, url).headers(headers);
        // No body at all rather than an empty one: a GET then carries no
        // Content-Length, which some servers refuse.
        if !spec.body.is_empty() {
            builder = builder.body(spec.body.to_vec());
        }
        let request = builder
            .build()
            .map_err(|e| format!("{shown}: {}", chain(&e.without_url())))?;
        Ok((request, shown))
    }

    /// Sends the request and reads the response, all before `deadline`.
    async fn exchange(
        &self,
        request: reqwest::Request,
        spec: &HttpSpec,
        shown: &str,
        deadline: Instant,
        limit: Duration,
    ) -> RunOutcome {
        let mut response = match timeout_at(deadline, self.client.execute(request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return RunOutcome::failed(format!("{shown}: {}", chain(&e.without_url())));
            }
            Err(_) => {
                return RunOutcome {
                    state: AttemptState::TimedOut,
                    exit_code: None,
                    output_tail: format!("{shown}: no response within {limit:?}"),
                };
            }
        };
        let status = response.status();
        let ok = if spec.success_codes.is_empty() {
            status.is_success()
        } else {
            spec.success_codes.contains(&status.as_u16())
        };

        let mut tail = Tail::new(MAX_OUTPUT_TAIL);
        let mut read = 0;
        let mut state = if ok {
            AttemptState::Succeeded
        } else {
            AttemptState::Failed
        };
        // Stop at MAX_BODY_READ: dropping the response then closes the
        // connection instead of reading an unbounded body to its end.
        while read < MAX_BODY_READ {
            match timeout_at(deadline, response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    let take = chunk.len().min(MAX_BODY_READ - read);
                    tail.push(&chunk[..take]);
                    read += take;
                }
                Ok(Ok(None)) => break,
                // The status is in; what it says stands, but say that the
                // body broke off.
                Ok(Err(e)) => {
                    tail.note(&format!("reading the body: {}", chain(&e.without_url())));
                    break;
                }
                Err(_) => {
                    tail.note(&format!("the body did not finish within {limit:?}"));
                    state = AttemptState::TimedOut;
                    break;
                }
            }
        }
        RunOutcome {
            state,
            exit_code: Some(i32::from(status.as_u16())),
            output_tail: tail.into_string(),
        }
    }
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}: {value:?}"))
}

/// An error with its causes: reqwest's own message alone ("error sending
/// request") hides the useful part ("Connection refused").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let msg = c.to_string();
        // Some errors repeat their cause in their own message.
        if !text.ends_with(&msg) {
            text.push_str(": ");
            text.push_str(&msg);
        }
        cause = c.source();
    }
    text
}
