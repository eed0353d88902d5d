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
/// dir as the running binary; built with cargo (same profile) if missing.
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

/// `name` beside the running binary, built with `cargo build ARGS` if missing.
fn locate(name: &str, build: &[&str]) -> Result<PathBuf, BinaryError> {
    let exe = std::env::current_exe().map_err(BinaryError::CurrentExe)?;
    let dir = profile_dir(&exe).ok_or_else(|| {
        BinaryError::CurrentExe(std::io::Error::other("executable has no directory"))
    })?;
    let bin = dir.join(name);
    if !bin.exists() {
        let mut cmd =
            std::process::Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
        cmd.arg("build").args(build);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let ok = cmd.status().map_err(BinaryError::Cargo)?.success();
        if !ok || !bin.exists() {
            return Err(BinaryError::BuildFailed(bin));
        }
    }
    Ok(bin)
}
