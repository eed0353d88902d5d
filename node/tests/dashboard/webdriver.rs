//! A minimal W3C WebDriver client over reqwest, enough to drive Debian's
//! `chromium` through `chromedriver`: a session, navigation, elements,
//! clicks, scripts, window size and screenshots. `chromedriver` runs in
//! its own process group, which [`Driver`]'s drop kills whole (the
//! browser with it), on success and on failure alike.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Debian's browser and driver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A running `chromedriver`, killed with its process group on drop.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Driver {
    /// Starts `chromedriver` on a free port and waits until it is ready.
    pub async fn start(log: &Path) -> Driver {
        let port = chaos_tests::harness::free_port();
        let log_file = std::fs::File::create(log).expect("the chromedriver log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::from(log_file.try_clone().expect("a log handle")))
            .stderr(Stdio::from(log_file))
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let status = format!("{}/status", driver.url);
        chaos_tests::harness::wait_for("chromedriver to answer /status as ready", || async {
            let text = http.get(&status).send().await.ok()?.text().await.ok()?;
            let v: Value = serde_json::from_str(&text).ok()?;
            (v["value"]["ready"] == true).then_some(())
        })
        .await;
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every browser process it began.
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) with a negative pid signals that process group;
        // it is chromedriver's own (process_group(0) above).
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// A browser session.
#[derive(Clone)]
pub struct Browser {
    http: reqwest::Client,
    base: String,
}

/// A found element.
pub struct Element(String);

impl Browser {
    /// A new headless session with a fresh profile in `profile`, at
    /// `width`x`height`, or why not.
    pub async fn new(
        driver: &Driver,
        profile: &Path,
        width: u32,
        height: u32,
    ) -> Result<Browser, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={width},{height}"),
                ],
            },
        }}});
        // A browser's first start on a fresh machine can be slow: this
        // one call may take up to three minutes.
        let (_, resp) = send_within(
            &http,
            reqwest::Method::POST,
            &format!("{}/session", driver.url),
            Some(caps),
            Duration::from_secs(180),
        )
        .await
        .map_err(|e| format!("POST /session: {e}"))?;
        let id = resp["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session: {resp}"))?
            .to_string();
        Ok(Browser {
            http,
            base: format!("{}/session/{id}", driver.url),
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = send(
            &self.http,
            method.clone(),
            &format!("{}{path}", self.base),
            body,
        )
        .await
        .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        assert!(
            status.is_success(),
            "webdriver {method} {path}: {status} {v}"
        );
        v["value"].clone()
    }

    /// Loads `url` and waits for it (WebDriver's page-load strategy).
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and
    /// returns its value.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The first element matching a CSS selector, if any.
    pub async fn find(&self, css: &str) -> Option<Element> {
        let (status, v) = send(
            &self.http,
            reqwest::Method::POST,
            &format!("{}/element", self.base),
            Some(json!({"using": "css selector", "value": css})),
        )
        .await
        .ok()?;
        if !status.is_success() {
            return None;
        }
        v["value"][ELEMENT].as_str().map(|s| Element(s.into()))
    }

    /// Clicks an element, as a user would.
    pub async fn click(&self, e: &Element) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into an input.
    pub async fn type_into(&self, e: &Element, text: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Sets the window's size.
    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Accepts the open `confirm()` dialog, if one is open.
    pub async fn accept_dialog(&self) -> bool {
        send(
            &self.http,
            reqwest::Method::POST,
            &format!("{}/alert/accept", self.base),
            Some(json!({})),
        )
        .await
        .is_ok_and(|(status, _)| status.is_success())
    }

    /// A PNG of the window, written to `path`.
    pub async fn screenshot(&self, path: &Path) -> PathBuf {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = decode_base64(b64.as_str().unwrap_or_default());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot's folder");
        }
        std::fs::write(path, png).expect("write the screenshot");
        path.to_path_buf()
    }

    /// Ends the session (the browser exits).
    pub async fn quit(&self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

/// One WebDriver call: its status and JSON answer.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<(reqwest::StatusCode, Value), reqwest::Error> {
    send_within(http, method, url, body, Duration::from_secs(60)).await
}

/// [`send`] with its own timeout.
async fn send_within(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
    timeout: Duration,
) -> Result<(reqwest::StatusCode, Value), reqwest::Error> {
    let mut r = http.request(method, url).timeout(timeout);
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = r.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Standard base64 (WebDriver's screenshots), no crate needed for one use.
fn decode_base64(s: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in s.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn base64_decodes() {
    assert_eq!(decode_base64("aGVsbG8="), b"hello");
    assert_eq!(decode_base64("iVBORw0KGgo="), b"\x89PNG\r\n\x1a\n");
}
