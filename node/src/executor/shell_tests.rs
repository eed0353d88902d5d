//! Shell executor tests: real processes, in temp dirs of their own.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use store::model::{AttemptState, ExecutorSpec, MAX_OUTPUT_TAIL, ShellSpec};

use super::{RunOutcome, test_ctx};

fn sh(command: &str) -> ShellSpec {
    ShellSpec {
        command: Some(command.into()),
        ..ShellSpec::default()
    }
}

async fn run_sh(spec: ShellSpec, ctx: &super::RunContext) -> RunOutcome {
    super::run(&ExecutorSpec::Shell(spec), ctx, std::future::pending()).await
}

/// Polls `cond` every 10 ms until it holds; false if `within` runs out.
async fn until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether process `pid` no longer runs: gone, or a zombie waiting for
/// whoever adopted it to reap it.
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// The pid a test job wrote to `file`, once the file is complete.
async fn read_pid(file: &Path) -> i32 {
    let mut pid = None;
    let found = until(Duration::from_secs(10), || {
        pid = std::fs::read_to_string(file)
            .ok()
            .filter(|s| s.ends_with('\n'))
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    })
    .await;
    assert!(found, "no pid in {}", file.display());
    pid.unwrap_or_default()
}

#[tokio::test]
async fn every_contract_variable_reaches_the_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = test_ctx(dir.path());
    let mut spec = sh("env > env.txt; pwd > pwd.txt");
    spec.env = BTreeMap::from([
        ("GREETING".to_owned(), "hello world".to_owned()),
        // A job cannot spoof the contract.
        ("SCHEDULER_NODE_ID".to_owned(), "999".to_owned()),
    ]);
    let out = run_sh(spec, &ctx).await;
    assert_eq!(out.state, AttemptState::Succeeded, "{out:?}");
    assert_eq!(out.exit_code, Some(0));

    let env = std::fs::read_to_string(dir.path().join("env.txt")).expect("env.txt");
    let lines: Vec<&str> = env.lines().collect();
    for (var, _, value) in ctx.contract() {
        let line = format!("{var}={value}");
        assert!(lines.contains(&line.as_str()), "{line} missing from\n{env}");
    }
    assert!(lines.contains(&"SCHEDULER_JOB_ID=job-1"));
    assert!(lines.contains(&"SCHEDULER_OCCURRENCE_ID=job-1@2026-03-08T07:30:00.000Z"));
    assert!(lines.contains(&"SCHEDULER_SCHEDULED_AT=2026-03-08T07:30:00.000Z"));
    assert!(lines.contains(&"SCHEDULER_FENCING_TOKEN=2752515"));
    assert!(lines.contains(&"SCHEDULER_ATTEMPT=2"));
    assert!(lines.contains(&"SCHEDULER_NODE_ID=7"));
    assert!(lines.contains(&"GREETING=hello world"));

    let pwd = std::fs::read_to_string(dir.path().join("pwd.txt")).expect("pwd.txt");
    let want = dir.path().canonicalize().expect("canonical temp dir");
    assert_eq!(Path::new(pwd.trim()), want);
}

#[tokio::test]
async fn argv_runs_without_a_shell_in_its_working_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    let ctx = test_ctx(dir.path());
    let spec = ShellSpec {
        argv: vec![
            "sh".into(),
            "-c".into(),
            "printf '%s|' \"$@\"; pwd".into(),
            "x".into(),
            "a b".into(),
            "$HOME".into(),
        ]
        .into(),
        working_dir: Some("sub".into()),
        ..ShellSpec::default()
    };
    let out = run_sh(spec, &ctx).await;
    assert_eq!(out.state, AttemptState::Succeeded, "{out:?}");
    let want = dir.path().join("sub").canonicalize().expect("canonical");
    assert_eq!(out.output_tail, format!("a b|$HOME|{}\n", want.display()));
}

#[tokio::test]
async fn stdout_and_stderr_interleave_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run_sh(
        sh("echo one; echo two >&2; echo three"),
        &test_ctx(dir.path()),
    )
    .await;
    assert_eq!(out.state, AttemptState::Succeeded);
    assert_eq!(out.output_tail, "one\ntwo\nthree\n");
}

#[tokio::test]
async fn exit_codes_and_signals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = test_ctx(dir.path());

    let out = run_sh(sh("echo failing; exit 3"), &ctx).await;
    assert_eq!(out.state, AttemptState::Failed);
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.output_tail, "failing\n");

    let out = run_sh(sh("kill -TERM $$"), &ctx).await;
    assert_eq!(out.state, AttemptState::Failed);
    assert_eq!(out.exit_code, Some(128 + 15));
    assert!(out.output_tail.contains("killed by signal 15"), "{out:?}");
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ctx = test_ctx(dir.path());
    ctx.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let out = run_sh(
        sh("sleep 30 & echo $! > gc.pid; echo waiting; sleep 30"),
        &ctx,
    )
    .await;
    assert_eq!(out.state, AttemptState::TimedOut, "{out:?}");
    assert_eq!(out.exit_code, None);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(out.output_tail.starts_with("waiting\n"), "{out:?}");
    assert!(out.output_tail.contains("timed out after 300ms"), "{out:?}");

    let grandchild = read_pid(&dir.path().join("gc.pid")).await;
    assert!(
        until(Duration::from_secs(5), || gone(grandchild)).await,
        "grandchild {grandchild} still runs"
    );
}

