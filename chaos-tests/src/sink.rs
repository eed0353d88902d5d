//! A fencing-aware HTTP sink, as docs/guarantees.md ("Exactly once needs a
//! fencing-aware sink") describes: it keeps the first
//! effect per occurrence id and refuses any write whose token is lower
//! than the highest it accepted for that job. It records every request
//! with its contract headers and receive time, accepted or not, so checks
//! can count duplicates and stale writes.

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request as the sink saw it.
#[derive(Clone, Debug)]
pub struct Hit {
    pub job_id: String,
    pub occurrence_id: String,
    pub scheduled_at: String,
    pub fencing_token: u64,
    pub attempt: u32,
    pub node_id: u64,
    pub received_at: SystemTime,
    pub accepted: bool,
}

impl Hit {
    /// The receive time in Unix milliseconds.
    pub fn received_ms(&self) -> i64 {
        self.received_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

#[derive(Default)]
struct Inner {
    hits: Vec<Hit>,
    seen: HashSet<String>,
    highest: BTreeMap<String, u64>,
}

/// The sink: `http://{addr}/` accepts POSTs (any path).
#[derive(Clone)]
pub struct Sink {
    /// Where it listens.
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl Sink {
    /// Starts a sink on an ephemeral loopback port; it runs until the
    /// runtime ends.
    pub async fn start() -> std::io::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let sink = Sink {
            addr: listener.local_addr()?,
            inner: Arc::default(),
        };
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let s = s.clone();
                        async move { Ok::<_, Infallible>(s.handle(&req)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(sink)
    }

    /// The URL to give jobs.
    pub fn url(&self) -> String {
        format!("http://{}/effect", self.addr)
    }

    fn handle(&self, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let h = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let mut hit = Hit {
            job_id: h("x-scheduler-job-id"),
            occurrence_id: h("x-scheduler-occurrence-id"),
            scheduled_at: h("x-scheduler-scheduled-at"),
            fencing_token: h("x-scheduler-fencing-token").parse().unwrap_or(0),
            attempt: h("x-scheduler-attempt").parse().unwrap_or(0),
            node_id: h("x-scheduler-node-id").parse().unwrap_or(0),
            received_at: SystemTime::now(),
            accepted: false,
        };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let stale = hit.fencing_token < inner.highest.get(&hit.job_id).copied().unwrap_or(0);
        let duplicate = inner.seen.contains(&hit.occurrence_id);
        hit.accepted = !stale && !duplicate && !hit.occurrence_id.is_empty();
        if hit.accepted {
            inner.seen.insert(hit.occurrence_id.clone());
            inner.highest.insert(hit.job_id.clone(), hit.fencing_token);
        }
        let status = if hit.accepted {
            StatusCode::OK
        } else {
            StatusCode::CONFLICT
        };
        inner.hits.push(hit);
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::new()))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }

    /// How many requests so far.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .hits
            .len()
    }

    /// Whether no request came yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The requests from the `from`-th on, in arrival order: a poller
    /// copies only what is new (a benchmark's sink holds millions).
    pub fn hits_since(&self, from: usize) -> Vec<Hit> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .hits
            .get(from..)
            .map_or_else(Vec::new, <[Hit]>::to_vec)
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .hits
            .clone()
    }
}
