//! One chaos run: a cluster behind proxies, the sink, the workload, a
//! seeded timeline of faults, a healthy drain, then the checker. Returns
//! the [`Report`]. The same seed gives the same jobs, requests and faults
//! in the same order (timing on a real machine still varies).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checker::{self, CheckParams};
use crate::cluster::ChaosCluster;
use crate::harness::Proc;
use crate::history::{Delivery, FaultSpan, History, Ms};
use crate::observe::{Observers, now_ms};
use crate::proxy::Mode;
use crate::report::{FaultEvent, Report};
use crate::sink::Sink;
use crate::workload::Workload;

/// How long a stopped worker stays stopped at least: past its lease (3 s)
/// and the node's margin (1 s), so its attempts are retried elsewhere.
const WORKER_STOP_SECS: u64 = 5;

/// How often a long run logs the harness heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// The faults a run can inject. The history records each injected one
/// as a [`FaultSpan`](crate::history::FaultSpan), which the checker reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// kill -9 a random node; restarted at the heal.
    Kill,
    /// kill -9 the leader.
    KillLeader,
    /// SIGSTOP a node (leader half the time), SIGCONT at the heal.
    Stop,
    /// kill -9 and restart at once.
    Restart,
    /// kill -9 every node, restart them all.
    RestartAll,
    /// Cut a random node off, connections refused.
    Partition,
    /// Cut the leader off (refused or black-holed).
    PartitionLeader,
    /// Cut a random node off, bytes black-holed.
    Blackhole,
    /// One node stops hearing another (one direction only).
    OneWay,
    /// Delay every link of a node by 50-300 ms.
    Delay,
    /// Restart a follower with its wall clock 2-5 s off (libfaketime).
    Skew,
    /// Fill one node's disk (tmpfs data dir, as root).
    DiskFull,
    /// kill -9 a worker process; started again at the heal.
    KillWorker,
    /// SIGSTOP a worker process past its lease (held at least 5 s);
    /// SIGCONT at the heal: its late effects carry stale tokens.
    StopWorker,
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 14] = [
        Fault::Kill,
        Fault::KillLeader,
        Fault::Stop,
        Fault::Restart,
        Fault::RestartAll,
        Fault::Partition,
        Fault::PartitionLeader,
        Fault::Blackhole,
        Fault::OneWay,
        Fault::Delay,
        Fault::Skew,
        Fault::DiskFull,
        Fault::KillWorker,
        Fault::StopWorker,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::KillLeader => "kill-leader",
            Fault::Stop => "stop",
            Fault::Restart => "restart",
            Fault::RestartAll => "restart-all",
            Fault::Partition => "partition",
            Fault::PartitionLeader => "partition-leader",
            Fault::Blackhole => "blackhole",
            Fault::OneWay => "one-way",
            Fault::Delay => "delay",
            Fault::Skew => "skew",
            Fault::DiskFull => "disk-full",
            Fault::KillWorker => "kill-worker",
            Fault::StopWorker => "stop-worker",
        }
    }

    /// Whether it acts on nodes (`schedulerd` processes or their links),
    /// as opposed to worker processes.
    pub fn hits_node(self) -> bool {
        !self.hits_worker()
    }

    /// Whether it acts on a worker process.
    pub fn hits_worker(self) -> bool {
        matches!(self, Fault::KillWorker | Fault::StopWorker)
    }

    /// Whether the node it hits loses its process (killed, restarted) or
    /// may (a full disk fails its writes): an attempt it had started is
    /// then reported failed when it comes back (`Runner::recover`), and
    /// retried at once under the job's policy, without waiting for a lease.
    pub fn crashes_node(self) -> bool {
        matches!(
            self,
            Fault::Kill
                | Fault::KillLeader
                | Fault::Restart
                | Fault::RestartAll
                | Fault::Skew
                | Fault::DiskFull
        )
    }

    /// Parses `all` or a comma-separated list of names.
    pub fn parse_list(s: &str) -> Result<Vec<Fault>, String> {
        if s == "all" {
            return Ok(Fault::ALL.to_vec());
        }
        if s == "none" || s.is_empty() {
            return Ok(Vec::new());
        }
        s.split(',')
            .map(|n| {
                Fault::ALL
                    .into_iter()
                    .find(|f| f.name() == n.trim())
                    .ok_or_else(|| {
                        let names: Vec<_> = Fault::ALL.iter().map(|f| f.name()).collect();
                        format!(
                            "unknown fault {n:?}; known: all, none, {}",
                            names.join(", ")
                        )
                    })
            })
            .collect()
    }
}

