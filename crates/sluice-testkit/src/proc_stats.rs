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
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse(&status, &stat)
}

fn parse(status: &str, stat: &str) -> Option<ProcStats> {
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n * 1024)
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after "pid (comm)".
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = rustix::param::clock_ticks_per_second();
    Some(ProcStats { rss_bytes: kb("VmRSS:")?, peak_rss_bytes: kb("VmHWM:")?, cpu_ms: ticks * 1000 / hz.max(1) })
}

/// A process's `/proc` files, opened once and read again on each call: a benchmark that holds
/// as many sockets as its open-files limit allows can still read them (opening them then
/// fails with "too many open files").
#[derive(Debug)]
pub struct ProcFiles {
    status: fs::File,
    stat: fs::File,
    io: fs::File,
}

impl ProcFiles {
    pub fn open(pid: u32) -> std::io::Result<ProcFiles> {
        let open = |f: &str| fs::File::open(format!("/proc/{pid}/{f}"));
        Ok(ProcFiles { status: open("status")?, stat: open("stat")?, io: open("io")? })
    }

    fn reread(f: &mut fs::File) -> std::io::Result<String> {
        use std::io::{Read, Seek, SeekFrom};
        f.seek(SeekFrom::Start(0))?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        Ok(text)
    }

    /// The process's stats now; an error when it is gone (reads of a dead process's files fail).
    pub fn stats(&mut self) -> std::io::Result<ProcStats> {
        let status = Self::reread(&mut self.status)?;
        let stat = Self::reread(&mut self.stat)?;
        parse(&status, &stat).ok_or_else(|| std::io::Error::other("unexpected /proc/<pid>/status or stat"))
    }

    /// As [`write_bytes`].
    pub fn write_bytes(&mut self) -> std::io::Result<u64> {
        let io = Self::reread(&mut self.io)?;
        io.lines()
            .find_map(|l| l.strip_prefix("write_bytes:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| std::io::Error::other("no write_bytes in /proc/<pid>/io"))
    }
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
        let mut files = ProcFiles::open(std::process::id()).unwrap();
        let first = files.stats().unwrap();
        let _grow: Vec<u8> = vec![1; 8 << 20];
        let again = files.stats().unwrap();
        assert!(first.rss_bytes > 0 && again.peak_rss_bytes >= first.peak_rss_bytes, "read again, not cached");
        assert!(files.write_bytes().is_ok());
    }
}
