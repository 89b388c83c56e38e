//! Running a service's hook commands (`check`, `reload`, a command probe, consumer check
//! validators): `sh -c` in its own process group, with a timeout that kills the whole group,
//! and the tail of stdout and stderr kept for the report.

use std::fmt;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Bytes of each output stream kept (the end of it).
const TAIL_BYTES: usize = 16 << 10;

/// Lines of stderr shown in a failure message.
const SHOWN_LINES: usize = 10;

/// How long to wait for the output pipes to close after the hook exited (a background
/// process it started may hold them open), and for the group to die after a kill.
const GRACE: Duration = Duration::from_millis(500);

/// How a hook ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal it did not send itself ended it.
    Signaled(i32),
    /// It ran past its timeout and its process group was killed.
    TimedOut { after: Duration },
}

/// One finished run of a hook command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    /// The command as run, placeholders replaced.
    pub command: String,
    pub status: HookStatus,
    /// The last bytes of its stdout.
    pub stdout: String,
    /// The last bytes of its stderr.
    pub stderr: String,
}

impl HookRun {
    /// True when it exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.status == HookStatus::Exited(0)
    }

    /// The last `n` lines of stderr.
    pub fn stderr_lines(&self, n: usize) -> &str {
        last_lines(self.stderr.trim_end(), n)
    }
}

impl fmt::Display for HookRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ", self.command)?;
        match self.status {
            HookStatus::Exited(code) => write!(f, "exited with status {code}")?,
            HookStatus::Signaled(signal) => write!(f, "was killed by signal {signal}")?,
            HookStatus::TimedOut { after } => write!(f, "timed out after {}ms and was killed", after.as_millis())?,
        }
        let tail = self.stderr_lines(SHOWN_LINES);
        if !tail.is_empty() {
            write!(f, "; stderr:\n{tail}")?;
        }
        Ok(())
    }
}

/// Replaces `{release}` and `{current}` in a hook command. Paths go in as they are: the
/// state directory is the operator's, and release directory names are hex.
pub fn expand(template: &str, release: &Path, current: &Path) -> String {
    template.replace("{release}", &release.to_string_lossy()).replace("{current}", &current.to_string_lossy())
}

/// Runs `sh -c command` in `cwd` with stdin closed, in a new process group. After `timeout`
/// the whole group is killed (SIGKILL) and the run is [`HookStatus::TimedOut`]. The error is
/// only for a hook that could not be started or waited for.
pub fn run(command: &str, cwd: &Path, timeout: Duration) -> io::Result<HookRun> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let stdout = Tail::read(child.stdout.take());
    let stderr = Tail::read(child.stderr.take());
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let status = match done_rx.recv_timeout(timeout) {
        Ok(Ok(status)) => exit_status(status),
        Ok(Err(e)) => return Err(e),
        Err(RecvTimeoutError::Timeout) => {
            // The child has not been reaped (its waiter has not returned), so `pid` is still
            // its process group.
            kill_group(pid);
            let _ = done_rx.recv_timeout(GRACE);
            HookStatus::TimedOut { after: timeout }
        }
        Err(RecvTimeoutError::Disconnected) => return Err(io::Error::other("the hook's waiter thread stopped")),
    };
    Ok(HookRun { command: command.to_string(), status, stdout: stdout.finish(), stderr: stderr.finish() })
}

fn exit_status(status: ExitStatus) -> HookStatus {
    match (status.code(), status.signal()) {
        (Some(code), _) => HookStatus::Exited(code),
        (None, Some(signal)) => HookStatus::Signaled(signal),
        (None, None) => HookStatus::Exited(-1),
    }
}

fn kill_group(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

fn last_lines(s: &str, n: usize) -> &str {
    match s.rmatch_indices('\n').nth(n.saturating_sub(1)) {
        Some((i, _)) if n > 0 => &s[i + 1..],
        _ if n == 0 => "",
        _ => s,
    }
}

/// The end of one output stream, read on its own thread.
struct Tail {
    buf: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Tail {
    fn read<R: Read + Send + 'static>(pipe: Option<R>) -> Tail {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        if let Some(mut pipe) = pipe {
            let buf = Arc::clone(&buf);
            thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    if let Ok(mut buf) = buf.lock() {
                        buf.extend_from_slice(&chunk[..n]);
                        let excess = buf.len().saturating_sub(TAIL_BYTES);
                        buf.drain(..excess);
                    }
                }
                let _ = tx.send(());
            });
        }
        Tail { buf, done }
    }

    /// What was read, once the pipe closed or [`GRACE`] passed.
    fn finish(self) -> String {
        let _ = self.done.recv_timeout(GRACE);
        self.buf.lock().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(command: &str, timeout_ms: u64) -> HookRun {
        run(command, Path::new("/"), Duration::from_millis(timeout_ms)).unwrap()
    }

    #[test]
    fn captures_status_and_output() {
        let r = sh("echo out; echo err1 >&2; echo err2 >&2; exit 3", 10_000);
        assert_eq!(r.status, HookStatus::Exited(3));
        assert!(!r.succeeded());
        assert_eq!(r.stdout, "out\n");
        assert_eq!(r.stderr_lines(1), "err2");
        assert_eq!(
            r.to_string(),
            "`echo out; echo err1 >&2; echo err2 >&2; exit 3` exited with status 3; stderr:\nerr1\nerr2"
        );
        assert!(sh("true", 10_000).succeeded());
    }

    #[test]
    fn keeps_only_the_tail_of_long_output() {
        let r = sh("i=0; while [ $i -lt 5000 ]; do echo line$i; i=$((i+1)); done", 30_000);
        assert!(r.succeeded());
        assert!(r.stdout.len() <= TAIL_BYTES);
        assert!(r.stdout.ends_with("line4999\n"));
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let r = sh(&format!("sleep 30 & echo $! > {}; wait", pidfile.display()), 300);
        assert!(matches!(r.status, HookStatus::TimedOut { .. }), "{r}");
        assert!(r.to_string().contains("timed out after 300ms"));
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_string();
        // The background `sleep` was in the group: it dies (gone, or a zombie until its new
        // parent reaps it). SIGKILL is asynchronous, so wait for that, bounded.
        let dead = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("");
            stat.is_empty() || state == "Z" || state == "X"
        };
        let mut waited = 0;
        while !dead() && waited < 100 {
            thread::sleep(Duration::from_millis(50));
            waited += 1;
        }
        assert!(dead(), "sleep {pid} still alive 5s after the timeout");
    }

    #[test]
    fn signal_deaths_are_reported() {
        assert_eq!(sh("kill -TERM $$", 10_000).status, HookStatus::Signaled(15));
    }

    #[test]
    fn expands_placeholders() {
        let s = expand("nginx -t -c {release}/nginx.conf # {current}", Path::new("/r/1"), Path::new("/s/current"));
        assert_eq!(s, "nginx -t -c /r/1/nginx.conf # /s/current");
    }

    #[test]
    fn last_lines_counts_from_the_end() {
        assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
        assert_eq!(last_lines("a\nb\nc", 5), "a\nb\nc");
        assert_eq!(last_lines("a", 0), "");
    }
}
