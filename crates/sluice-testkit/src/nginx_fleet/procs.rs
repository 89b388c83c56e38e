//! Child processes the runner starts (nginx masters, agents, Prometheus): each is stopped with
//! SIGTERM (to its process group when it has its own, so nginx workers go too), then SIGKILL
//! after a grace period, when stopped or dropped — also when the story fails half way.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use rustix::process::{Pid, Signal, kill_process, kill_process_group};

/// A child process, stopped when dropped.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: std::process::Child,
    own_group: bool,
    stopped: bool,
}

impl Proc {
    /// Spawns `cmd` with stdin closed and stdout+stderr appended to `log`. With `own_group`
    /// the child leads a new process group (nginx: the workers are in it).
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path, own_group: bool) -> anyhow::Result<Proc> {
        use std::os::unix::process::CommandExt;
        let out =
            File::options().create(true).append(true).open(log).with_context(|| format!("open {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(Stdio::from(out)).stderr(Stdio::from(err));
        if own_group {
            cmd.process_group(0);
        }
        let child = cmd.spawn().with_context(|| format!("start {name} ({:?})", cmd.get_program()))?;
        Ok(Proc { name: name.to_string(), log: log.to_path_buf(), child, own_group, stopped: false })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `n` lines of the log, for error messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    fn signal(&self, sig: Signal) {
        let Some(pid) = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw) else { return };
        if self.own_group {
            let _ = kill_process_group(pid, sig);
        } else {
            let _ = kill_process(pid, sig);
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; reaps the child.
    pub fn stop(&mut self, grace: Duration) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if self.exited().is_none() {
            self.signal(Signal::TERM);
            let step = Duration::from_millis(20);
            let mut waited = Duration::ZERO;
            while waited < grace && self.exited().is_none() {
                std::thread::sleep(step);
                waited += step;
            }
        }
        // The group may outlive its leader (an nginx worker finishing a request).
        self.signal(Signal::KILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// `name` on `PATH`, or in /usr/sbin and /sbin (where Debian puts nginx).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
