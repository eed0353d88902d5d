//! A cluster of real `schedulerd` processes whose every node-to-node link
//! passes through a harness [`Proxy`], with the faults of a chaos run:
//! kill -9, SIGSTOP/SIGCONT, restart, whole-cluster restart, partitions
//! (per link and direction), clock skew (libfaketime) and disk full (a
//! tmpfs data dir, as root). Everything is undone on drop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::harness::{Proc, free_port, status, wait_cluster};
use crate::proxy::{LinkModes, Mode, Proxy};

/// Where Debian's `faketime` package puts the library.
const FAKETIME_LIBS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

/// Size of the disk-full node's tmpfs data dir.
const TMPFS_SIZE: &str = "256m";

/// libfaketime, if installed.
pub fn faketime_lib() -> Option<PathBuf> {
    FAKETIME_LIBS.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Why a cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("starting a node or proxy: {0}")]
    Io(#[from] std::io::Error),
    #[error("setting up TLS and the ACL: {0}")]
    Secure(String),
}

/// Whether disk-full can be injected here: it needs root and a tmpfs
/// mount (a container may refuse one). Mounts a small one in a temp dir
/// and unmounts it; `Err` says why not.
pub fn disk_full_available() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    Tmpfs::mount(&dir.path().join("probe")).map(drop)
}

/// A tmpfs mounted on a node's data dir; unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts one, as root; `Err` says why not (the fault is then skipped).
    fn mount(dir: &Path) -> Result<Tmpfs, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: disk-full needs a tmpfs mount".into());
        }
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("chaos-filler")
    }

    /// Fills the file system to the last byte.
    fn fill(&self) -> std::io::Result<u64> {
        use std::io::Write;
        let mut f = std::fs::File::create(self.filler())?;
        let chunk = vec![0u8; 1 << 20];
        let mut written = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(_) => break, // ENOSPC: full
            }
        }
        // Smaller writes for the last partial megabyte.
        while let Ok(n) = f.write(&chunk[..4096]) {
            if n == 0 {
                break;
            }
            written += n as u64;
        }
        Ok(written)
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

/// The chaos cluster. Node ids are 1..=n; `procs[i]` is node `i + 1`.
pub struct ChaosCluster {
    pub procs: Vec<Proc>,
    /// `(from, to)` -> the proxy that `from` dials `to` through.
    proxies: BTreeMap<(u64, u64), Proxy>,
    stopped: BTreeSet<u64>,
    tmpfs: Option<(u64, Tmpfs)>,
    /// Why disk-full is unavailable, if it is.
    pub disk_full_unavailable: Option<String>,
    skewed: Option<u64>,
}

impl ChaosCluster {
    /// Starts `n` nodes under `root` with proxies on every link; node 1
    /// bootstraps, the others join through it. With `disk_node`, that
    /// node's data dir is a tmpfs (when root).
    pub async fn start(
        bin: &Path,
        root: &Path,
        n: u64,
        extra: &[&str],
        disk_node: Option<u64>,
    ) -> Result<ChaosCluster, ClusterError> {
        let addrs: BTreeMap<u64, String> = (1..=n)
            .map(|id| (id, format!("127.0.0.1:{}", free_port())))
            .collect();
        let mut proxies = BTreeMap::new();
        for from in 1..=n {
            for to in (1..=n).filter(|&t| t != from) {
                proxies.insert((from, to), Proxy::start(addrs[&to].clone()).await?);
            }
        }
        let mut tmpfs = None;
        let mut disk_full_unavailable = None;
        if let Some(d) = disk_node {
            match Tmpfs::mount(&root.join(format!("node-{d}"))) {
                Ok(t) => tmpfs = Some((d, t)),
                Err(why) => disk_full_unavailable = Some(why),
            }
        }
        let mut procs = Vec::new();
        for id in 1..=n {
            let via: Vec<String> = (1..=n)
                .filter(|&t| t != id)
                .map(|t| format!("{}={}", addrs[&t], proxies[&(id, t)].addr))
                .collect();
            let via = via.join(",");
            let mut args: Vec<&str> = vec!["--dial-via", &via];
            if id == 1 {
                args.push("--bootstrap");
            } else {
                args.extend(["--join", addrs[&1].as_str()]);
            }
            args.extend(extra);
            let tls = crate::secure::node_args(id);
            args.extend(tls.iter().map(String::as_str));
            procs.push(Proc::new(bin, id, root, &addrs[&id], &args));
        }
        let mut cluster = ChaosCluster {
            procs,
            proxies,
            stopped: BTreeSet::new(),
            tmpfs,
            disk_full_unavailable,
            skewed: None,
        };
        cluster.procs[0].launch()?;
        wait_cluster(&addrs[&1], &[1]).await;
        // A secure cluster checks every call from the start: the harness's
        // certificate gets its admin role now.
        crate::secure::bootstrap(&addrs[&1])
            .await
            .map_err(|e| ClusterError::Secure(e.to_string()))?;
        for p in cluster.procs.iter_mut().skip(1) {
            p.launch()?;
        }
        let ids: Vec<u64> = (1..=n).collect();
        wait_cluster(&addrs[&1], &ids).await;
        Ok(cluster)
    }

    /// Every node id.
    pub fn ids(&self) -> Vec<u64> {
        self.procs.iter().map(|p| p.id).collect()
    }

    /// Every node's client address.
    pub fn addrs(&self) -> Vec<String> {
        self.procs.iter().map(|p| p.addr.clone()).collect()
    }

    fn proc(&mut self, id: u64) -> Option<&mut Proc> {
        self.procs.iter_mut().find(|p| p.id == id)
    }

