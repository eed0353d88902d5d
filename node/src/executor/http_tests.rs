//! HTTP executor tests against a tiny HTTP/1.1 server of their own on
//! 127.0.0.1:0.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use store::model::{AttemptState, ExecutorSpec, HttpSpec, MAX_OUTPUT_TAIL};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::http::MAX_BODY_READ;
use super::{Executors, RunContext, RunOutcome, test_ctx};

/// A request as the server saw it.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Which accepted connection it came on (0, 1, ...).
    conn: usize,
}

impl Seen {
    /// Every value of header `name`, whatever its case.
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// How the server answers every request.
#[derive(Clone, Debug)]
enum Reply {
    /// This status and body.
    Full(u16, &'static str),
    /// Nothing, ever.
    Silence,
    /// Status 200 and part of a body, then nothing.
    StalledBody,
    /// Status 200 and an endless body: `pattern(i)` for i = 0, 1, ...
    Endless,
}

fn pattern(i: usize) -> u8 {
    b"0123456789abcdefghijklmnopqrstuvwxyz"[i % 36]
}

/// Starts a server answering `reply`; it reports each request it reads.
async fn serve(reply: Reply) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut conn = 0;
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(connection(stream, conn, reply.clone(), tx.clone()));
            conn += 1;
        }
    });
    (addr, rx)
}

/// Serves requests on one kept-alive connection until the client closes it.
async fn connection(stream: TcpStream, conn: usize, reply: Reply, tx: mpsc::UnboundedSender<Seen>) {
    let mut stream = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if stream.read_line(&mut h).await.unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let _ = tx.send(Seen {
            method,
            path,
            headers,
            body,
            conn,
        });

        let s = stream.get_mut();
        let written = match &reply {
            Reply::Full(status, body) => {
                // A redirect says where to, so a client could follow it.
                let location = if (300..400).contains(status) {
                    "location: /again\r\n"
                } else {
                    ""
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\n{location}content-length: {}\r\n\r\n",
                    body.len()
                );
                s.write_all(format!("{head}{body}").as_bytes()).await
            }
            Reply::Silence => std::future::pending().await,
            Reply::StalledBody => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                    .await;
                std::future::pending().await
            }
            Reply::Endless => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n")
                    .await;
                let mut i = 0;
                loop {
                    let chunk: Vec<u8> = (i..i + 4096).map(pattern).collect();
                    if s.write_all(&chunk).await.is_err() {
                        return;
                    }
                    i += 4096;
                }
            }
        };
        if written.is_err() {
            return;
        }
    }
}

fn spec(addr: SocketAddr, path: &str) -> HttpSpec {
    HttpSpec {
        method: "POST".into(),
        url: format!("http://{addr}{path}"),
        headers: Default::default(),
        body: b"payload".to_vec().into(),
        success_codes: Default::default(),
    }
}

fn ctx() -> RunContext {
    test_ctx(&std::env::temp_dir())
}

async fn run_http(ex: &Executors, spec: HttpSpec, ctx: &RunContext) -> RunOutcome {
    ex.run(&ExecutorSpec::Http(spec), ctx, std::future::pending())
        .await
}

fn executors() -> Executors {
    Executors::new().expect("http client")
}

