//! Job specs of the scenarios, built through the public proto API, and
//! registering many of them with concurrent clients.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use proto::v1 as pb;
use proto::v1::job_service_client::JobServiceClient;
use tonic::transport::Channel;

use crate::time::{dur, ts};

pub use chaos_tests::pb::http;

/// A job with default policies.
pub fn spec(id: String, schedule: pb::schedule::Kind, url: &str) -> pb::JobSpec {
    pb::JobSpec {
        id,
        schedule: Some(pb::Schedule {
            kind: Some(schedule),
        }),
        executor: Some(http(url)),
        policies: Some(pb::Policies::default()),
        ..Default::default()
    }
}

/// An interval schedule: every `every_ms`, first at `anchor_ms`.
pub fn interval(anchor_ms: i64, every_ms: u64) -> pb::schedule::Kind {
    pb::schedule::Kind::Interval(pb::IntervalSchedule {
        every: Some(dur(every_ms)),
        every_max: None,
        anchor: Some(ts(anchor_ms)),
    })
}

/// A job every second at `offset_ms` past each second.
pub fn every_second(id: String, offset_ms: i64, url: &str) -> pb::JobSpec {
    spec(id, interval(offset_ms, 1000), url)
}

/// A cron job.
pub fn cron(id: String, expr: String, url: &str) -> pb::JobSpec {
    spec(id, pb::schedule::Kind::Cron(expr), url)
}

/// The offset in the second of job `i` of a growing set: the fractional
/// parts of multiples of the golden ratio spread evenly over [0, 1) for
/// every prefix length, so each step of a ramp stays spread.
pub fn golden_offset_ms(i: u64) -> i64 {
    ((i as f64 * 0.618_033_988_749_895).fract() * 1000.0) as i64
}

/// Builds the spec of job number `i`.
pub type MakeSpec = Arc<dyn Fn(u64) -> pb::JobSpec + Send + Sync>;

/// What a registration took.
#[derive(Clone, Copy, Debug)]
pub struct Registered {
    pub count: u64,
    pub secs: f64,
}

impl Registered {
    pub fn per_sec(&self) -> f64 {
        self.count as f64 / self.secs.max(1e-9)
    }
}

/// How long one create may keep failing (leader change, overload) before
/// the registration gives up.
const CREATE_PATIENCE: Duration = Duration::from_secs(120);

/// Creates jobs `range` (`make(i)`) with `clients` concurrent clients,
/// each on its own channel, starting at `addrs[0]` (the leader) and moving
/// to the next address when a call fails. Creates use ON_CONFLICT_KEEP,
/// so retrying one whose answer was lost changes nothing. With
/// `progress`, prints the count to stderr every 10 s.
pub async fn register(
    addrs: &[String],
    range: Range<u64>,
    clients: usize,
    progress: Option<&str>,
    make: MakeSpec,
) -> anyhow::Result<Registered> {
    if addrs.is_empty() {
        bail!("no address to register jobs through");
    }
    let total = range.end.saturating_sub(range.start);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients.max(1) as u64 {
        let ids = (range.start + c..range.end).step_by(clients.max(1));
        let (make, done, addrs) = (make.clone(), done.clone(), addrs.to_vec());
        tasks.spawn(async move {
            let mut w = Writer::new(addrs);
            for i in ids {
                w.create(make(i)).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    let reporter = progress.map(|what| {
        let (what, done) = (what.to_string(), done.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                let n = done.load(Ordering::Relaxed);
                let rate = n as f64 / start.elapsed().as_secs_f64();
                let eta = (total - n.min(total)) as f64 / rate.max(1e-9);
                eprintln!("{what}: {n}/{total} registered, {rate:.0}/s, about {eta:.0} s left");
            }
        })
    });
    let mut result = Ok(());
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r) {
            result = Err(e);
            tasks.abort_all();
        }
    }
    if let Some(r) = reporter {
        r.abort();
    }
    result?;
    Ok(Registered {
        count: total,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// One client's connection, moved to the next address after a failure.
struct Writer {
    addrs: Vec<String>,
    next: usize,
    client: Option<JobServiceClient<Channel>>,
}

impl Writer {
    fn new(addrs: Vec<String>) -> Writer {
        Writer {
            addrs,
            next: 0,
            client: None,
        }
    }

    async fn create(&mut self, spec: pb::JobSpec) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let err = match self.connected().await {
                Ok(c) => {
                    let req = pb::CreateJobRequest {
                        job: Some(spec.clone()),
                        on_conflict: pb::OnConflict::Keep as i32,
                    };
                    match c.create_job(req).await {
                        Ok(_) => return Ok(()),
                        // Bad input never gets better by retrying.
                        Err(s) if s.code() == tonic::Code::InvalidArgument => {
                            bail!("create {}: {}", spec.id, s.message())
                        }
                        Err(s) => anyhow::anyhow!("create {}: {s}", spec.id),
                    }
                }
                Err(e) => e,
            };
            if start.elapsed() > CREATE_PATIENCE {
                return Err(err.context(format!("still failing after {CREATE_PATIENCE:?}")));
            }
            self.client = None;
            self.next += 1;
            // A pause before the next address: a back-off after a failure.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn connected(&mut self) -> anyhow::Result<&mut JobServiceClient<Channel>> {
        if self.client.is_none() {
            let addr = &self.addrs[self.next % self.addrs.len()];
            self.client = Some(JobServiceClient::new(
                chaos_tests::secure::connect(addr).await?,
            ));
        }
        self.client
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("no client"))
    }
}
