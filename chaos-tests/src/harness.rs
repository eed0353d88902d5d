//! Real `schedulerd` processes on loopback, each with its own port and data
//! dir. A [`Proc`] kills its process when dropped, also when a test fails.
//! Waits poll with a deadline and name what they waited for.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proto::v1 as pb;
use proto::v1::cluster_service_client::ClusterServiceClient;
use proto::v1::job_service_client::JobServiceClient;

/// Default deadline of [`wait_for`]: generous for a loaded 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The election timeout maximum of the harness's nodes (ms): slower than
/// schedulerd's default, so a loaded 2-core machine does not depose healthy
/// leaders. Their lease is `store::model::LEASE_ELECTIONS` times this.
pub const ELECTION_MAX_MS: u64 = 1200;
/// The flags that give it (with a minimum of half of it).
const ELECTION_ARGS: [&str; 4] = ["--election-min-ms", "600", "--election-max-ms", "1200"];

/// The lease of the harness's nodes, in ms.
pub const LEASE_MS: u64 = store::model::LEASE_ELECTIONS * ELECTION_MAX_MS;

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A process started exactly as given, rather than as `schedulerd --id N
/// --listen ADDR --data-dir DIR EXTRA...` (e.g. schedulerd inside its own
/// namespaces, with a StatefulSet's args).
#[derive(Clone, Debug)]
pub struct Launch {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its whole environment: nothing is inherited from the test.
    pub env: Vec<(String, String)>,
}

/// One schedulerd process; killed on drop.
pub struct Proc {
    /// Node id.
    pub id: u64,
    /// Its gRPC address.
    pub addr: String,
    /// Its data dir; its stderr goes to `<dir>.log`.
    pub dir: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
    launch: Option<Launch>,
    /// Extra environment (the chaos harness's clock skew: LD_PRELOAD of
    /// libfaketime), applied at the next spawn.
    env: Vec<(String, String)>,
}

impl Proc {
    /// Starts node `id` under `root` with extra flags.
    pub fn start(bin: &Path, id: u64, root: &Path, extra: &[&str]) -> std::io::Result<Proc> {
        let mut p = Proc::new(bin, id, root, &format!("127.0.0.1:{}", free_port()), extra);
        p.spawn()?;
        Ok(p)
    }

    /// Starts `launch` as node `id`, reachable at `addr`; its stderr goes to
    /// `<dir>.log` (appended to across restarts). [`Proc::restart`] starts
    /// the same command again.
    pub fn start_with(id: u64, addr: &str, dir: &Path, launch: Launch) -> std::io::Result<Proc> {
        let mut p = Proc {
            id,
            addr: addr.to_string(),
            dir: dir.to_path_buf(),
            bin: launch.program.clone(),
            child: None,
            extra: Vec::new(),
            launch: Some(launch),
            env: Vec::new(),
        };
        p.spawn()?;
        Ok(p)
    }

    /// Node `id` listening on `addr`, not started yet: the chaos harness
    /// needs every address before any node starts (to route each link
    /// through its proxy). Start it with [`Proc::launch`].
    pub fn new(bin: &Path, id: u64, root: &Path, addr: &str, extra: &[&str]) -> Proc {
        Proc {
            id,
            addr: addr.to_string(),
            dir: root.join(format!("node-{id}")),
            bin: bin.to_path_buf(),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            launch: None,
            env: Vec::new(),
        }
    }

    /// Starts the process if it is not running.
    pub fn launch(&mut self) -> std::io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        self.spawn()
    }

    /// Sets the environment of the next spawn (e.g. libfaketime).
    pub fn set_env(&mut self, env: Vec<(String, String)>) {
        self.env = env;
    }

    /// Whether a process was started and not killed by the harness (it
    /// may still have exited by itself; see [`Proc::exited`]).
    pub fn started(&self) -> bool {
        self.child.is_some()
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        // Append: a restarted node's earlier log stays for the post-mortem.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.with_extension("log"))?;
        let mut cmd = Command::new(&self.bin);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        // If the harness itself dies (a killed test runner or benchmark),
        // its nodes die with it instead of running on as orphans.
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe and touches only this
            // (forked, not yet exec'd) process.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        if let Some(launch) = &self.launch {
            let child = cmd
                .args(&launch.args)
                .env_clear()
                .envs(launch.env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?;
            self.child = Some(child);
            return Ok(());
        }
        let child = cmd
            .args(["--id", &self.id.to_string(), "--listen", &self.addr])
            .arg("--data-dir")
            .arg(&self.dir)
            .args(if self.extra.iter().any(|a| a.starts_with("--election")) {
                &[][..]
            } else {
                // Tests: slower elections than the defaults, so a loaded
                // 2-core machine does not depose healthy leaders.
                &ELECTION_ARGS[..]
            })
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// kill -9 and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait up to `grace` for it to exit; kill -9 after
    /// that. Returns the exit status if it exited by itself in time.
    pub async fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Sends a signal by name (`STOP`, `CONT`, `TERM`, ...).
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{sig}"), &c.id().to_string()])
                .status();
        }
    }

    /// Whether the process has exited (and with what), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Kills and starts again on the same data dir (without `--bootstrap`;
    /// a [`Launch`] starts unchanged).
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.extra.retain(|a| a != "--bootstrap");
        self.spawn()
    }

    /// After a kill: start again without `--bootstrap` (same data dir).
    pub fn relaunch(&mut self) -> std::io::Result<()> {
        self.extra.retain(|a| a != "--bootstrap");
        self.launch()
    }

    /// The OS process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The cluster status as `addr` reports it, or `None` if it does not answer.
