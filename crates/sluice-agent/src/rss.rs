//! The agent's own resident memory, reported as the `rss_bytes` gauge so the fleet's agent
//! footprint is visible (DESIGN.md: agent RSS ≤ 15 MB).

/// Resident set size in bytes, from the `VmRSS` line of `/proc/self/status` (Linux); `None`
/// elsewhere.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_something_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::rss_bytes().is_some_and(|b| b > 0));
        }
    }
}
