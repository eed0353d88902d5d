//! `clusterctl` as a user drives it: a `clusterctl dev` cluster (three
//! in-process nodes on real ports), then the job, runs, workers and status
//! commands against it with `-o json`, and Ctrl-C stopping it cleanly.
//! The dev process is killed on drop, also when a test fails.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_clusterctl");

/// Three consecutive free loopback ports, the first returned.
fn free_ports() -> u16 {
    for _ in 0..50 {
        let Ok(l) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(base) = l.local_addr().map(|a| a.port()) else {
            continue;
        };
        drop(l);
        if base < 60_000 && (1..3).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no three consecutive free ports");
}

struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ctl(cluster: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--cluster")
        .arg(cluster)
        .args(args)
        .output()
        .expect("run clusterctl")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "clusterctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Polls `check` every 100 ms until it returns `Some`, or panics naming
/// `what` after `within`.
fn wait_for<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `clusterctl dev` says Ctrl-C stops it (it is serving);
/// panics with its stderr (`errlog`) if it ends first. The returned reader
/// holds its stdout open: a closed pipe would end the dev cluster.
fn wait_ready(
    dev: &mut Dev,
    errlog: &Path,
) -> std::io::Lines<BufReader<std::process::ChildStdout>> {
    let stdout = dev.0.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = wait_for(
        "`clusterctl dev` to say Ctrl-C stops it",
        Duration::from_secs(120),
        || match lines.next() {
            Some(Ok(l)) if l.starts_with("Ctrl-C stops") => Some(true),
            Some(Ok(_)) => None,
            _ => Some(false),
        },
    );
    assert!(
        ready,
        "clusterctl dev ended early: {}",
        std::fs::read_to_string(errlog).unwrap_or_default()
    );
    lines
}

/// The addresses of a dev cluster of `n` nodes from `port` on.
fn dev_addrs(port: u16, n: u16) -> String {
    (0..n)
        .map(|i| format!("127.0.0.1:{}", port + i))
        .collect::<Vec<_>>()
        .join(",")
}

fn start_dev(dir: &Path, port: u16, stderr: &Path) -> Dev {
    start_dev_with(dir, port, stderr, &[])
}

fn start_dev_with(dir: &Path, port: u16, stderr: &Path, extra: &[&str]) -> Dev {
    let child = Command::new(BIN)
        .arg("dev")
        .args(extra)
        .args(["--port", &port.to_string(), "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr).expect("stderr file"))
        .spawn()
        .expect("start clusterctl dev");
    Dev(child)
}

#[test]
fn clusterctl_drives_a_dev_cluster_and_ctrl_c_stops_it_cleanly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_ports();
    let errlog = tmp.path().join("dev.err");
    let mut dev = start_dev(&tmp.path().join("data"), port, &errlog);
    // The dev command says it is ready on stdout.
    let _stdout = wait_ready(&mut dev, &errlog);
    let all = dev_addrs(port, 3);

    // status -o json has the documented shape.
    let status = wait_for("a leader and three voters", Duration::from_secs(60), || {
        let s = json(&ctl(&all, &["status", "-o", "json"]));
        let voters = s["members"]
            .as_array()?
            .iter()
            .filter(|m| m["voter"] == true)
            .count();
        (s["leader"].is_u64() && voters == 3).then_some(s)
    });
    for m in status["members"].as_array().expect("members") {
        for key in [
            "id",
            "addr",
            "voter",
            "state",
            "last_log_index",
            "applied_index",
            "lag",
            "healthy",
        ] {
            assert!(m.get(key).is_some(), "member without {key}: {m}");
        }
    }
    assert!(status["term"].is_u64());
    let leader = status["leader"].as_u64().expect("leader");
    let follower = status["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["id"].as_u64() != Some(leader))
        .and_then(|m| m["addr"].as_str())
        .expect("a follower")
        .to_string();

    // Jobs, through a follower only (the write is forwarded).
    let added = json(&ctl(
        &follower,
        &[
            "job",
            "add",
            "hello",
            "--schedule",
            "every 1 seconds",
            "--http",
            "http://127.0.0.1:9/",
            "--label",
            "team=a",
            "--misfire-grace",
            "30s",
            "-o",
            "json",
        ],
    ));
    assert_eq!(added["id"], "hello");
    assert_eq!(added["executor"]["kind"], "http");
    assert_eq!(added["policies"]["misfire_grace_ms"], 30_000);
    let listed = json(&ctl(
        &all,
        &["job", "list", "--label", "team=a", "-o", "json"],
    ));
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let updated = json(&ctl(
        &all,
        &[
            "job",
            "update",
            "hello",
            "--schedule",
            "every 2 seconds",
            "-o",
            "json",
        ],
    ));
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["schedule"], "every 2 seconds");

    // Runs: the target refuses connections, so runs fail, with no exit code.
    let runs = wait_for("a finished run of hello", Duration::from_secs(60), || {
        let r = json(&ctl(&all, &["runs", "hello", "-o", "json"]));
        let done: Vec<serde_json::Value> = r
            .as_array()?
            .iter()
            .filter(|r| r["state"] == "failed")
            .cloned()
            .collect();
        (!done.is_empty()).then_some(done)
    });
    for key in [
        "job_id",
        "occurrence_id",
        "scheduled_at",
        "attempt",
        "fencing_token",
        "node_id",
        "state",
        "started_at",
        "finished_at",
        "exit_code",
    ] {
        assert!(runs[0].get(key).is_some(), "run without {key}: {}", runs[0]);
    }
    assert!(
        runs[0]["exit_code"].is_null(),
        "no HTTP status, so no code: {}",
        runs[0]
    );

    // Pause by label, resume by id.
    ctl(&all, &["job", "pause", "--label", "team=a"]);
    let got = json(&ctl(&all, &["job", "get", "hello", "-o", "json"]));
    assert_eq!(got["state"], "paused");
    ctl(&all, &["job", "resume", "hello"]);
    let got = json(&ctl(&all, &["job", "get", "hello", "-o", "json"]));
    assert_eq!(got["state"], "active");

    // Workers: none connected.
    let workers = json(&ctl(&all, &["workers", "-o", "json"]));
    assert_eq!(
        workers["workers"].as_array().map(Vec::len),
        Some(0),
        "{workers}"
    );

    // The ledger: exported as JSON lines, and clean.
    let exported = ctl(&all, &["runs", "export", "-o", "jsonl"]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let ledger = tmp.path().join("ledger.jsonl");
    std::fs::write(&ledger, &exported.stdout).expect("write the ledger");
    let lines = String::from_utf8_lossy(&exported.stdout).lines().count();
    assert!(lines >= 3, "an export line, a job, occurrences: {lines}");
    let verified = Command::new(BIN)
        .args(["ledger", "verify"])
        .arg(&ledger)
        .output()
        .expect("run ledger verify");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );

    // Delete; then the job is gone, with a precise error.
    let deleted = ctl(&all, &["job", "delete", "hello"]);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let gone = ctl(&all, &["job", "get", "hello"]);
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );

    // Ctrl-C: a clean stop, no ERROR line.
    // SAFETY: kill(2) with our child's pid touches no memory of ours.
    unsafe {
        libc::kill(dev.0.id() as i32, libc::SIGINT);
    }
    let status = wait_for(
        "clusterctl dev to exit after Ctrl-C",
        Duration::from_secs(60),
        || dev.0.try_wait().ok().flatten(),
    );
    assert!(status.success(), "exit status {status}");
    let err = std::fs::read_to_string(&errlog).unwrap_or_default();
    assert!(
        !err.contains("ERROR"),
        "ERROR lines on a clean Ctrl-C:\n{err}"
    );
}

#[test]
fn verify_passes_on_a_healthy_cluster_and_fails_when_the_sink_is_unreachable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_ports();
    let errlog = tmp.path().join("dev.err");
    let mut dev = start_dev(&tmp.path().join("data"), port, &errlog);
    let _stdout = wait_ready(&mut dev, &errlog);
    let all = dev_addrs(port, 3);
    wait_for("a leader", Duration::from_secs(60), || {
        let s = json(&ctl(&all, &["status", "-o", "json"]));
        s["leader"].is_u64().then_some(())
    });

    let good = json(&ctl(
        &all,
        &["verify", "--duration", "8", "--jobs", "2", "-o", "json"],
    ));
    assert_eq!(good["ok"], true, "{good}");
    assert!(good["expected"].as_u64().unwrap_or(0) >= 6, "{good}");
    // The probes are gone afterwards.
    let left = json(&ctl(&all, &["job", "list", "-o", "json"]));
    assert_eq!(left.as_array().map(Vec::len), Some(0), "{left}");

    // Nothing listens where the nodes are told to post: nothing is
    // delivered, and verify says so with its exit status.
    let bad = ctl(
        &all,
        &[
            "verify",
            "--duration",
            "6",
            "--jobs",
            "1",
            "--sink-advertise",
            "127.0.0.1:1",
            "-o",
            "json",
        ],
    );
    assert!(
        !bad.status.success(),
        "verify passed with an unreachable sink"
    );
    let report: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("a JSON report");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["delivered"], 0, "{report}");
}

