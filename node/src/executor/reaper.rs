//! Shell jobs die with their node. A node that is killed (kill -9, OOM)
//! runs no more code, so it cannot kill its jobs' process groups; a job
//! that kept running would overlap its own re-run on another node after
//! the lease. So a node that runs shell jobs starts a small reaper process
//! (its own binary, with [`REAPER_ARG`]) and tells it, over a pipe, each
//! process group it starts and ends. When the pipe reaches end of file
//! (the node died, or exited), the reaper SIGKILLs every group still
//! listed and exits. It runs in a process group of its own, so a Ctrl-C
//! meant for the node does not stop it first.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};

/// The first argument that makes `schedulerd` (or `clusterctl`, whose dev
/// cluster runs nodes in-process) serve as a reaper.
pub const REAPER_ARG: &str = "__schedulerd-shell-reaper";

/// The node's end of its reaper. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ShellReaper {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    stdin: Mutex<Option<ChildStdin>>,
    _child: Mutex<Child>,
}

impl ShellReaper {
    /// Starts the reaper process (this program, with [`REAPER_ARG`]).
    pub fn start() -> std::io::Result<ShellReaper> {
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg(REAPER_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take();
        Ok(ShellReaper {
            inner: Arc::new(Inner {
                stdin: Mutex::new(stdin),
                _child: Mutex::new(child),
            }),
        })
    }

    fn say(&self, line: &str) {
        let mut stdin = self.inner.stdin.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = stdin.as_mut()
            && let Err(e) = s.write_all(line.as_bytes())
        {
            tracing::warn!(error = %e, "the shell reaper is gone; jobs may outlive this node");
            *stdin = None;
        }
    }

    /// Process group `pgid` is a running job's.
    pub fn watch(&self, pgid: i32) {
        self.say(&format!("+{pgid}\n"));
    }

    /// Process group `pgid` has been killed and reaped.
    pub fn unwatch(&self, pgid: i32) {
        self.say(&format!("-{pgid}\n"));
    }
}

/// In `main`, before anything else: serves as a reaper and exits when the
/// first argument is [`REAPER_ARG`], else returns.
pub fn serve_if_asked() {
    if std::env::args_os().nth(1).is_some_and(|a| a == REAPER_ARG) {
        serve(std::io::stdin().lock());
        std::process::exit(0);
    }
}

/// Reads `+PGID` / `-PGID` lines until end of file, then kills every group
/// still listed.
fn serve(input: impl BufRead) {
    let mut groups = BTreeSet::new();
    for line in input.lines() {
        let Ok(line) = line else { break };
        let (sign, pgid) = line.split_at(line.len().min(1));
        match (sign, pgid.parse::<i32>()) {
            ("+", Ok(g)) if g > 1 => {
                groups.insert(g);
            }
            ("-", Ok(g)) => {
                groups.remove(&g);
            }
            _ => {}
        }
    }
    for g in groups {
        // SAFETY: kill(2) touches no memory of ours; -g addresses process
        // group g (never 0 or 1: our own group, or every process).
        unsafe {
            libc::kill(-g, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_file_kills_the_groups_still_listed() {
        use std::os::unix::process::CommandExt;
        let spawn = || {
            Command::new("sleep")
                .arg("60")
                .process_group(0)
                .spawn()
                .expect("spawn sleep")
        };
        let (mut listed, mut ended) = (spawn(), spawn());
        let input = format!(
            "+{}\n+{}\n-{}\nnoise\n+1\n",
            listed.id(),
            ended.id(),
            ended.id()
        );
        serve(std::io::Cursor::new(input));
        let status = listed.wait().expect("wait");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "the listed group was killed"
        );
        assert!(
            ended.try_wait().expect("try_wait").is_none(),
            "a group removed from the list is left alone"
        );
        let _ = ended.kill();
        let _ = ended.wait();
    }
}