    /// The leader as the first answering node sees it.
    pub async fn leader(&self) -> Option<u64> {
        for p in &self.procs {
            if let Some(s) = status(&p.addr).await
                && let Some(l) = s.leader
            {
                return Some(l);
            }
        }
        None
    }

    /// kill -9.
    pub fn kill(&mut self, id: u64) {
        self.stopped.remove(&id);
        if let Some(p) = self.proc(id) {
            p.kill();
        }
    }

    /// Starts a killed (or crashed) node again on its data dir.
    pub fn relaunch(&mut self, id: u64) -> std::io::Result<()> {
        match self.proc(id) {
            Some(p) => {
                if p.exited().is_some() {
                    p.kill(); // reap, so launch starts a new one
                }
                p.relaunch()
            }
            None => Ok(()),
        }
    }

    /// SIGSTOP.
    pub fn stop(&mut self, id: u64) {
        self.stopped.insert(id);
        if let Some(p) = self.proc(id) {
            p.signal("STOP");
        }
    }

    /// SIGCONT.
    pub fn cont(&mut self, id: u64) {
        self.stopped.remove(&id);
        if let Some(p) = self.proc(id) {
            p.signal("CONT");
        }
    }

    /// kill -9 every node, then start them all again.
    pub fn restart_all(&mut self) -> std::io::Result<()> {
        self.stopped.clear();
        for p in &mut self.procs {
            p.kill();
        }
        for p in &mut self.procs {
            p.relaunch()?;
        }
        Ok(())
    }

    /// Sets the link `from -> to`.
    pub fn set_link(&self, from: u64, to: u64, modes: LinkModes) {
        if let Some(p) = self.proxies.get(&(from, to)) {
            p.set(modes);
        }
    }

    /// Cuts `id` off from every other node, both ways, with `mode`.
    pub fn isolate(&self, id: u64, mode: Mode) {
        let cut = LinkModes {
            forward: mode,
            backward: mode,
        };
        for ((from, to), p) in &self.proxies {
            if *from == id || *to == id {
                p.set(cut);
            }
        }
    }

    /// `from` no longer hears `to` (its requests and its answers), while
    /// `to` still hears `from`: a one-way partition.
    pub fn deafen(&self, from: u64, to: u64, mode: Mode) {
        // Answers of `to` on `from`'s link, and requests of `to` on its own.
        self.set_link(
            from,
            to,
            LinkModes {
                forward: Mode::Pass,
                backward: mode,
            },
        );
        self.set_link(
            to,
            from,
            LinkModes {
                forward: mode,
                backward: Mode::Pass,
            },
        );
    }

    /// Delays every link of `id`, both ways.
    pub fn slow(&self, id: u64, ms: u64) {
        self.isolate(id, Mode::Delay(ms));
    }

    /// Every link passes again.
    pub fn heal_network(&self) {
        for p in self.proxies.values() {
            p.heal();
        }
    }

    /// Whether clock skew can be injected (libfaketime installed).
    pub fn can_skew(&self) -> bool {
        faketime_lib().is_some()
    }

    /// Restarts `id` with its wall clock `secs` off (libfaketime; the
    /// monotonic clock is left alone). Returns false when not installed.
    pub fn skew(&mut self, id: u64, secs: i64) -> std::io::Result<bool> {
        let Some(lib) = faketime_lib() else {
            return Ok(false);
        };
        let env = vec![
            ("LD_PRELOAD".to_string(), lib.display().to_string()),
            ("FAKETIME".to_string(), format!("{secs:+}")),
            ("FAKETIME_DONT_FAKE_MONOTONIC".to_string(), "1".to_string()),
        ];
        self.stopped.remove(&id);
        self.skewed = Some(id);
        if let Some(p) = self.proc(id) {
            p.set_env(env);
            p.kill();
            p.relaunch()?;
        }
        Ok(true)
    }

    /// Restarts the skewed node with the real clock.
    pub fn unskew(&mut self) -> std::io::Result<()> {
        if let Some(id) = self.skewed.take()
            && let Some(p) = self.proc(id)
        {
            p.set_env(Vec::new());
            p.kill();
            p.relaunch()?;
        }
        Ok(())
    }

    /// The node whose data dir can fill up, if any.
    pub fn disk_node(&self) -> Option<u64> {
        self.tmpfs.as_ref().map(|(id, _)| *id)
    }

    /// Fills that node's disk; returns the bytes written.
    pub fn fill_disk(&self) -> Option<u64> {
        self.tmpfs.as_ref().and_then(|(_, t)| t.fill().ok())
    }

    /// Frees it again.
    pub fn free_disk(&self) {
        if let Some((_, t)) = &self.tmpfs {
            t.free();
        }
    }

    /// After a fault: every link passes, no node is stopped, the disk has
    /// room, the clock is real, and every node that is down is started
    /// again. Returns the ids that had to be started.
    pub fn heal_all(&mut self) -> std::io::Result<Vec<u64>> {
        self.heal_network();
        self.free_disk();
        for id in std::mem::take(&mut self.stopped) {
            if let Some(p) = self.proc(id) {
                p.signal("CONT");
            }
        }
        self.unskew()?;
        let mut started = Vec::new();
        for p in &mut self.procs {
            if !p.started() || p.exited().is_some() {
                if p.started() {
                    p.kill(); // reap the crashed one
                }
                p.relaunch()?;
                started.push(p.id);
            }
        }
        Ok(started)
    }
}

impl Drop for ChaosCluster {
    fn drop(&mut self) {
        // Kill before unmounting (the tmpfs field drops after procs, but
        // a stopped process must not hold the mount).
        for p in &mut self.procs {
            p.kill();
        }
    }
}