#[tokio::test]
async fn sends_method_body_headers_and_the_contract() {
    let (addr, mut seen) = serve(Reply::Full(200, "thanks")).await;
    let ctx = ctx();
    let mut spec = spec(addr, "/hook?x=1");
    spec.method = "PUT".into();
    spec.headers = vec![
        ("Content-Type".into(), "application/json".into()),
        ("X-Twice".into(), "a".into()),
        ("X-Twice".into(), "b".into()),
        // A job cannot spoof the contract.
        ("X-Scheduler-Node-Id".into(), "999".into()),
    ]
    .into();
    let out = run_http(&executors(), spec, &ctx).await;
    assert_eq!(out.state, AttemptState::Succeeded, "{out:?}");
    assert_eq!(out.exit_code, Some(200));
    assert_eq!(out.output_tail, "thanks");

    let req = seen.recv().await.expect("a request");
    assert_eq!(req.method, "PUT");
    assert_eq!(req.path, "/hook?x=1");
    assert_eq!(req.body, b"payload");
    assert_eq!(req.header("content-type"), ["application/json"]);
    assert_eq!(req.header("x-twice"), ["a", "b"]);
    for (_, header, value) in ctx.contract() {
        assert_eq!(req.header(header), [value.as_str()], "{header}");
    }
    assert_eq!(req.header("X-Scheduler-Job-Id"), ["job-1"]);
    assert_eq!(
        req.header("X-Scheduler-Occurrence-Id"),
        ["job-1@2026-03-08T07:30:00.000Z"]
    );
    assert_eq!(
        req.header("X-Scheduler-Scheduled-At"),
        ["2026-03-08T07:30:00.000Z"]
    );
    assert_eq!(req.header("X-Scheduler-Fencing-Token"), ["2752515"]);
    assert_eq!(req.header("X-Scheduler-Attempt"), ["2"]);
    assert_eq!(req.header("X-Scheduler-Node-Id"), ["7"]);
}

#[tokio::test]
async fn a_get_without_a_body_sends_none() {
    let (addr, mut seen) = serve(Reply::Full(204, "")).await;
    let mut spec = spec(addr, "/");
    spec.method = "GET".into();
    spec.body.clear();
    let out = run_http(&executors(), spec, &ctx()).await;
    assert_eq!(
        (out.state, out.exit_code),
        (AttemptState::Succeeded, Some(204))
    );
    let req = seen.recv().await.expect("a request");
    assert_eq!(req.method, "GET");
    assert!(req.header("content-length").is_empty(), "{req:?}");
}

