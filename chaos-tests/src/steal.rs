//! CPU steal from /proc/stat, recorded next to every benchmark figure
//! because this machine is shared.

/// (steal, total) jiffies from the `cpu` line of /proc/stat.
pub fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let nums: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: guest time is already
    // counted in user/nice, so the total is the first 8.
    let steal = *nums.get(7)?;
    Some((steal, nums.iter().take(8).sum()))
}

/// Steal between two readings, in percent of all CPU time.
pub fn steal_percent(start: Option<(u64, u64)>, end: Option<(u64, u64)>) -> Option<f64> {
    let ((s0, t0), (s1, t1)) = (start?, end?);
    let dt = t1.checked_sub(t0).filter(|&d| d > 0)?;
    Some(100.0 * s1.saturating_sub(s0) as f64 / dt as f64)
}
