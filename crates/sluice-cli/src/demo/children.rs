//! The demo's child processes (edges and agents): each in its own process group so a terminal's
//! Ctrl-C reaches only `sluice demo`, which then stops them in order; killed on drop so no
//! error path leaves one behind. Their output goes to log files in the demo directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// One started process.
#[derive(Debug)]
struct Started {
    name: String,
    child: Child,
}

/// Every process the demo started. Dropping it kills them all.
#[derive(Debug, Default)]
pub struct Children {
    started: Vec<Started>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("failed to create log file {path}: {source}")]
    Log { path: PathBuf, source: std::io::Error },
    #[error("failed to start {name}: {source}")]
    Spawn { name: String, source: std::io::Error },
}

impl Children {
    /// Start `program args…` as `name`, its stdout and stderr appended to `log`. With
    /// `lifeline`, its stdin is a pipe the child watches: it exits when `sluice demo` dies.
    pub fn spawn(
        &mut self,
        name: &str,
        program: &Path,
        args: &[String],
        envs: &[(&str, &str)],
        log: &Path,
        lifeline: bool,
    ) -> Result<(), SpawnError> {
        let out = File::create(log).map_err(|source| SpawnError::Log { path: log.to_path_buf(), source })?;
        let err = out.try_clone().map_err(|source| SpawnError::Log { path: log.to_path_buf(), source })?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(if lifeline { Stdio::piped() } else { Stdio::null() })
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .process_group(0);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(|source| SpawnError::Spawn { name: name.to_string(), source })?;
        self.started.push(Started { name: name.to_string(), child });
        Ok(())
    }

    /// Names of started processes that exited already, with how.
    pub fn exited(&mut self) -> Vec<String> {
        self.started
            .iter_mut()
            .filter_map(|s| match s.child.try_wait() {
                Ok(Some(status)) => Some(format!("{} ({status})", s.name)),
                Ok(None) => None,
                Err(e) => Some(format!("{} ({e})", s.name)),
            })
            .collect()
    }

    /// Kill every process (newest first: agents before the edges they watch) and reap them,
    /// waiting at most `timeout` for each.
    pub async fn stop(&mut self, timeout: Duration) {
        for s in self.started.iter_mut().rev() {
            let _ = s.child.start_kill();
        }
        for mut s in self.started.drain(..).rev() {
            let _ = tokio::time::timeout(timeout, s.child.wait()).await;
        }
    }

    pub fn len(&self) -> usize {
        self.started.len()
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for s in &mut self.started {
            let _ = s.child.start_kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn children_log_to_their_file_and_are_killed_on_stop() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Children::default();
        let log = dir.path().join("sleep.log");
        c.spawn("sleeper", Path::new("sh"), &["-c".into(), "echo hi; exec sleep 600".into()], &[], &log, false)
            .unwrap();
        assert_eq!(c.len(), 1);
        let deadline = crate::demo::clock::instant() + Duration::from_secs(10);
        while std::fs::read_to_string(&log).unwrap_or_default().trim() != "hi" {
            assert!(crate::demo::clock::instant() < deadline, "no output logged");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(c.exited().is_empty());
        c.stop(Duration::from_secs(5)).await;
        assert_eq!(c.len(), 0);
    }
}
