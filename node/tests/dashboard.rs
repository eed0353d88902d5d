//! The dashboard in a real browser: Debian's `chromium`, driven through
//! `chromedriver` (W3C WebDriver), against a real three-node cluster. In
//! the browser: the jobs page shows the jobs; "Run now" makes a new run
//! mark appear and "Pause" changes the row, without a reload; a run
//! started elsewhere appears on the job's page; after kill -9 of the
//! leader, a follower's overview (already open) shows the new leader.
//! The page is never reloaded: a marker set on `window` after the load
//! is still there at the end of each step.
//!
//! It saves the README's screenshots (`docs/img/dashboard-overview.png`,
//! `docs/img/dashboard-job.png`), one at phone width in the test's
//! target folder, and on failure one of the page as it was.
//!
//! Without the browser or the driver it is skipped with a message;
//! with `CI` set it fails instead (`.ci/run` installs both).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chaos_tests::harness::{Proc, wait_cluster, wait_for};
use serde_json::{Value, json};
use support::*;
use webdriver::{Browser, CHROMEDRIVER, CHROMIUM, Driver};

#[path = "dashboard/webdriver.rs"]
mod webdriver;

/// Whether the browser test can run here; panics under CI when not.
fn runnable() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why =
        format!("{missing:?} not installed (Debian: apt-get install chromium chromium-driver)");
    assert!(
        std::env::var_os("CI").is_none(),
        "the dashboard browser test cannot run, and CI is set so it may not be skipped: {why}"
    );
    eprintln!("SKIPPED the dashboard browser test: {why} (with CI set, this is a failure)");
    false
}

/// The repository's `docs/img`.
fn docs_img(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/img")
        .join(file)
}

/// A JSON call to the cluster's HTTP API.
async fn api(http: &reqwest::Client, method: &str, url: &str, body: Option<Value>) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut r = http.request(method.clone(), url);
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = r
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    assert!(status.is_success(), "{method} {url}: {status} {v}");
    v
}

/// A job that GETs `url` on `schedule`.
fn job(id: &str, schedule: &str, url: &str, labels: Value, paused: bool) -> Value {
    json!({
        "id": id,
        "name": format!("{} (GET {})", id.replace('-', " "), url.rsplit('/').next().unwrap_or("")),
        "labels": labels,
        "schedule": {"cron": schedule},
        "paused": paused,
        "executor": {"http": {"method": "GET", "url": url}},
        "policies": {"misfire_grace": "1m"},
    })
}

/// Polls `script` in the page until it returns something other than
/// null, false or an empty string; panics naming `what` at the deadline.
async fn wait_page(b: &Browser, what: &str, script: &str) -> Value {
    wait_for(what, || async {
        let v = b.eval(script, vec![]).await;
        match &v {
            Value::Null | Value::Bool(false) => None,
            Value::String(s) if s.is_empty() => None,
            _ => Some(v),
        }
    })
    .await
}

/// Sets a marker on `window`; [`assert_not_reloaded`] checks it later.
async fn mark_page(b: &Browser, marker: &str) {
    b.eval("window.testMarker = arguments[0];", vec![json!(marker)])
        .await;
}

async fn assert_not_reloaded(b: &Browser, marker: &str, step: &str) {
    let v = b.eval("return window.testMarker || null;", vec![]).await;
    assert_eq!(v, json!(marker), "the page was reloaded during: {step}");
}

/// Runs `job` now and waits until that run has ended (through the API).
async fn run_to_end(http: &reqwest::Client, base: &str, job: &str) {
    let run = api(http, "POST", &format!("{base}/api/v1/jobs/{job}/run"), None).await;
    let occ = run["occurrence_id"].as_str().expect("an occurrence id");
    let url = format!("{base}/api/v1/runs?job_id={job}");
    wait_for(&format!("the run {occ} to end"), || async {
        let v = api(http, "GET", &url, None).await;
        let state = v["runs"]
            .as_array()?
            .iter()
            .find(|r| r["occurrence_id"] == occ)?["state"]
            .as_str()?
            .to_string();
        (state != "armed" && state != "running").then_some(())
    })
    .await;
}