#[tokio::test]
async fn status_mapping() {
    let ex = executors();
    let cases: [(u16, &[u16], AttemptState); 6] = [
        (200, &[], AttemptState::Succeeded),
        (299, &[], AttemptState::Succeeded),
        (500, &[], AttemptState::Failed),
        (404, &[], AttemptState::Failed),
        (500, &[500, 503], AttemptState::Succeeded),
        (200, &[201], AttemptState::Failed),
    ];
    for (status, codes, want) in cases {
        let (addr, _seen) = serve(Reply::Full(status, "server says")).await;
        let mut spec = spec(addr, "/");
        spec.success_codes = codes.to_vec().into();
        let out = run_http(&ex, spec, &ctx()).await;
        assert_eq!(out.state, want, "{status} with {codes:?}: {out:?}");
        assert_eq!(out.exit_code, Some(i32::from(status)));
        assert_eq!(out.output_tail, "server says");
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (addr, mut seen) = serve(Reply::Full(302, "elsewhere")).await;
    let out = run_http(&executors(), spec(addr, "/"), &ctx()).await;
    assert_eq!(
        (out.state, out.exit_code),
        (AttemptState::Failed, Some(302))
    );
    assert!(seen.recv().await.is_some());
    assert!(seen.try_recv().is_err(), "a second request");
}

#[tokio::test]
async fn connection_refused_fails_clearly() {
    // A port that was just free: nothing listens on it.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("local addr");
    let out = run_http(&executors(), spec(addr, "/hook"), &ctx()).await;
    assert_eq!((out.state, out.exit_code), (AttemptState::Failed, None));
    assert!(
        out.output_tail
            .starts_with(&format!("POST http://{addr}/hook: ")),
        "{out:?}"
    );
    assert!(
        out.output_tail
            .to_lowercase()
            .contains("connection refused"),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let (addr, _seen) = serve(Reply::Silence).await;
    let mut ctx = ctx();
    ctx.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let out = run_http(&executors(), spec(addr, "/"), &ctx).await;
    assert_eq!(
        (out.state, out.exit_code),
        (AttemptState::TimedOut, None),
        "{out:?}"
    );
    assert!(
        out.output_tail.contains("no response within 300ms"),
        "{out:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stalled_body_times_out_with_its_status() {
    let (addr, _seen) = serve(Reply::StalledBody).await;
    let mut ctx = ctx();
    ctx.timeout = Some(Duration::from_millis(300));
    let out = run_http(&executors(), spec(addr, "/"), &ctx).await;
    assert_eq!(
        (out.state, out.exit_code),
        (AttemptState::TimedOut, Some(200)),
        "{out:?}"
    );
    assert!(
        out.output_tail
            .starts_with("partial\n[schedulerd] the body did not finish"),
        "{out:?}"
    );
}

#[tokio::test]
async fn the_body_read_is_bounded_and_the_tail_keeps_its_end() {
    let (addr, _seen) = serve(Reply::Endless).await;
    let out = run_http(&executors(), spec(addr, "/"), &ctx()).await;
    assert_eq!(
        (out.state, out.exit_code),
        (AttemptState::Succeeded, Some(200)),
        "{:?}",
        out.state
    );
    let want: Vec<u8> = (MAX_BODY_READ - MAX_OUTPUT_TAIL..MAX_BODY_READ)
        .map(pattern)
        .collect();
    assert_eq!(out.output_tail.as_bytes(), want.as_slice());
}

#[tokio::test]
async fn cancel_aborts_the_request() {
    let (addr, mut seen) = serve(Reply::Silence).await;
    let ex = executors();
    let spec = ExecutorSpec::Http(spec(addr, "/"));
    let ctx = ctx();
    // Cancel once the server has the request.
    let cancel = async {
        seen.recv().await;
    };
    let out = ex.run(&spec, &ctx, cancel).await;
    assert_eq!(out, RunOutcome::cancelled());
    assert_eq!(out.output_tail, "cancelled");
}

#[tokio::test]
async fn one_pool_serves_many_attempts() {
    let (addr, mut seen) = serve(Reply::Full(200, "ok")).await;
    let ex = executors();
    for _ in 0..3 {
        let out = run_http(&ex, spec(addr, "/"), &ctx()).await;
        assert_eq!(out.state, AttemptState::Succeeded);
    }
    let conns: Vec<usize> = (0..3)
        .map(|_| seen.try_recv().expect("a request").conn)
        .collect();
    assert_eq!(conns, [0, 0, 0], "a connection per attempt");
}

#[tokio::test]
async fn the_free_function_runs_http_too() {
    let (addr, _seen) = serve(Reply::Full(201, "made")).await;
    let out = super::run(
        &ExecutorSpec::Http(spec(addr, "/")),
        &ctx(),
        std::future::pending(),
    )
    .await;
    assert_eq!(
        (out.state, out.exit_code),
        (AttemptState::Succeeded, Some(201))
    );
    assert_eq!(out.output_tail, "made");
}

#[tokio::test]
async fn bad_requests_fail_with_a_reason() {
    let ex = executors();
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    type Edit = fn(&mut HttpSpec);
    let cases: [(Edit, &str); 5] = [
        (|s| s.method = "BAD METHOD".into(), "invalid HTTP method"),
        (|s| s.url = "not a url".into(), "invalid URL"),
        (
            |s| s.url = "ftp://example.com/".into(),
            "only http and https",
        ),
        (
            |s| s.headers = vec![("bad name".into(), "v".into())].into(),
            "invalid header name",
        ),
        (
            |s| s.headers = vec![("X-Ok".into(), "line\nbreak".into())].into(),
            "invalid value for header X-Ok",
        ),
    ];
    for (edit, why) in cases {
        let mut spec = spec(addr, "/");
        edit(&mut spec);
        let out = run_http(&ex, spec, &ctx()).await;
        assert_eq!(out.state, AttemptState::Failed, "{why}");
        assert!(out.output_tail.contains(why), "{why}: {out:?}");
    }
}

#[tokio::test]
async fn the_url_password_is_not_shown() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("local addr");
    let mut spec = spec(addr, "/");
    spec.url = format!("http://user:s3cret@{addr}/");
    let out = run_http(&executors(), spec, &ctx()).await;
    assert_eq!(out.state, AttemptState::Failed);
    assert!(!out.output_tail.contains("s3cret"), "{out:?}");
    assert!(out.output_tail.contains("user@"), "{out:?}");
}
