//! Memory of a process and disk use of a directory, read from the kernel
//! rather than from the process, so a node's own accounting cannot hide
//! anything (sled's page cache, allocator slack).

use std::path::Path;

/// A `kB` field of /proc/PID/status (`VmRSS`, `VmHWM`), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.split(':').next() == Some(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resident memory of `pid`, in bytes.
pub fn rss(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmRSS")
}

/// Disk use under `dir`: (allocated bytes, apparent bytes). Allocated
/// (st_blocks) is what the disk holds; apparent is the sum of file
/// lengths, which sled's preallocated or sparse files can exceed.
pub fn dir_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return total;
    };
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            let (a, b) = dir_bytes(&e.path());
            total = (total.0 + a, total.1 + b);
        } else {
            total = (total.0 + meta.blocks() * 512, total.1 + meta.len());
        }
    }
    total
}
