//! The shell executor: one process per attempt, opt-in per node.
//!
//! - `argv` runs without a shell; `command` runs as `sh -c COMMAND`.
//! - The environment is the node's, plus the job's `env`, plus the
//!   contract's `SCHEDULER_*` variables (set last, so a job cannot spoof
//!   them).
//! - stdin is /dev/null; stdout and stderr share one pipe, so their lines
//!   interleave in the order the job wrote them, and only a bounded tail of
//!   it is kept.
//! - The job runs in a process group of its own. When the attempt ends, for
//!   whatever reason, the whole group gets SIGKILL: a timeout or cancel
//!   must not leave grandchildren running, and background processes left by
//!   a finished job are outside any timeout's reach (this is systemd's
//!   `KillMode=control-group`). Dropping the future kills the group too.
//! - A node killed outright cannot kill anything: its reaper process
//!   ([`super::reaper`]) kills the groups it still runs.

use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use store::model::{AttemptState, MAX_OUTPUT_TAIL, ShellSpec};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::Command;

use super::reaper::ShellReaper;
use super::tail::Tail;
use super::{RunContext, RunOutcome};

/// How long, after the job's group was killed, the rest of its output may
/// take to arrive. Only a process that left the group (setsid) and still
/// holds the pipe open makes us wait this long.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Runs one attempt of a shell job; see the module docs.
pub async fn run(
    spec: &ShellSpec,
    ctx: &RunContext,
    reaper: Option<&ShellReaper>,
    cancel: impl Future<Output = ()>,
) -> RunOutcome {
    if !ctx.shell_enabled {
        return RunOutcome::failed(format!(
            "shell executor is disabled on node {} (start it with --enable-shell-executor)",
            ctx.node_id
        ));
    }
    let Prepared { mut cmd, what, dir } = match prepare(spec, ctx) {
        Ok(p) => p,
        Err(why) => return RunOutcome::failed(why),
    };
    match tokio::fs::metadata(&dir).await {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return RunOutcome::failed(format!("working dir {} is not a directory", dir.display()));
        }
        Err(e) => return RunOutcome::failed(format!("working dir {}: {e}", dir.display())),
    }

    // One pipe for stdout and stderr. std creates it close-on-exec, so the
    // child holds only the copies it gets as fd 1 and 2.
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return RunOutcome::failed(format!("cannot create the output pipe: {e}")),
    };
    let mut out = match pipe::Receiver::from_owned_fd(OwnedFd::from(reader)) {
        Ok(r) => r,
        Err(e) => return RunOutcome::failed(format!("cannot watch the output pipe: {e}")),
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return RunOutcome::failed(format!("cannot create the output pipe: {e}")),
    };
    cmd.stdout(writer2).stderr(writer);

    let spawned = cmd.spawn();
    // The command still holds our copies of the pipe's write end: drop them
    // so that end of file comes once the job's processes are gone.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return RunOutcome::failed(format!("cannot start {what} in {}: {e}", dir.display()));
        }
    };
    // From here on, every way out (return or drop) kills the group.
    let group = match child.id().and_then(|pid| i32::try_from(pid).ok()) {
        Some(pid) => Group::new(pid, reaper),
        None => return RunOutcome::failed(format!("{what} started without a process id")),
    };

    let mut tail = Tail::new(MAX_OUTPUT_TAIL);
    let mut buf = vec![0u8; 8192];
    let expiry = async {
        match ctx.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry, cancel);
    let mut reading = true;
    let end = loop {
        tokio::select! {
            status = child.wait() => break End::Exited(status),
            n = out.read(&mut buf), if reading => match n {
                // A read error on a pipe of our own cannot really happen;
                // should it, the timeout still bounds the run.
                Ok(0) | Err(_) => reading = false,
                Ok(n) => tail.push(&buf[..n]),
            },
            () = &mut expiry => break End::TimedOut,
            () = &mut cancel => break End::Cancelled,
        }
    };

    // On a normal exit tokio has reaped the child already. Its pgid stays
    // reserved while any process of the group lives, so this reaches exactly
    // the leftovers; an empty group makes it a harmless ESRCH (a new process
    // would have to get the same pid and make itself a group leader in
    // between, which pid allocation makes practically impossible).
    group.kill();
    if !matches!(end, End::Exited(_)) {
        // Reap the killed child; SIGKILL makes this quick, and tokio reaps
        // it in the background should it not be.
        let _ = tokio::time::timeout(DRAIN_GRACE, child.wait()).await;
    }
    if reading && !matches!(end, End::Cancelled) {
        drain(&mut out, &mut tail, &mut buf).await;
    }

    match end {
        End::Exited(Ok(status)) => exited(status, tail),
        End::Exited(Err(e)) => {
            tail.note(&format!("waiting for {what}: {e}"));
            RunOutcome {
                state: AttemptState::Failed,
                exit_code: None,
                output_tail: tail.into_string(),
            }
        }
        End::Cancelled => RunOutcome::cancelled(),
        End::TimedOut => {
            let after = ctx.timeout.unwrap_or_default();
            tail.note(&format!("timed out after {after:?}; process group killed"));
            RunOutcome {
                state: AttemptState::TimedOut,
                exit_code: None,
                output_tail: tail.into_string(),
            }
        }
    }
}

