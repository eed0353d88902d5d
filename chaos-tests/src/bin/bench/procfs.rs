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

/// CPU time (user + system) that process `pid` (`None`: this process)
/// has used, in microseconds, from `/proc/PID/stat`: the kernel's count,
/// in clock ticks of `USER_HZ`, which Linux fixes at 100 per second for
/// this file, so the resolution is 10 ms.
pub fn cpu_us(pid: Option<u32>) -> Option<u64> {
    const USER_HZ: u64 = 100;
    let path = pid.map_or_else(
        || "/proc/self/stat".to_string(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces: count from its `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `)`.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1_000_000 / USER_HZ)
}

/// CPU used between two wall-clock instants, per node and by this process
/// (the bench and its sink).
pub struct CpuWindow {
    /// `(node id, µs)`; a node whose process could not be read is absent.
    pub nodes: Vec<(u64, u64)>,
    /// This process: the bench's clients and the sink.
    pub bench_us: u64,
}

/// Samples the CPU time of `nodes` (`(id, pid)`) and of this process at
/// wall-clock `from` and `to` (Unix ms), and returns what each used in
/// between.
pub async fn cpu_between(nodes: Vec<(u64, u32)>, from: i64, to: i64) -> CpuWindow {
    let sample = |nodes: &[(u64, u32)]| -> Vec<Option<u64>> {
        nodes.iter().map(|&(_, pid)| cpu_us(Some(pid))).collect()
    };
    crate::time::sleep_until_ms(from).await;
    let (start, self_start) = (sample(&nodes), cpu_us(None));
    crate::time::sleep_until_ms(to).await;
    let (end, self_end) = (sample(&nodes), cpu_us(None));
    CpuWindow {
        nodes: nodes
            .iter()
            .zip(start.iter().zip(&end))
            .filter_map(|(&(id, _), (a, b))| {
                Some((id, b.as_ref()?.saturating_sub(a.as_ref().copied()?)))
            })
            .collect(),
        bench_us: self_end
            .zip(self_start)
            .map_or(0, |(b, a)| b.saturating_sub(a)),
    }
}