#[tokio::test]
async fn background_processes_do_not_outlive_a_finished_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    // The background sleep holds the output pipe open: without the group
    // kill, this would wait 30 s for end of file.
    let out = run_sh(
        sh("sleep 30 & echo $! > gc.pid; echo done"),
        &test_ctx(dir.path()),
    )
    .await;
    assert_eq!(out.state, AttemptState::Succeeded, "{out:?}");
    assert_eq!(out.output_tail, "done\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let grandchild = read_pid(&dir.path().join("gc.pid")).await;
    assert!(
        until(Duration::from_secs(5), || gone(grandchild)).await,
        "grandchild {grandchild} still runs"
    );
}

#[tokio::test]
async fn the_tail_is_bounded_and_keeps_the_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    // About 1 MB of output, then a marker.
    let out = run_sh(
        sh("yes 0123456789abcdef | head -c 1000000; echo; echo THE-END"),
        &test_ctx(dir.path()),
    )
    .await;
    assert_eq!(out.state, AttemptState::Succeeded, "{:?}", out.state);
    assert_eq!(out.output_tail.len(), MAX_OUTPUT_TAIL);
    assert!(
        out.output_tail.ends_with("\nTHE-END\n"),
        "{:?}",
        &out.output_tail[out.output_tail.len() - 40..]
    );
}

#[tokio::test]
async fn disabled_shell_fails_and_says_how_to_enable_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ctx = test_ctx(dir.path());
    ctx.shell_enabled = false;
    let out = run_sh(sh("touch ran"), &ctx).await;
    assert_eq!(out.state, AttemptState::Failed);
    assert_eq!(out.exit_code, None);
    assert_eq!(
        out.output_tail,
        "shell executor is disabled on node 7 (start it with --enable-shell-executor)"
    );
    assert!(!dir.path().join("ran").exists());
}

#[tokio::test]
async fn cancel_kills_the_group_and_says_cancelled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = test_ctx(dir.path());
    let pid_file = dir.path().join("gc.pid");
    // Cancel once the job is surely running: when it has written its pid.
    let cancel = {
        let pid_file = pid_file.clone();
        async move {
            read_pid(&pid_file).await;
        }
    };
    let started = Instant::now();
    let spec = ExecutorSpec::Shell(sh("sleep 30 & echo $! > gc.pid; sleep 30"));
    let out = super::run(&spec, &ctx, cancel).await;
    assert_eq!(out, RunOutcome::cancelled());
    assert_eq!(out.state, AttemptState::Failed);
    assert_eq!(out.output_tail, "cancelled");
    assert!(started.elapsed() < Duration::from_secs(10));
    let grandchild = read_pid(&pid_file).await;
    assert!(
        until(Duration::from_secs(5), || gone(grandchild)).await,
        "grandchild {grandchild} still runs"
    );
}

#[tokio::test]
async fn dropping_the_run_kills_the_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = test_ctx(dir.path());
    let pid_file = dir.path().join("gc.pid");
    let spec = ExecutorSpec::Shell(sh("sleep 30 & echo $! > gc.pid; sleep 30"));
    tokio::select! {
        out = super::run(&spec, &ctx, std::future::pending()) => panic!("finished: {out:?}"),
        _ = read_pid(&pid_file) => {}
    }
    let grandchild = read_pid(&pid_file).await;
    assert!(
        until(Duration::from_secs(5), || gone(grandchild)).await,
        "grandchild {grandchild} still runs"
    );
}

#[tokio::test]
async fn bad_specs_fail_with_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = test_ctx(dir.path());

    let out = run_sh(
        ShellSpec {
            argv: vec!["/no/such/program".into()].into(),
            ..ShellSpec::default()
        },
        &ctx,
    )
    .await;
    assert_eq!(out.state, AttemptState::Failed);
    assert!(
        out.output_tail.contains("cannot start `/no/such/program`"),
        "{out:?}"
    );
    assert!(out.output_tail.contains("No such file"), "{out:?}");

    let mut spec = sh("true");
    spec.working_dir = Some("missing".into());
    let out = run_sh(spec, &ctx).await;
    assert_eq!(out.state, AttemptState::Failed);
    assert!(
        out.output_tail.starts_with("working dir ") && out.output_tail.contains("missing"),
        "{out:?}"
    );

    let mut spec = sh("true");
    spec.argv = vec!["true".into()].into();
    let out = run_sh(spec, &ctx).await;
    assert_eq!(out.state, AttemptState::Failed);
    assert!(out.output_tail.contains("both argv and command"), "{out:?}");

    let out = run_sh(ShellSpec::default(), &ctx).await;
    assert_eq!(out.state, AttemptState::Failed);
    assert!(
        out.output_tail.contains("neither argv nor command"),
        "{out:?}"
    );
}

#[tokio::test]
async fn no_timeout_means_run_to_completion() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ctx = test_ctx(dir.path());
    ctx.timeout = None;
    let out = run_sh(sh("echo ok"), &ctx).await;
    assert_eq!(out.state, AttemptState::Succeeded);
    assert_eq!(out.output_tail, "ok\n");
}