/// Everything the browser checks, given a browser and the cluster.
async fn scenario(b: Browser, mut procs: Vec<Proc>, phone_shot: PathBuf) {
    let s = wait_cluster(&procs[0].addr, &[1, 2, 3]).await;
    let leader = s.leader.expect("a leader");
    let follower = procs
        .iter()
        .find(|p| p.id != leader)
        .expect("a follower")
        .addr
        .clone();
    let base = format!("http://{follower}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let ok_url = format!("http://{follower}/api/v1/openapi.json");
    let bad_url = format!("http://{follower}/api/v1/no-such-route");
    let jobs = [
        job(
            "nightly-report",
            "0 3 * * *",
            &ok_url,
            json!({"team": "data"}),
            false,
        ),
        job(
            "ping-api",
            "*/5 * * * *",
            &ok_url,
            json!({"team": "web"}),
            false,
        ),
        job(
            "flaky-export",
            "30 * * * *",
            &bad_url,
            json!({"team": "data"}),
            false,
        ),
        job(
            "weekly-cleanup",
            "0 4 * * 0",
            &ok_url,
            json!({"team": "ops"}),
            true,
        ),
    ];
    for j in &jobs {
        api(
            &http,
            "POST",
            &format!("{base}/api/v1/jobs"),
            Some(j.clone()),
        )
        .await;
    }
    // Some history, so the marks have colours.
    for (id, n) in [("nightly-report", 3), ("flaky-export", 2), ("ping-api", 1)] {
        for _ in 0..n {
            run_to_end(&http, &base, id).await;
        }
    }

    // The jobs page shows every job, with its marks.
    b.goto(&format!("{base}/jobs")).await;
    let ids = wait_page(
        &b,
        "the jobs page to list 4 jobs",
        "const r = [...document.querySelectorAll('tr[data-job]')].map(t => t.dataset.job); \
         return r.length === 4 ? r : null;",
    )
    .await;
    assert_eq!(
        ids,
        json!([
            "flaky-export",
            "nightly-report",
            "ping-api",
            "weekly-cleanup"
        ])
    );
    let text = b.eval("return document.body.innerText;", vec![]).await;
    let text = text.as_str().unwrap_or_default();
    for want in [
        "every day at 03:00",
        "every 5 minutes",
        "paused",
        "team=data",
    ] {
        assert!(
            text.to_lowercase().contains(&want.to_lowercase()),
            "the jobs page shows {want:?}: {text}"
        );
    }
    wait_page(
        &b,
        "the live stream to connect",
        "return document.getElementById('live').classList.contains('on');",
    )
    .await;
    mark_page(&b, "jobs-page").await;

    // Run now: a new mark, without a reload.
    let marks =
        "return Number(document.querySelector('tr[data-job=\"ping-api\"] .marks').dataset.count);";
    let before = b.eval(marks, vec![]).await.as_u64().unwrap_or(0);
    let run = b
        .find("tr[data-job=\"ping-api\"] button[data-act=\"run\"]")
        .await
        .expect("ping-api's Run now button");
    b.click(&run).await;
    wait_page(
        &b,
        "a new run mark on ping-api's row",
        &format!(
            "const n = Number(document.querySelector('tr[data-job=\"ping-api\"] .marks').dataset.count); \
             return n > {before} ? n : null;"
        ),
    )
    .await;
    wait_page(
        &b,
        "ping-api's newest mark to turn green (succeeded)",
        "const m = document.querySelectorAll('tr[data-job=\"ping-api\"] .mark'); \
         return m.length > 0 && m[m.length - 1].classList.contains('ok');",
    )
    .await;
    assert_not_reloaded(&b, "jobs-page", "run now").await;

    // Pause: the row's state changes, and its button becomes Resume.
    let pause = b
        .find("tr[data-job=\"ping-api\"] button[data-act=\"pause\"]")
        .await
        .expect("ping-api's Pause button");
    b.click(&pause).await;
    wait_page(
        &b,
        "ping-api's row to show paused",
        "const r = document.querySelector('tr[data-job=\"ping-api\"]'); \
         return r.querySelector('[data-state]').dataset.state === 'paused' \
             && !!r.querySelector('button[data-act=\"resume\"]');",
    )
    .await;
    assert_not_reloaded(&b, "jobs-page", "pause").await;
    let got = api(&http, "GET", &format!("{base}/api/v1/jobs/ping-api"), None).await;
    assert_eq!(got["state"], "paused", "{got}");

    // Phone width: the jobs page fits without sideways scrolling.
    b.resize(390, 844).await;
    wait_page(
        &b,
        "the jobs page to fit a 390 px wide window",
        "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
    )
    .await;
    let shot = b.screenshot(&phone_shot).await;
    eprintln!("phone-width screenshot: {}", shot.display());
    b.resize(1280, 900).await;

    // A job's page: a run started elsewhere appears in its history.
    b.goto(&format!("{base}/jobs/nightly-report")).await;
    wait_page(
        &b,
        "the job page's live stream to connect",
        "return document.getElementById('live').classList.contains('on');",
    )
    .await;
    mark_page(&b, "job-page").await;
    let count = "const t = document.querySelector('#runs [data-count]'); return t ? Number(t.dataset.count) : 0;";
    let before = b.eval(count, vec![]).await.as_u64().unwrap_or(0);
    assert_eq!(before, 3, "the job page shows the 3 runs so far");
    let started = api(
        &http,
        "POST",
        &format!("{base}/api/v1/jobs/nightly-report/run"),
        None,
    )
    .await;
    let occ = started["occurrence_id"].as_str().expect("an occurrence id");
    wait_page(
        &b,
        &format!("the run {occ} to appear, succeeded, on the job page"),
        &format!(
            "const r = [...document.querySelectorAll('#runs tr[data-run]')].find(t => t.dataset.run === {occ}); \
             return !!r && !!r.querySelector('.badge.ok');",
            occ = json!(occ)
        ),
    )
    .await;
    assert_not_reloaded(&b, "job-page", "a run started through the API").await;
    let next = b
        .eval(
            "return document.querySelectorAll('ol.fires time').length;",
            vec![],
        )
        .await;
    assert_eq!(next, json!(10), "the next 10 fire times");
    b.screenshot(&docs_img("dashboard-job.png")).await;

    // Delete asks first (confirm), then goes back to the list.
    b.goto(&format!("{base}/jobs/weekly-cleanup")).await;
    let delete = wait_for("weekly-cleanup's Delete button", || {
        b.find("button[data-act=\"delete\"]")
    })
    .await;
    b.click(&delete).await;
    wait_for("the confirmation dialog, accepted", || async {
        b.accept_dialog().await.then_some(())
    })
    .await;
    wait_page(
        &b,
        "the jobs page without weekly-cleanup",
        "return location.pathname === '/jobs' \
             && !!document.querySelector('tr[data-job=\"ping-api\"]') \
             && !document.querySelector('tr[data-job=\"weekly-cleanup\"]');",
    )
    .await;

    // The overview on a follower; then kill -9 the leader.
    b.goto(&format!("{base}/")).await;
    let shown = wait_page(
        &b,
        "the overview to show the leader",
        "const l = document.getElementById('leader'); return l ? l.dataset.leader : null;",
    )
    .await;
    assert_eq!(shown, json!(leader.to_string()));
    wait_page(
        &b,
        "the overview's live stream to connect",
        "return document.getElementById('live').classList.contains('on');",
    )
    .await;
    b.screenshot(&docs_img("dashboard-overview.png")).await;
    mark_page(&b, "overview").await;
    let old = procs
        .iter_mut()
        .find(|p| p.id == leader)
        .expect("the leader's process");
    old.kill();
    let new = wait_page(
        &b,
        "the follower's open overview to show a new leader",
        &format!(
            "const l = document.getElementById('leader'); \
             const v = l ? l.dataset.leader : ''; \
             return v !== '' && v !== '{leader}' ? v : null;"
        ),
    )
    .await;
    assert_not_reloaded(&b, "overview", "the leader's failover").await;
    let new: u64 = new
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a node id: {new}"));
    assert_ne!(new, leader);
    let s = wait_for("a survivor to report the new leader", || async {
        chaos_tests::harness::status(&follower)
            .await
            .filter(|s| s.leader.is_some_and(|l| l != leader))
    })
    .await;
    assert_eq!(
        s.leader,
        Some(new),
        "the page shows the cluster's new leader"
    );

    // Once the ACL is on, the pages need a token: the sign-in page keeps
    // it in a cookie that scripts cannot read.
    sign_in(&b, &base, &follower).await;
}

/// Bootstraps the ACL through `addr`, then signs in with an unknown
/// token and with the right one, and out again.
async fn sign_in(b: &Browser, base: &str, addr: &str) {
    use proto::v1 as pb;
    let mut acl = pb::acl_service_client::AclServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let admin = acl
        .bootstrap(pb::AclBootstrapRequest {
            name: "root".into(),
        })
        .await
        .expect("bootstrap the ACL")
        .into_inner()
        .secret;
    b.goto(&format!("{base}/jobs")).await;
    let at = b
        .eval("return location.pathname + location.search;", vec![])
        .await;
    assert_eq!(at, json!("/login?next=%2Fjobs"), "a page without a token");
    let refused = "return !!document.getElementById('login-error');";
    let signed_in = "return location.pathname === '/jobs';";
    for (token, what, check) in [
        ("sdt_not-a-token", "an unknown token to be refused", refused),
        (admin.as_str(), "the sign-in to land on /jobs", signed_in),
    ] {
        let input = wait_for("the token field", || b.find("input[name=\"token\"]")).await;
        b.type_into(&input, token).await;
        let submit = b
            .find("form.login button[type=\"submit\"]")
            .await
            .expect("the sign-in button");
        b.click(&submit).await;
        wait_page(b, what, check).await;
    }
    wait_page(
        b,
        "the jobs page, signed in",
        "return !!document.querySelector('tr[data-job]');",
    )
    .await;
    wait_page(
        b,
        "the live stream to connect with the cookie",
        "return document.getElementById('live').classList.contains('on');",
    )
    .await;
    let cookies = b.eval("return document.cookie;", vec![]).await;
    assert!(
        !cookies
            .as_str()
            .unwrap_or_default()
            .contains("schedulerd_token"),
        "scripts cannot read the token: {cookies}"
    );
    let out = b
        .find("footer button[type=\"submit\"]")
        .await
        .expect("the sign-out button");
    b.click(&out).await;
    wait_page(
        b,
        "signing out to land on /login",
        "return location.pathname === '/login';",
    )
    .await;
    b.goto(&format!("{base}/")).await;
    wait_page(
        b,
        "a page after signing out to ask for a token",
        "return location.pathname === '/login';",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    if !runnable() {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let procs = start_cluster(root.path(), 3, &[]).await;
    let log = root.path().join("chromedriver.log");
    let driver = Driver::start(&log).await;
    let profile = root.path().join("chromium-profile");
    std::fs::create_dir_all(&profile).expect("a profile folder");
    let browser = match Browser::new(&driver, &profile, 1280, 900).await {
        Ok(b) => b,
        Err(e) => {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("chromium did not start a session: {e}\nchromedriver's log:\n{text}");
        }
    };
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let run = tokio::spawn(scenario(
        browser.clone(),
        procs,
        out.join("dashboard-phone.png"),
    ))
    .await;
    if let Err(e) = run {
        let at = now_ms();
        let shot = browser
            .screenshot(&out.join(format!("dashboard-failure-{at}.png")))
            .await;
        eprintln!("the page at the failure: {}", shot.display());
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        eprintln!("chromedriver's log, last lines:\n{tail}");
        browser.quit().await;
        drop(driver);
        match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            Err(e) => panic!("the scenario did not finish: {e}"),
        }
    }
    browser.quit().await;
}
