//! The command health source: a service's `command: {run, every, timeout, metric}` runs with
//! `sh -c` (through [`hook::run`], which kills its process group on timeout) every `every`,
//! and its figure goes into `Sample.metrics[metric]` of the next report.
//!
//! The figure is the number on the first line of stdout (surrounding spaces allowed, a finite
//! float: `42`, `0.5`, `1e3`). When the first line is not such a number (or stdout is empty),
//! the exit status decides: 0 → `0.0`, anything else → `1.0`. A timeout, a death by signal and
//! a command that cannot be started count as `1.0`. A report carries the latest figure of the
//! release the service runs; none before the first run ends, none right after a switch until
//! a run of the new release ends.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::CommandConfig;
use crate::hook::{self, HookRun, HookStatus};
use crate::runtime::lock;

/// The figure of one run.
pub fn figure(run: &HookRun) -> f64 {
    let first = run.stdout.lines().next().unwrap_or("").trim();
    match first.parse::<f64>() {
        Ok(v) if v.is_finite() => v,
        _ => match run.status {
            HookStatus::Exited(0) => 0.0,
            _ => 1.0,
        },
    }
}

/// The latest figure of one service's command, shared by its loop and the reporter.
#[derive(Debug, Default)]
pub struct CommandSlot {
    /// (generation, latest figure of this generation).
    inner: Mutex<(u64, Option<f64>)>,
}

impl CommandSlot {
    pub fn generation(&self) -> u64 {
        lock(&self.inner).0
    }

    /// Keeps `value` if no reset happened since `generation` was read.
    pub fn set(&self, generation: u64, value: f64) {
        let mut inner = lock(&self.inner);
        if inner.0 == generation {
            inner.1 = Some(value);
        }
    }

    /// The latest figure.
    pub fn latest(&self) -> Option<f64> {
        lock(&self.inner).1
    }

    /// Forgets the figure and any run in progress (the service switched release).
    pub fn reset(&self) {
        let mut inner = lock(&self.inner);
        inner.0 = inner.0.wrapping_add(1);
        inner.1 = None;
    }
}

/// One service's command, as its loop needs it.
#[derive(Debug, Clone)]
pub struct CommandLoop {
    pub service: String,
    pub run: String,
    pub every: Duration,
    pub timeout: Duration,
    /// The service's directory (the working directory; `{current}` is `<dir>/current`).
    pub dir: PathBuf,
}

impl CommandLoop {
    pub fn new(service: &str, config: &CommandConfig, dir: PathBuf) -> CommandLoop {
        CommandLoop {
            service: service.to_string(),
            run: config.run.clone(),
            every: Duration::from_millis(config.every.0.max(1)),
            timeout: Duration::from_millis(config.timeout.0.max(1)),
            dir,
        }
    }

    /// One run and its figure.
    pub async fn once(&self) -> f64 {
        let current = self.dir.join("current");
        let command = hook::expand(&self.run, &current, &current);
        let (dir, timeout) = (self.dir.clone(), self.timeout);
        let run = tokio::task::spawn_blocking(move || hook::run(&command, &dir, timeout)).await;
        match run {
            Ok(Ok(run)) => {
                if !run.succeeded() {
                    tracing::debug!(service = %self.service, "health command: {run}");
                }
                figure(&run)
            }
            Ok(Err(e)) => {
                tracing::warn!(service = %self.service, error = %e, "cannot run the health command");
                1.0
            }
            Err(e) => {
                tracing::warn!(service = %self.service, error = %e, "the health command's task died");
                1.0
            }
        }
    }

    /// Runs the command, then waits `every`, until dropped or aborted.
    pub async fn run(self, slot: Arc<CommandSlot>) {
        loop {
            let generation = slot.generation();
            let value = self.once().await;
            slot.set(generation, value);
            tokio::time::sleep(self.every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stdout: &str, status: HookStatus) -> HookRun {
        HookRun { command: "c".into(), status, stdout: stdout.into(), stderr: String::new() }
    }

    #[test]
    fn the_first_line_number_wins() {
        assert_eq!(figure(&run("42\n", HookStatus::Exited(0))), 42.0);
        assert_eq!(figure(&run("  0.25  \nmore\n", HookStatus::Exited(3))), 0.25);
        assert_eq!(figure(&run("1e3", HookStatus::Exited(0))), 1000.0);
        assert_eq!(figure(&run("-7\n", HookStatus::Exited(0))), -7.0);
    }

    #[test]
    fn without_a_number_the_exit_status_decides() {
        assert_eq!(figure(&run("", HookStatus::Exited(0))), 0.0);
        assert_eq!(figure(&run("", HookStatus::Exited(2))), 1.0);
        assert_eq!(figure(&run("ok\n12\n", HookStatus::Exited(0))), 0.0);
        assert_eq!(figure(&run("NaN\n", HookStatus::Exited(1))), 1.0);
        assert_eq!(figure(&run("inf\n", HookStatus::Exited(0))), 0.0);
        assert_eq!(figure(&run("", HookStatus::Signaled(9))), 1.0);
        assert_eq!(figure(&run("", HookStatus::TimedOut { after: Duration::from_secs(1) })), 1.0);
    }

    #[tokio::test]
    async fn a_real_command_prints_its_figure_in_the_service_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("depth"), "17\n").unwrap();
        let config = CommandConfig {
            run: "cat depth".into(),
            every: sluice_core::time::Dur::secs(5),
            timeout: sluice_core::time::Dur::secs(5),
            metric: "queue_depth".into(),
        };
        let l = CommandLoop::new("edge", &config, dir.path().to_path_buf());
        assert_eq!(l.once().await, 17.0);
        let failing = CommandLoop { run: "exit 4".into(), ..l.clone() };
        assert_eq!(failing.once().await, 1.0);
        let slow = CommandLoop { run: "sleep 5".into(), timeout: Duration::from_millis(100), ..l };
        assert_eq!(slow.once().await, 1.0);
    }

    #[test]
    fn a_reset_drops_the_figure_and_runs_in_progress() {
        let slot = CommandSlot::default();
        let g = slot.generation();
        slot.set(g, 3.0);
        assert_eq!(slot.latest(), Some(3.0));
        let in_progress = slot.generation();
        slot.reset();
        assert_eq!(slot.latest(), None);
        slot.set(in_progress, 5.0);
        assert_eq!(slot.latest(), None);
        slot.set(slot.generation(), 6.0);
        assert_eq!(slot.latest(), Some(6.0));
    }
}