/// The order of a run's faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultOrder {
    /// Cycle through the faults, reshuffled (seeded) after each round,
    /// until `duration` is over.
    Shuffled,
    /// Each fault once, in the order given; the run ends a quiet time
    /// after the last heal (or at `duration`, if sooner), so a short run
    /// sees every kind.
    EachOnce,
}

/// What a run does.
#[derive(Clone, Debug, Serialize)]
pub struct RunConfig {
    pub seed: u64,
    /// How long the workload and the faults go on.
    pub duration: Duration,
    pub faults: Vec<Fault>,
    pub nodes: u64,
    /// Jobs created before the first fault.
    pub initial_jobs: usize,
    /// Creates stop at this many live jobs.
    pub max_jobs: usize,
    /// In which order the faults come.
    pub order: FaultOrder,
    /// Quiet time between faults, seconds (min, max).
    pub quiet_secs: (u64, u64),
    /// How long a fault holds, seconds (min, max).
    pub hold_secs: (u64, u64),
    /// After the run, how long the healthy cluster may take to deliver
    /// or record every expected occurrence.
    pub drain: Duration,
    /// A heal must be followed by firing again within this (liveness).
    pub recovery_bound: Duration,
    /// Where nodes keep their data and logs; a temp dir when `None`.
    pub work_dir: Option<PathBuf>,
    /// schedulerd; found or built when `None`.
    pub schedulerd: Option<PathBuf>,
    /// Worker processes (`rust-worker`, one per node to start with); with
    /// any, a third of the jobs run on them.
    pub workers: usize,
    pub check: CheckParams,
    /// TLS everywhere and the ACL on: nodes with `--tls-dir`, the harness
    /// and its workers with a client certificate (`secure.rs`).
    pub secure: bool,
}

impl RunConfig {
    /// Defaults for a long run.
    pub fn long(seed: u64, duration: Duration, faults: Vec<Fault>) -> RunConfig {
        RunConfig {
            seed,
            duration,
            faults,
            nodes: 3,
            initial_jobs: 8,
            max_jobs: 30,
            order: FaultOrder::Shuffled,
            quiet_secs: (4, 12),
            hold_secs: (2, 12),
            drain: Duration::from_secs(90),
            recovery_bound: Duration::from_secs(30),
            work_dir: None,
            schedulerd: None,
            workers: 3,
            check: CheckParams::default(),
            secure: false,
        }
    }
}

/// Why a run could not be carried out (not a violation: those are in the report).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Binary(#[from] crate::binaries::BinaryError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Sleeps until `deadline`, or for `d` if sooner.
async fn pause(d: Duration, deadline: Instant) {
    let until = (Instant::now() + d).min(deadline);
    tokio::time::sleep_until(until.into()).await;
}

/// Polls until some node reports a leader; `None` after `within`.
async fn leader_within(cluster: &ChaosCluster, within: Duration) -> Option<u64> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Some(l) = cluster.leader().await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The run's worker processes, and which the current fault holds.
struct WorkerProcs {
    procs: Vec<Proc>,
    killed: Vec<usize>,
    stopped: Vec<usize>,
}