/// A hand-made ledger: every whole second from T0+1 s to T0+10 s of a job
/// created at T0, one attempt each with rising tokens.
fn ledger_lines() -> Vec<serde_json::Value> {
    const T0: i64 = 1_796_000_000_000;
    let mut lines = vec![
        serde_json::json!({"type": "export", "since": null, "until": T0 + 10_000, "exported_at": T0 + 20_000}),
        serde_json::json!({"type": "job", "id": "a", "schedule": {"Cron": "* * * * * *"}, "time_zone": "UTC",
            "start_at": null, "end_at": null, "jitter_ms": 0, "version": 1, "state": "active", "created_at": T0}),
    ];
    for i in 1..=10i64 {
        let at = T0 + i * 1000;
        let id = format!("a@{}", store::model::time::rfc3339_ms(at));
        lines.push(serde_json::json!({"type": "occurrence", "job_id": "a", "occurrence_id": id,
            "scheduled_at": at, "state": "succeeded", "reason": "",
            "attempts": [{"number": 1, "fencing_token": 1000 + i as u64, "node_id": 2, "state": "succeeded",
                "due_at": at, "started_at": at + 1, "finished_at": at + 5, "exit_code": 200}]}));
    }
    lines
}

fn verify_ledger(lines: &[serde_json::Value]) -> (bool, String) {
    let tmp = tempfile::NamedTempFile::new().expect("temp file");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(tmp.path(), text).expect("write");
    let out = Command::new(BIN)
        .args(["ledger", "verify"])
        .arg(tmp.path())
        .output()
        .expect("run ledger verify");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn ledger_verify_catches_a_duplicate_a_gap_and_a_stale_token() {
    let clean = ledger_lines();
    let (ok, out) = verify_ledger(&clean);
    assert!(ok, "a clean ledger passes: {out}");
    assert!(out.contains("10 occurrences"), "{out}");

    let mut dup = clean.clone();
    dup.push(clean[5].clone());
    let (ok, out) = verify_ledger(&dup);
    assert!(!ok && out.contains("duplicate:"), "{out}");

    let mut gap = clean.clone();
    gap.remove(6);
    let (ok, out) = verify_ledger(&gap);
    assert!(!ok && out.contains("gap: job a has no occurrence"), "{out}");

    let mut stale = clean.clone();
    stale[4]["attempts"] = serde_json::json!([
        {"number": 1, "fencing_token": 5000, "node_id": 2, "state": "superseded", "due_at": 0, "started_at": null, "finished_at": null, "exit_code": null},
        {"number": 2, "fencing_token": 4000, "node_id": 3, "state": "succeeded", "due_at": 0, "started_at": 10, "finished_at": 20, "exit_code": 200},
    ]);
    let (ok, out) = verify_ledger(&stale);
    assert!(!ok && out.contains("stale token:"), "{out}");

    let mut early = clean.clone();
    early[3]["attempts"][0]["started_at"] =
        serde_json::json!(early[3]["scheduled_at"].as_i64().unwrap_or(0) - 50);
    let (ok, out) = verify_ledger(&early);
    assert!(!ok && out.contains("early:"), "{out}");
}

/// `clusterctl dev --secure`: TLS between everyone and a bootstrapped ACL;
/// `acl`, `token` and `--token`/`--tls-ca` as a user drives them.
#[test]
fn a_secure_dev_cluster_needs_tls_and_tokens() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_ports();
    let data = tmp.path().join("data");
    let errlog = tmp.path().join("dev.err");
    let mut dev = start_dev_with(&data, port, &errlog, &["--secure"]);
    let _stdout = wait_ready(&mut dev, &errlog);
    let all = dev_addrs(port, 2);
    let ca = data.join("ca").join("ca.pem");
    let admin = std::fs::read_to_string(data.join("admin.token"))
        .expect("the admin token file")
        .trim()
        .to_string();
    let ca_s = ca.display().to_string();
    let secure = |token: Option<&str>, args: &[&str]| {
        let mut full = vec!["--tls-ca", ca_s.as_str()];
        if let Some(t) = token {
            full.extend(["--token", t]);
        }
        full.extend(args);
        ctl(&all, &full)
    };
    // Plaintext gets nothing; TLS without a token gets no jobs.
    assert!(
        !ctl(&all, &["job", "list"]).status.success(),
        "plaintext answered"
    );
    let anon = secure(None, &["job", "list"]);
    assert!(!anon.status.success());
    assert!(
        String::from_utf8_lossy(&anon.stderr).contains("needs a token"),
        "{}",
        String::from_utf8_lossy(&anon.stderr)
    );
    // The admin makes a writer and a reader.
    let writer = json(&secure(
        Some(&admin),
        &["token", "create", "ci", "--role", "writer", "-o", "json"],
    ));
    let writer = writer["secret"].as_str().expect("a secret").to_string();
    let reader = json(&secure(
        Some(&admin),
        &["token", "create", "ro", "--role", "reader", "-o", "json"],
    ));
    let reader = reader["secret"].as_str().expect("a secret").to_string();
    let add = [
        "job",
        "add",
        "nightly",
        "--schedule",
        "0 3 * * *",
        "--http",
        "http://127.0.0.1:9/x",
    ];
    let denied = secure(Some(&reader), &add);
    assert!(!denied.status.success(), "a reader added a job");
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("permission denied")
            || String::from_utf8_lossy(&denied.stderr).contains("may not"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    assert!(
        secure(Some(&writer), &add).status.success(),
        "the writer adds a job"
    );
    let listed = json(&secure(Some(&reader), &["job", "list", "-o", "json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let tokens = json(&secure(Some(&admin), &["token", "list", "-o", "json"]));
    let names: Vec<&str> = tokens
        .as_array()
        .expect("tokens")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, vec!["admin", "ci", "ro"]);
    assert!(
        !tokens.to_string().contains(&writer),
        "a secret in the token list"
    );
    assert!(
        secure(Some(&admin), &["token", "revoke", "ci"])
            .status
            .success()
    );
    let revoked = wait_for(
        "the revoked token to be refused",
        Duration::from_secs(30),
        || {
            let out = secure(Some(&writer), &["job", "list"]);
            (!out.status.success()).then_some(out)
        },
    );
    assert!(
        String::from_utf8_lossy(&revoked.stderr).contains("not known"),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
}

/// Exclusion calendars through `clusterctl` on a real dev cluster: a
/// calendar of Christmas, New Year's range and weekends in Europe/Berlin;
/// a daily job that names it skips those days (its next fire time, across
/// the DST change in the unit tests); the calendar cannot be deleted while
/// the job names it (the error names the job); bad days are refused by
/// field, and nothing was changed by a refusal.
#[test]
fn calendars_keep_jobs_off_their_days() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_ports();
    let errlog = tmp.path().join("dev.err");
    let mut dev = start_dev(&tmp.path().join("data"), port, &errlog);
    let _stdout = wait_ready(&mut dev, &errlog);
    let all = dev_addrs(port, 3);
    wait_for("a leader", Duration::from_secs(60), || {
        let s = json(&ctl(&all, &["status", "-o", "json"]));
        s["leader"].is_u64().then_some(())
    });

    // Every day of the week but Wednesday excluded, from today on: the
    // job's next fire is a Wednesday.
    let cal = json(&ctl(
        &all,
        &[
            "calendar",
            "add",
            "not-wednesday",
            "--cron",
            "0 0 * * 0,1,2,4,5,6",
            "--tz",
            "Europe/Berlin",
            "-o",
            "json",
        ],
    ));
    assert_eq!(cal["version"], 1, "{cal}");
    let job = json(&ctl(
        &all,
        &[
            "job",
            "add",
            "wed",
            "--schedule",
            "0 10 * * *",
            "--tz",
            "Europe/Berlin",
            "--http",
            "http://127.0.0.1:9/",
            "--exclude-calendar",
            "not-wednesday",
            "-o",
            "json",
        ],
    ));
    assert_eq!(job["exclude_calendars"][0], "not-wednesday", "{job}");
    let next = job["next_fire_at"].as_str().expect("a next fire time");
    let when = chrono::DateTime::parse_from_rfc3339(next)
        .expect("RFC 3339")
        .with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(
        chrono::Datelike::weekday(&when),
        chrono::Weekday::Wed,
        "{next}"
    );

    // In use: refused, naming the job; still there afterwards.
    let del = ctl(&all, &["calendar", "delete", "not-wednesday"]);
    assert!(!del.status.success());
    let err = String::from_utf8_lossy(&del.stderr);
    assert!(err.contains("wed"), "the refusal names the job: {err}");
    let got = json(&ctl(
        &all,
        &["calendar", "get", "not-wednesday", "-o", "json"],
    ));
    assert_eq!(got["used_by"][0], "wed", "{got}");

    // Bad days are refused by field; no calendar is made.
    let bad = ctl(
        &all,
        &[
            "calendar",
            "add",
            "bad",
            "--range",
            "2026-12-31..2026-12-01",
        ],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("calendar.ranges[0]"), "{err}");
    let list = json(&ctl(&all, &["calendar", "list", "-o", "json"]));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    // Updated to exclude Wednesdays as well, except the job still needs a
    // day: only Thursdays stay open. The job moves at once.
    let upd = json(&ctl(
        &all,
        &[
            "calendar",
            "update",
            "not-wednesday",
            "--cron",
            "0 0 * * 0,1,2,3,5,6",
            "--tz",
            "Europe/Berlin",
            "-o",
            "json",
        ],
    ));
    assert_eq!(upd["version"], 2, "{upd}");
    let job = json(&ctl(&all, &["job", "get", "wed", "-o", "json"]));
    let next = job["next_fire_at"].as_str().expect("a next fire time");
    let when = chrono::DateTime::parse_from_rfc3339(next)
        .expect("RFC 3339")
        .with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(
        chrono::Datelike::weekday(&when),
        chrono::Weekday::Thu,
        "{next}"
    );
    // Once no job names it, it can go.
    assert!(ctl(&all, &["job", "delete", "wed"]).status.success());
    assert!(
        ctl(&all, &["calendar", "delete", "not-wednesday"])
            .status
            .success()
    );
}

/// `ledger verify` judges gaps on the days a job's calendars leave: the
/// hand-made job's instants all fall on one excluded day, so none is
/// expected; without the calendar in the file, the verdict says so.
#[test]
fn ledger_verify_knows_exclusion_calendars() {
    let clean = ledger_lines();
    // Only the export and job lines: no occurrence at all.
    let mut off = vec![clean[0].clone(), clean[1].clone()];
    off[1]["exclude_calendars"] = serde_json::json!(["off"]);
    let mut with_calendar = off.clone();
    with_calendar.push(
        serde_json::json!({"type": "calendar", "name": "off", "time_zone": "UTC",
        "dates": ["2026-11-30"], "ranges": [], "crons": [], "version": 1}),
    );
    let (ok, out) = verify_ledger(&with_calendar);
    assert!(ok, "an excluded day expects no occurrence: {out}");
    // The same day not excluded: ten gaps.
    let mut other_day = off.clone();
    other_day.push(
        serde_json::json!({"type": "calendar", "name": "off", "time_zone": "UTC",
        "dates": ["2026-11-29"], "ranges": [], "crons": [], "version": 1}),
    );
    let (ok, out) = verify_ledger(&other_day);
    assert!(!ok && out.contains("gap: job a has no occurrence"), "{out}");
    // A calendar the file does not hold.
    let (ok, out) = verify_ledger(&off);
    assert!(
        !ok && out.contains("names calendar \"off\", which the ledger does not hold"),
        "{out}"
    );
}

/// A member that answers every cluster call as a follower that could not
/// reach the leader does: UNAVAILABLE with the leader's address in
/// `x-leader-addr`. It counts the calls it refused.
struct Refuser {
    leader: String,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Refuser {
    fn refuse<T>(&self) -> Result<tonic::Response<T>, tonic::Status> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut s = tonic::Status::unavailable("not the leader");
        s.metadata_mut().insert(
            "x-leader-addr",
            self.leader.parse().expect("metadata value"),
        );
        Err(s)
    }
}

#[tonic::async_trait]
impl proto::v1::cluster_service_server::ClusterService for Refuser {
    async fn status(
        &self,
        _: tonic::Request<proto::v1::StatusRequest>,
    ) -> Result<tonic::Response<proto::v1::ClusterStatus>, tonic::Status> {
        self.refuse()
    }
    async fn add_member(
        &self,
        _: tonic::Request<proto::v1::AddMemberRequest>,
    ) -> Result<tonic::Response<proto::v1::ClusterStatus>, tonic::Status> {
        self.refuse()
    }
    async fn remove_member(
        &self,
        _: tonic::Request<proto::v1::RemoveMemberRequest>,
    ) -> Result<tonic::Response<proto::v1::ClusterStatus>, tonic::Status> {
        self.refuse()
    }
}

/// A member that refuses with a leader hint sends clusterctl on to the
/// leader it names. Followers of a healthy cluster forward writes
/// themselves, so a hint reaches clients only when forwarding fails (a
/// follower that cannot reach the leader); the refusing member stands in
/// for that one, in front of a real three-node dev cluster.
#[test]
fn clusterctl_follows_a_leader_hint_to_the_leader() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = free_ports();
    let errlog = tmp.path().join("dev.err");
    let mut dev = start_dev(&tmp.path().join("data"), port, &errlog);
    let _stdout = wait_ready(&mut dev, &errlog);
    let all = dev_addrs(port, 3);
    let status = wait_for("a leader and three voters", Duration::from_secs(60), || {
        let s = json(&ctl(&all, &["status", "-o", "json"]));
        let voters = s["members"]
            .as_array()?
            .iter()
            .filter(|m| m["voter"] == true)
            .count();
        (s["leader"].is_u64() && voters == 3).then_some(s)
    });
    let leader = status["leader"].as_u64().expect("leader");
    let leader_addr = status["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["id"] == leader)
        .and_then(|m| m["addr"].as_str())
        .expect("the leader's address")
        .to_string();

    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the refusing member");
    let refuser_addr = listener.local_addr().expect("local addr").to_string();
    listener.set_nonblocking(true).expect("nonblocking");
    let refuser = Refuser {
        leader: leader_addr.clone(),
        calls: calls.clone(),
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        tonic::transport::Server::builder()
            .add_service(proto::v1::cluster_service_server::ClusterServiceServer::new(refuser))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
    });

    // Only the refusing member is named: the answer can come from the
    // leader only by following its hint.
    let out = ctl(&refuser_addr, &["status", "-o", "json"]);
    assert!(
        out.status.success(),
        "status through a member that hints {leader_addr}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        calls.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the refusing member was never asked"
    );
    let s = json(&out);
    assert_eq!(s["leader"].as_u64(), Some(leader), "{s}");
    assert_eq!(s["members"].as_array().map(Vec::len), Some(3), "{s}");
}
