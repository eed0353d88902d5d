//! Finding (and if need be building) the `schedulerd` and `rust-worker`
//! binaries that the benchmarks and chaos runs start. Shared so both build it the same way.

use std::path::{Path, PathBuf};

/// Why a binary could not be had.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error("cannot locate the running executable: {0}")]
    CurrentExe(std::io::Error),
    #[error("running `cargo build`: {0}")]
    Cargo(std::io::Error),
    #[error("could not build {0}")]
    BuildFailed(PathBuf),
}

/// The target profile dir (`target/debug`, `target/release`) that holds
/// `exe`: a test binary lives one level down, in `deps/`.
fn profile_dir(exe: &Path) -> Option<&Path> {
    let dir = exe.parent()?;
    if dir.ends_with("deps") {
        dir.parent()
    } else {
        Some(dir)
    }
}

/// `schedulerd` from `$SCHEDULERD_BIN`, else from the same target profile
/// dir as the running binary, built first with cargo (same profile) so that
/// it matches the source under test (a no-op when it is up to date).
pub fn schedulerd() -> Result<PathBuf, BinaryError> {
    if let Some(p) = std::env::var_os("SCHEDULERD_BIN") {
        return Ok(PathBuf::from(p));
    }
    locate("schedulerd", &["-p", "node", "--bin", "schedulerd"])
}

/// The Rust test worker (`rust-worker`), found or built like [`schedulerd`]
/// (`$RUST_WORKER_BIN` overrides).
pub fn rust_worker() -> Result<PathBuf, BinaryError> {
    if let Some(p) = std::env::var_os("RUST_WORKER_BIN") {
        return Ok(PathBuf::from(p));
    }
    locate(
        "rust-worker",
        &["-p", "chaos-tests", "--bin", "rust-worker"],
    )
}

/// `clusterctl`, found or built like [`schedulerd`] (`$CLUSTERCTL_BIN`
/// overrides).
pub fn clusterctl() -> Result<PathBuf, BinaryError> {
    if let Some(p) = std::env::var_os("CLUSTERCTL_BIN") {
        return Ok(PathBuf::from(p));
    }
    locate("clusterctl", &["-p", "cli", "--bin", "clusterctl"])
}

/// A variable that cargo sets for a package's own build or test run.
fn is_package_var(k: &str) -> bool {
    k.starts_with("CARGO_PKG_")
        || k.starts_with("CARGO_BIN_EXE_")
        || matches!(
            k,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// Binaries already built by this process: one `cargo build` each.
static BUILT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// `name` beside the running binary, after `cargo build ARGS` (same
/// profile), so a test never runs a binary older than the source. Without
/// cargo (a copied test binary), an existing binary is used with a warning,
/// except under `CI`, where that is an error.
fn locate(name: &str, build: &[&str]) -> Result<PathBuf, BinaryError> {
    let exe = std::env::current_exe().map_err(BinaryError::CurrentExe)?;
    let dir = profile_dir(&exe).ok_or_else(|| {
        BinaryError::CurrentExe(std::io::Error::other("executable has no directory"))
    })?;
    let bin = dir.join(name);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if built.contains(&bin) {
        return Ok(bin);
    }
    let mut cmd = std::process::Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
    cmd.arg("build").arg("--quiet").args(build);
    // Build as from a shell. A test gets its package's own variables from
    // cargo (CARGO_MANIFEST_DIR, CARGO_PKG_NAME, ...), and ring's build
    // script tracks CARGO_MANIFEST_DIR: passed on, it changed ring's
    // fingerprint, so ring, rustls, reqwest and node were rebuilt (30 s on
    // 2 cores) for each of these builds, and again by the next plain build.
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str()
            && is_package_var(k)
        {
            cmd.env_remove(k);
        }
    }
    if dir.ends_with("release") {
        cmd.arg("--release");
    }
    match cmd.status() {
        Ok(s) if s.success() && bin.exists() => {}
        Ok(_) => return Err(BinaryError::BuildFailed(bin)),
        Err(e) if bin.exists() && std::env::var_os("CI").is_none() => {
            eprintln!(
                "warning: cannot run cargo ({e}); using {} as it is, which may be older than the source",
                bin.display()
            );
        }
        Err(e) => return Err(BinaryError::Cargo(e)),
    }
    built.push(bin.clone());
    Ok(bin)
}