impl WorkerProcs {
    /// Starts `n` workers; worker `i` prefers node `i`, then the others.
    fn start(n: usize, root: &Path, addrs: &[String], sink: &str) -> Result<Self, RunError> {
        let mut procs = Vec::new();
        if n > 0 {
            let bin = crate::binaries::rust_worker()?;
            for i in 0..n {
                let mut order = addrs.to_vec();
                order.rotate_left(i % addrs.len().max(1));
                procs.push(crate::worker::spawn(
                    &bin,
                    &root.join(format!("worker-{i}")),
                    &worker_id(i),
                    &order,
                    (
                        crate::workload::WORKER_QUEUE,
                        crate::workload::WORKER_FUNCTION,
                    ),
                    64,
                    sink,
                )?);
            }
        }
        Ok(WorkerProcs {
            procs,
            killed: Vec::new(),
            stopped: Vec::new(),
        })
    }

    /// Restarts killed workers and continues stopped ones.
    fn heal(&mut self) -> std::io::Result<()> {
        for i in self.stopped.drain(..) {
            self.procs[i].signal("CONT");
        }
        for i in self.killed.drain(..) {
            self.procs[i].relaunch()?;
        }
        Ok(())
    }
}

/// An injected fault, as [`FaultLoop::inject`] reports it.
struct Injected {
    target: String,
    detail: String,
    /// The nodes it hit (see [`FaultSpan::nodes`]).
    nodes: Vec<u64>,
    /// Just before the harness acted.
    at_ms: Ms,
}

/// The id of the run's worker `i`.
fn worker_id(i: usize) -> String {
    format!("chaos-worker-{i}")
}