pub async fn status(addr: &str) -> Option<pb::ClusterStatus> {
    let mut c = ClusterServiceClient::new(crate::secure::connect(addr).await.ok()?);
    let mut req = tonic::Request::new(pb::StatusRequest {});
    req.set_timeout(Duration::from_secs(3));
    c.status(req).await.ok().map(|r| r.into_inner())
}

/// Polls `check` until it returns `Some`; panics naming `what` at the deadline.
pub async fn wait_for<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_for_within(what, DEADLINE, check).await
}

/// [`wait_for`] with a deadline of its own, for a wait whose length the
/// test itself makes (a starved cluster, a long schedule).
pub async fn wait_for_within<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `addr` reports a leader and exactly `voters` voters, with
/// no membership change in flight: a test that then stops nodes must not
/// stop them in the middle of a joint configuration, which tolerates only
/// what the old configuration tolerates (killing two of five nodes while
/// the fifth was joining left {3, 4, 5} with no quorum of {1, 2, 3, 4}).
pub async fn wait_cluster(addr: &str, voters: &[u64]) -> pb::ClusterStatus {
    let what =
        format!("{addr} to report a leader, voters {voters:?} and no membership change in flight");
    wait_for(&what, || async {
        let s = status(addr).await?;
        let mut v: Vec<u64> = s.members.iter().filter(|m| m.voter).map(|m| m.id).collect();
        v.sort();
        (s.leader.is_some() && v == voters && !s.membership_changing).then_some(s)
    })
    .await
}

/// Starts `n` nodes: node 1 bootstraps, the others join through it.
pub async fn start_cluster(
    bin: &Path,
    root: &Path,
    n: u64,
    extra: &[&str],
) -> std::io::Result<Vec<Proc>> {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    start_cluster_each(bin, root, n, |_| extra.clone()).await
}

/// Starts `n` nodes as [`start_cluster`] does, node `id` with the extra
/// flags `extra(id)` (e.g. a metrics address of its own).
pub async fn start_cluster_each(
    bin: &Path,
    root: &Path,
    n: u64,
    extra: impl Fn(u64) -> Vec<String>,
) -> std::io::Result<Vec<Proc>> {
    // With TLS on in this process (`secure.rs`), each node gets its own
    // certificate directory and the ACL is bootstrapped at once.
    let tls = |id: u64| crate::secure::node_args(id);
    let t1 = tls(1);
    let t1: Vec<&str> = t1.iter().map(String::as_str).collect();
    let e1 = extra(1);
    let e1: Vec<&str> = e1.iter().map(String::as_str).collect();
    let mut procs = vec![Proc::start(
        bin,
        1,
        root,
        &[&["--bootstrap"], &e1[..], &t1].concat(),
    )?];
    wait_cluster(&procs[0].addr, &[1]).await;
    crate::secure::bootstrap(&procs[0].addr)
        .await
        .map_err(std::io::Error::other)?;
    let seed = procs[0].addr.clone();
    for id in 2..=n {
        let t = tls(id);
        let t: Vec<&str> = t.iter().map(String::as_str).collect();
        let e = extra(id);
        let e: Vec<&str> = e.iter().map(String::as_str).collect();
        procs.push(Proc::start(
            bin,
            id,
            root,
            &[&["--join", seed.as_str()], &e[..], &t].concat(),
        )?);
    }
    let ids: Vec<u64> = (1..=n).collect();
    wait_cluster(&seed, &ids).await;
    Ok(procs)
}

/// A job that fires daily via the HTTP executor; enough to make log entries.
pub fn daily_job(id: &str) -> pb::CreateJobRequest {
    pb::CreateJobRequest {
        job: Some(pb::JobSpec {
            id: id.into(),
            schedule: Some(pb::Schedule {
                kind: Some(pb::schedule::Kind::Interval(pb::IntervalSchedule {
                    every: Some(prost_types::Duration {
                        seconds: 86_400,
                        nanos: 0,
                    }),
                    ..Default::default()
                })),
            }),
            executor: Some(pb::Executor {
                kind: Some(pb::executor::Kind::Http(pb::HttpExecutor {
                    url: "http://127.0.0.1:9/hook".into(),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        }),
        on_conflict: 0,
    }
}

/// Creates a daily job through `addr`.
pub async fn create(addr: &str, id: &str) -> Result<pb::Job, tonic::Status> {
    let mut c = JobServiceClient::new(
        crate::secure::connect(addr)
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?,
    );
    c.create_job(daily_job(id)).await.map(|r| r.into_inner())
}

/// A plain HTTP/1.1 GET of `path` at `addr` over a TCP stream, the whole
/// answer (status line, headers, body): enough for a metrics scrape.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_election_flags_say_what_the_constant_says() {
        assert_eq!(super::ELECTION_ARGS[3], super::ELECTION_MAX_MS.to_string());
    }
}
