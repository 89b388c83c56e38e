//! A process's resident memory, CPU time and disk writes, and the machine's load average, read
//! from `/proc` (Linux).

use std::fs;

/// What `/proc/<pid>` says about a process now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProcStats {
    /// Resident set size (VmRSS), bytes.
    pub rss_bytes: u64,
    /// Peak resident set size (VmHWM), bytes.
    pub peak_rss_bytes: u64,
    /// User + system CPU time consumed so far, milliseconds.
    pub cpu_ms: u64,
}

/// Reads the stats of `pid`; `None` if the process is gone or `/proc` is unreadable.
pub fn read(pid: u32) -> Option<ProcStats> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n * 1024)
    };
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after "pid (comm)".
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = rustix::param::clock_ticks_per_second();
    Some(ProcStats { rss_bytes: kb("VmRSS:")?, peak_rss_bytes: kb("VmHWM:")?, cpu_ms: ticks * 1000 / hz.max(1) })
}

/// Bytes `pid` caused to be written to storage so far (`write_bytes` of `/proc/<pid>/io`:
/// counted when the page cache is dirtied, in whole pages; socket writes are not in it). `None`
/// if the process is gone or the file is unreadable.
pub fn write_bytes(pid: u32) -> Option<u64> {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok())
}

/// The 1-, 5- and 15-minute load averages as `/proc/loadavg` spells them (`"10.31 8.85 5.49"`).
pub fn loadavg() -> Option<String> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    let three: Vec<&str> = text.split_whitespace().take(3).collect();
    (three.len() == 3).then(|| three.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let s = read(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0 && s.peak_rss_bytes >= s.rss_bytes);
        assert!(write_bytes(std::process::id()).is_some());
        assert_eq!(loadavg().unwrap().split(' ').count(), 3);
    }
}