/// The node that holds worker `id`'s session, as the first answering node
/// lists it; `None` when no node answers within 2 s or none lists it.
async fn worker_node(addrs: &[String], id: &str) -> Option<u64> {
    use proto::v1::worker_service_client::WorkerServiceClient;
    let ask = async {
        for addr in addrs {
            let Ok(ch) = crate::secure::connect_with(addr, |e| {
                e.connect_timeout(Duration::from_millis(500))
                    .timeout(Duration::from_secs(1))
            })
            .await
            else {
                continue;
            };
            if let Ok(r) = WorkerServiceClient::new(ch)
                .list_workers(proto::v1::ListWorkersRequest {})
                .await
            {
                return r
                    .into_inner()
                    .workers
                    .into_iter()
                    .find(|w| w.worker_id == id)
                    .map(|w| w.node_id);
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(2), ask)
        .await
        .ok()
        .flatten()
}

struct FaultLoop {
    rng: ChaCha8Rng,
    timeline: Vec<FaultEvent>,
    heals: Vec<Ms>,
    spans: Vec<FaultSpan>,
    skipped: Vec<String>,
    liveness: Vec<String>,
    workers: WorkerProcs,
}

impl FaultLoop {
    fn pick_node(&mut self, cluster: &ChaosCluster) -> u64 {
        let ids = cluster.ids();
        ids[self.rng.gen_range(0..ids.len())]
    }

    /// Injects `fault`; `None` when skipped.
    async fn inject(
        &mut self,
        fault: Fault,
        cluster: &mut ChaosCluster,
    ) -> std::io::Result<Option<Injected>> {
        let leader = cluster.leader().await;
        let random = self.pick_node(cluster);
        let leader_or_random = leader.unwrap_or(random);
        let at_ms = now_ms();
        let on = |id: u64, target: String, detail: String| {
            Some(Injected {
                target,
                detail,
                nodes: vec![id],
                at_ms,
            })
        };
        Ok(match fault {
            Fault::Kill => {
                cluster.kill(random);
                on(random, format!("node {random}"), "kill -9".into())
            }
            Fault::KillLeader => {
                cluster.kill(leader_or_random);
                on(
                    leader_or_random,
                    format!("node {leader_or_random}"),
                    format!("kill -9 (leader {leader:?})"),
                )
            }
            Fault::Stop => {
                let id = if self.rng.gen_bool(0.5) {
                    leader_or_random
                } else {
                    random
                };
                cluster.stop(id);
                on(
                    id,
                    format!("node {id}"),
                    format!("SIGSTOP (leader {leader:?})"),
                )
            }
            Fault::Restart => {
                cluster.kill(random);
                cluster.relaunch(random)?;
                on(random, format!("node {random}"), "kill -9, restart".into())
            }
            Fault::RestartAll => {
                cluster.restart_all()?;
                Some(Injected {
                    target: "all".into(),
                    detail: "kill -9 every node, restart all".into(),
                    nodes: cluster.ids(),
                    at_ms,
                })
            }
            Fault::Partition => {
                cluster.isolate(random, Mode::Drop);
                on(
                    random,
                    format!("node {random}"),
                    "isolated (refused)".into(),
                )
            }
            Fault::PartitionLeader => {
                let mode = if self.rng.gen_bool(0.5) {
                    Mode::Drop
                } else {
                    Mode::Blackhole
                };
                cluster.isolate(leader_or_random, mode);
                on(
                    leader_or_random,
                    format!("node {leader_or_random}"),
                    format!("leader isolated ({mode:?})"),
                )
            }
            Fault::Blackhole => {
                cluster.isolate(random, Mode::Blackhole);
                on(
                    random,
                    format!("node {random}"),
                    "isolated (black-holed)".into(),
                )
            }
            Fault::OneWay => {
                let ids = cluster.ids();
                let mut pair = ids.clone();
                pair.shuffle(&mut self.rng);
                let (a, b) = (pair[0], pair[1]);
                let mode = if self.rng.gen_bool(0.5) {
                    Mode::Drop
                } else {
                    Mode::Blackhole
                };
                cluster.deafen(a, b, mode);
                Some(Injected {
                    target: format!("{a} <- {b}"),
                    detail: format!("node {a} no longer hears node {b} ({mode:?})"),
                    nodes: vec![a, b],
                    at_ms,
                })
            }
            Fault::Delay => {
                let ms = self.rng.gen_range(50..=300);
                cluster.slow(random, ms);
                on(
                    random,
                    format!("node {random}"),
                    format!("every link delayed {ms} ms"),
                )
            }
            Fault::Skew => {
                let ids: Vec<u64> = cluster
                    .ids()
                    .into_iter()
                    .filter(|i| Some(*i) != leader)
                    .collect();
                let id = ids[self.rng.gen_range(0..ids.len())];
                let secs = self.rng.gen_range(2..=5) * if self.rng.gen_bool(0.5) { 1 } else { -1 };
                if !cluster.skew(id, secs)? {
                    self.skip("skew: libfaketime not installed (Debian: apt-get install faketime); skipped");
                    return Ok(None);
                }
                on(
                    id,
                    format!("node {id}"),
                    format!("wall clock {secs:+} s (libfaketime), restarted"),
                )
            }
            Fault::KillWorker | Fault::StopWorker if self.workers.procs.is_empty() => {
                self.skip("worker faults: the run has no workers; skipped");
                None
            }
            Fault::KillWorker | Fault::StopWorker => {
                let i = self.rng.gen_range(0..self.workers.procs.len());
                let node = worker_node(&cluster.addrs(), &worker_id(i)).await;
                let at_ms = now_ms();
                let detail = if fault == Fault::KillWorker {
                    self.workers.procs[i].kill();
                    self.workers.killed.push(i);
                    "kill -9"
                } else {
                    self.workers.procs[i].signal("STOP");
                    self.workers.stopped.push(i);
                    "SIGSTOP past its lease"
                };
                Some(Injected {
                    target: format!("worker {i}"),
                    detail: match node {
                        Some(n) => format!("{detail} (its session on node {n})"),
                        None => format!("{detail} (its node unknown)"),
                    },
                    nodes: node.into_iter().collect(),
                    at_ms,
                })
            }
            Fault::DiskFull => {
                let Some(id) = cluster.disk_node() else {
                    let why = cluster
                        .disk_full_unavailable
                        .clone()
                        .unwrap_or_else(|| "no tmpfs".into());
                    self.skip(&format!("disk-full: {why}; skipped"));
                    return Ok(None);
                };
                let bytes = cluster.fill_disk().unwrap_or(0);
                on(
                    id,
                    format!("node {id}"),
                    format!("disk filled ({} MiB written)", bytes >> 20),
                )
            }
        })
    }

    fn skip(&mut self, why: &str) {
        if !self.skipped.iter().any(|s| s == why) {
            tracing::warn!("{why}");
            eprintln!("chaos: {why}");
            self.skipped.push(why.to_string());
        }
    }

    /// Faults until `deadline` (or, [`FaultOrder::EachOnce`], until each
    /// was injected), each healed before the next.
    async fn run(
        &mut self,
        cfg: &RunConfig,
        cluster: &mut ChaosCluster,
        deadline: Instant,
    ) -> std::io::Result<()> {
        if cfg.faults.is_empty() {
            pause(cfg.duration, deadline).await;
            return Ok(());
        }
        let once = cfg.order == FaultOrder::EachOnce;
        // Cycle through the faults in a seeded order, so a short run still
        // sees each kind.
        let mut order = cfg.faults.clone();
        if !once {
            order.shuffle(&mut self.rng);
        }
        let mut k = 0;
        loop {
            let quiet = self.rng.gen_range(cfg.quiet_secs.0..=cfg.quiet_secs.1);
            pause(Duration::from_secs(quiet), deadline).await;
            if (once && k == order.len())
                || Instant::now() + Duration::from_secs(cfg.hold_secs.0) >= deadline
            {
                return Ok(());
            }
            let fault = order[k % order.len()];
            k += 1;
            if !once && k % order.len() == 0 {
                order.shuffle(&mut self.rng);
            }
            let mut hold = self.rng.gen_range(cfg.hold_secs.0..=cfg.hold_secs.1);
            if fault == Fault::StopWorker {
                // Past the worker's 3 s lease and the node's 1 s margin.
                hold = hold.max(WORKER_STOP_SECS);
            }
            let Some(inj) = self.inject(fault, cluster).await? else {
                continue;
            };
            let (target, detail) = (&inj.target, &inj.detail);
            tracing::info!(fault = fault.name(), %target, %detail, "fault");
            pause(Duration::from_secs(hold), deadline).await;
            self.workers.heal()?;
            let restarted = cluster.heal_all()?;
            let healed = now_ms();
            self.heals.push(healed);
            self.spans.push(FaultSpan {
                kind: fault,
                nodes: inj.nodes.clone(),
                from_ms: inj.at_ms,
                to_ms: healed,
            });
            let leader = leader_within(cluster, Duration::from_secs(60)).await;
            if leader.is_none() {
                self.liveness.push(format!(
                    "no leader within 60 s of healing {} at {healed}",
                    fault.name()
                ));
            }
            self.timeline.push(FaultEvent {
                at_ms: inj.at_ms,
                fault: fault.name(),
                target: inj.target,
                detail: inj.detail,
                nodes: inj.nodes,
                healed_at_ms: healed,
                restarted,
                leader_after_heal: leader,
            });
        }
    }
}

/// Carries out one run.
pub async fn run(cfg: RunConfig) -> Result<Report, RunError> {
    let started = now_ms();
    let bin = match &cfg.schedulerd {
        Some(b) => b.clone(),
        None => crate::binaries::schedulerd()?,
    };
    let (_tmp, root) = match &cfg.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            (None, d.clone())
        }
        None => {
            let t = tempfile::Builder::new().prefix("chaos-").tempdir()?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let sink = Sink::start().await?;
    if cfg.secure {
        crate::secure::enable(&root, cfg.nodes)
            .map_err(|e| crate::cluster::ClusterError::Secure(e.to_string()))?;
    }
    let disk_node = cfg.faults.contains(&Fault::DiskFull).then_some(cfg.nodes);
    let mut cluster = ChaosCluster::start(&bin, &root, cfg.nodes, &[], disk_node).await?;
    let addrs = cluster.addrs();
    let observers = Observers::start(&addrs);

    let workers = WorkerProcs::start(cfg.workers, &root, &addrs, &sink.url())?;
    let mut work = Workload::new(
        ChaCha8Rng::seed_from_u64(cfg.seed),
        sink.url(),
        addrs.clone(),
    );
    work.worker_jobs = cfg.workers > 0;
    work.create_calendars().await;
    for _ in 0..cfg.initial_jobs {
        work.create(false).await;
    }
    let deadline = Instant::now() + cfg.duration;
    let max_jobs = cfg.max_jobs;
    // A heartbeat of the harness itself, so a stall of the workload, the
    // sink or the process's file descriptors shows in the log of a long run.
    let progress = Arc::new(AtomicUsize::new(0));
    let beat = {
        let (sink, progress) = (sink.clone(), progress.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
                tracing::info!(
                    workload_steps = progress.load(Ordering::Relaxed),
                    sink_requests = sink.len(),
                    open_fds = fds,
                    "harness heartbeat"
                );
            }
        })
    };
    let steps = progress.clone();
    // Set when the faults of a run that injects each once are done.
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let workload = tokio::spawn(async move {
        while Instant::now() < deadline && !stopped.load(Ordering::Relaxed) {
            work.step(max_jobs).await;
            steps.fetch_add(1, Ordering::Relaxed);
            let p = work.pace();
            pause(p, deadline).await;
        }
        work
    });
    let mut faults = FaultLoop {
        rng: ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x00c0_ffee),
        timeline: Vec::new(),
        heals: Vec::new(),
        spans: Vec::new(),
        skipped: Vec::new(),
        liveness: Vec::new(),
        workers,
    };
    let fault_result = faults.run(&cfg, &mut cluster, deadline).await;
    if cfg.order == FaultOrder::EachOnce {
        stop.store(true, Ordering::Relaxed);
    }
    let work = workload.await.map_err(std::io::Error::other)?;
    beat.abort();
    // Whatever happened, end healthy.
    faults.workers.heal()?;
    cluster.heal_all()?;
    fault_result?;
    if leader_within(&cluster, Duration::from_secs(60))
        .await
        .is_none()
    {
        faults
            .liveness
            .push("no leader within 60 s of the final heal".into());
    }
    let run_end = now_ms();

    // Drain: the healthy cluster delivers or records everything due.
    let drain_start = Instant::now();
    let history = |recorded: Vec<crate::history::Recorded>| History {
        deliveries: sink.hits().iter().map(Delivery::from).collect(),
        jobs: work.records(),
        recorded,
        leaders: Vec::new(),
        finals: Default::default(),
        heals: faults.heals.clone(),
        faults: faults.spans.clone(),
        run_end_ms: run_end,
        calendars: work.calendars.clone(),
    };
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let out = checker::check(&history(observers.recorded()), &cfg.check);
        let missing = out.of(checker::Kind::MissingOccurrence).len();
        if missing == 0 && drain_start.elapsed() >= Duration::from_secs(5) {
            break;
        }
        if drain_start.elapsed() >= cfg.drain {
            break;
        }
    }
    let drained = drain_start.elapsed();
    let (leaders, recorded) = observers.finish(&addrs).await;
    let finals = work.finals().await;
    let mut h = history(recorded);
    h.leaders = leaders;
    h.finals = finals;
    let outcome = checker::check(&h, &cfg.check);
    for r in &outcome.recoveries {
        match r.recovered_ms {
            Some(ms) if ms as u128 > cfg.recovery_bound.as_millis() => {
                faults.liveness.push(format!(
                    "firing resumed {ms} ms after the heal at {}, over the {:?} bound",
                    r.healed_at_ms, cfg.recovery_bound
                ))
            }
            None if r.healed_at_ms < run_end - cfg.recovery_bound.as_millis() as Ms => {
                faults.liveness.push(format!(
                    "firing never resumed after the heal at {}",
                    r.healed_at_ms
                ))
            }
            _ => {}
        }
    }
    let features = work.features();
    let mut report = Report::new(
        &cfg,
        started,
        run_end,
        drained,
        root,
        faults.timeline,
        faults.skipped,
        faults.liveness,
        work.ops,
        outcome,
    );
    report.workload.features = features;
    // Nodes die and the tmpfs goes before their dir is removed; a failed
    // run keeps its dir (data and logs) for the post-mortem.
    drop(cluster);
    if let Some(t) = _tmp
        && !report.passed
    {
        let _ = t.keep();
    }
    Ok(report)
}