/// How the wait for the job ended.
enum End {
    Exited(std::io::Result<ExitStatus>),
    TimedOut,
    Cancelled,
}

/// A command ready to spawn, with what to call it in messages and where it
/// runs.
struct Prepared {
    cmd: Command,
    what: String,
    dir: PathBuf,
}

fn prepare(spec: &ShellSpec, ctx: &RunContext) -> Result<Prepared, String> {
    let (mut cmd, what) = match (&spec.command, spec.argv.split_first()) {
        (Some(line), None) => {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(line);
            (cmd, "sh -c".to_owned())
        }
        (None, Some((program, args))) => {
            let mut cmd = Command::new(program);
            cmd.args(args);
            (cmd, format!("`{program}`"))
        }
        (Some(_), Some(_)) => {
            return Err("shell job has both argv and command; give exactly one".into());
        }
        (None, None) => return Err("shell job has neither argv nor command".into()),
    };
    // `join` keeps an absolute working dir as it is.
    let dir = match &spec.working_dir {
        Some(d) => ctx.default_working_dir.join(d),
        None => ctx.default_working_dir.clone(),
    };
    cmd.current_dir(&dir)
        .envs(&spec.env)
        .envs(ctx.contract().map(|(var, _, value)| (var, value)))
        .stdin(Stdio::null())
        .process_group(0)
        // Belt and braces: `Group` kills the whole group on drop anyway.
        .kill_on_drop(true);
    Ok(Prepared { cmd, what, dir })
}

/// Reads what is left in the pipe, for at most [`DRAIN_GRACE`].
async fn drain(out: &mut pipe::Receiver, tail: &mut Tail, buf: &mut [u8]) {
    let _ = tokio::time::timeout(DRAIN_GRACE, async {
        while let Ok(n @ 1..) = out.read(buf).await {
            tail.push(&buf[..n]);
        }
    })
    .await;
}

fn exited(status: ExitStatus, mut tail: Tail) -> RunOutcome {
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => Some(code),
        (None, Some(sig)) => {
            tail.note(&format!("killed by signal {sig}"));
            // The shell's convention, so a signal still shows as a code.
            Some(128 + sig)
        }
        (None, None) => None,
    };
    RunOutcome {
        state: if status.success() {
            AttemptState::Succeeded
        } else {
            AttemptState::Failed
        },
        exit_code: code,
        output_tail: tail.into_string(),
    }
}

/// A process group that gets SIGKILL when this is dropped.
struct Group(libc::pid_t, Option<ShellReaper>);

impl Group {
    /// A running job's group, listed with the node's reaper (if any) so it
    /// dies with the node.
    fn new(pid: libc::pid_t, reaper: Option<&ShellReaper>) -> Group {
        if let Some(r) = reaper {
            r.watch(pid);
        }
        Group(pid, reaper.cloned())
    }

    /// SIGKILL to every process in the group; a group already gone is fine.
    fn kill(&self) {
        // kill(-1) would signal every process we may signal, and kill(0)
        // our own group: never send either.
        if self.0 > 1 {
            // SAFETY: kill(2) touches no memory of ours; a negative pid
            // addresses the process group, which is the child's own (it was
            // spawned with process_group(0), so its pgid is its pid).
            unsafe {
                libc::kill(-self.0, libc::SIGKILL);
            }
        }
        if let Some(r) = &self.1 {
            r.unwatch(self.0);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}
