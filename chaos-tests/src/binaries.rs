//! Finding (and if need be building) the `schedulerd` binary that the
//! benchmarks and chaos runs start. Shared so both build it the same way.

use std::path::{Path, PathBuf};

/// Why no `schedulerd` binary could be had.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error("cannot locate the running executable: {0}")]
    CurrentExe(std::io::Error),
    #[error("running `cargo build -p node --bin schedulerd`: {0}")]
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
    let exe = std::env::current_exe().map_err(BinaryError::CurrentExe)?;
    let dir = profile_dir(&exe).ok_or_else(|| {
        BinaryError::CurrentExe(std::io::Error::other("executable has no directory"))
    })?;
    let bin = dir.join("schedulerd");
    if !bin.exists() {
        let mut cmd =
            std::process::Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
        cmd.args(["build", "-p", "node", "--bin", "schedulerd"]);
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
