//! The apply path (DESIGN.md, "Agent: the apply path"): unpack beside the live release,
//! validate and `check` it while the old one serves, switch atomically, `reload`, probe, and
//! switch back on any failure after the switch. Rolling back to a kept release is the same
//! switch, reload and probe.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_bundle::{digest_hex, verify_and_unpack};
use sluice_core::release::{ReleaseFiles, ReleaseId};
use sluice_core::spec::{Hooks, ServiceSpec};
use sluice_core::time::Millis;
use sluice_core::validate::validate_release;

use super::ReleaseStore;
use crate::durable;
use crate::hook::{self, HookRun};
use crate::outcome::{ApplyError, ApplyFailure, ApplyOutcome};
use crate::state::HistoryEvent;
use crate::{probe, release_dir};

impl ReleaseStore {
    /// Applies the bundle `bundle`, whose id is `digest`, as the service's current release.
    ///
    /// Nothing is switched unless the bundle verifies and unpacks, every validator of `spec`
    /// passes (with the current release as the parent), and every consumer check validator
    /// and the `check` hook exit 0 against the unpacked release. After the switch, a failing
    /// `reload` or health probe switches back to the release that was current and reloads it.
    /// A release refused before the switch is deleted unless it is current, previous or
    /// known-good. Applying the current release again does nothing.
    ///
    /// In hook commands `{release}` is the new release's directory (also the working
    /// directory) and `{current}` the `current` symlink: the old release during `check`, the
    /// new one during `reload` and the probe. The switch-back `reload` runs with `{release}`
    /// set to the restored release.
    pub fn apply(
        &mut self,
        spec: &ServiceSpec,
        bundle: &[u8],
        digest: &str,
    ) -> Result<ApplyOutcome, Box<ApplyFailure>> {
        let started = self.clock.now();
        let release = ReleaseId(digest.to_string());
        if self.state.current.as_ref() == Some(&release) && self.is_kept(&release) {
            return Ok(self.outcome(release, false, started, 0));
        }
        let (dir, files) = match self.unpack(spec, bundle, &release) {
            Ok(unpacked) => unpacked,
            Err(error) => return Err(self.refused(release, error, started)),
        };
        if let Err(error) = self.check(spec, &files, &dir) {
            self.discard(&release);
            return Err(self.refused(release, error, started));
        }
        self.switch_and_verify(&spec.hooks, release, &dir, started, HistoryEvent::Applied)
    }

    /// Makes the kept release `id` current again: switch, `reload`, health probe, and switch
    /// back on failure, like [`ReleaseStore::apply`] after its checks. Validators do not run
    /// again: the release passed them when it was applied.
    pub fn rollback_to(&mut self, hooks: &Hooks, id: &ReleaseId) -> Result<ApplyOutcome, Box<ApplyFailure>> {
        let started = self.clock.now();
        if !self.is_kept(id) {
            return Err(self.refused(id.clone(), ApplyError::UnknownRelease { release: id.clone() }, started));
        }
        if self.state.current.as_ref() == Some(id) {
            return Ok(self.outcome(id.clone(), false, started, 0));
        }
        let dir = match self.release_dir(id) {
            Ok(dir) => dir,
            Err(error) => return Err(self.refused(id.clone(), error, started)),
        };
        self.switch_and_verify(hooks, id.clone(), &dir, started, HistoryEvent::RolledBack)
    }

    /// Verifies and unpacks the bundle to `releases/<hex>`. A kept copy already there (not
    /// current) is replaced only once the new copy has been verified and unpacked beside it.
    fn unpack(
        &self,
        spec: &ServiceSpec,
        bundle: &[u8],
        release: &ReleaseId,
    ) -> Result<(PathBuf, ReleaseFiles), ApplyError> {
        let dir = self.dir.join("releases").join(digest_hex(&release.0)?);
        let mut limits = self.config.limits;
        limits.max_bundle_bytes = limits.max_bundle_bytes.min(spec.max_bundle_bytes);
        if fs::symlink_metadata(&dir).is_err() {
            let files = verify_and_unpack(bundle, &release.0, &limits, &dir)?.files;
            return Ok((dir, files));
        }
        let staged = durable::temp_beside(&dir);
        let files = verify_and_unpack(bundle, &release.0, &limits, &staged)?.files;
        let replaced = fs::remove_dir_all(&dir).and_then(|()| fs::rename(&staged, &dir));
        if let Err(e) = replaced {
            let _ = fs::remove_dir_all(&staged);
            return Err(ApplyError::io("replace the kept copy of the release", dir.display())(e));
        }
        Ok((dir, files))
    }

    /// Validators (parent: the current release) and check commands, against the unpacked
    /// release, while the current one still serves.
    fn check(&self, spec: &ServiceSpec, files: &ReleaseFiles, dir: &Path) -> Result<(), ApplyError> {
        let parent = self.current_files()?;
        let report = validate_release(&spec.validators, files, parent.as_ref());
        if !report.is_ok() {
            return Err(ApplyError::Validation { report });
        }
        for check in &report.checks {
            let timeout = check.timeout.map_or(self.config.hook_timeout, |t| Duration::from_millis(t.0));
            let run = self.run_hook(&check.command, dir, timeout)?;
            if !run.succeeded() {
                return Err(ApplyError::CheckFailed { hook: format!("check validator #{}", check.index), run });
            }
        }
        if let Some(command) = &spec.hooks.check {
            let run = self.run_hook(command, dir, self.config.hook_timeout)?;
            if !run.succeeded() {
                return Err(ApplyError::CheckFailed { hook: "check hook".to_string(), run });
            }
        }
        Ok(())
    }

    /// The files of the live release, when there is one on disk.
    fn current_files(&self) -> Result<Option<ReleaseFiles>, ApplyError> {
        let Some(current) = &self.state.current else { return Ok(None) };
        let dir = self.release_dir(current)?;
        if !dir.is_dir() {
            return Ok(None);
        }
        let files = release_dir::read(&dir, &self.config.limits)
            .map_err(ApplyError::io("read the current release", dir.display()))?;
        Ok(Some(files))
    }

    /// Switches `current` to `release`, reloads and probes; on failure switches back.
    fn switch_and_verify(
        &mut self,
        hooks: &Hooks,
        release: ReleaseId,
        dir: &Path,
        started: Millis,
        event: HistoryEvent,
    ) -> Result<ApplyOutcome, Box<ApplyFailure>> {
        let old = self.state.current.clone();
        if let Err(error) = self.point_current_at(Some(&release)) {
            if event == HistoryEvent::Applied {
                self.discard(&release);
            }
            return Err(self.refused(release, error, started));
        }
        let verified = match self.reload_and_probe(hooks, dir) {
            Ok(attempts) => self.commit(&release, old.as_ref(), event).map(|()| attempts),
            Err(error) => Err(error),
        };
        match verified {
            Ok(attempts) => Ok(self.outcome(release, true, started, attempts)),
            Err(error) => {
                let switch_back_error = self.switch_back(hooks, &release, old.as_ref());
                self.record(release.clone(), HistoryEvent::SwitchedBack, Some(error.reason()));
                let _ = self.save();
                if event == HistoryEvent::Applied {
                    self.discard(&release);
                }
                Err(Box::new(ApplyFailure {
                    release,
                    error,
                    switched_back: true,
                    current: self.state.current.clone(),
                    switch_back_error,
                    duration_ms: self.clock.now().since(started).0,
                }))
            }
        }
    }

    /// Saves `release` as current and `old` as previous. Until this succeeds the state still
    /// names `old` as current.
    fn commit(&mut self, release: &ReleaseId, old: Option<&ReleaseId>, event: HistoryEvent) -> Result<(), ApplyError> {
        let saved = self.state.clone();
        self.state.previous = old.cloned();
        self.state.current = Some(release.clone());
        self.record(release.clone(), event, None);
        let result = self.save();
        if result.is_err() {
            self.state = saved;
        }
        result
    }

    /// `reload`, then the health probe, against the now-current release. Returns the probe
    /// attempts made.
    fn reload_and_probe(&self, hooks: &Hooks, dir: &Path) -> Result<u32, ApplyError> {
        if let Some(command) = &hooks.reload {
            let run = self.run_hook(command, dir, self.config.hook_timeout)?;
            if !run.succeeded() {
                return Err(ApplyError::ReloadFailed { run });
            }
        }
        let Some(health) = &hooks.health else { return Ok(0) };
        let result = probe::run(health, dir, &self.current_link(), self.config.probe_retry_delay);
        if result.passed {
            Ok(result.attempts)
        } else {
            let failure = result.failure.unwrap_or_default();
            Err(ApplyError::ProbeFailed { attempts: result.attempts, failure })
        }
    }

    /// Points `current` from `release` back at `old` and reloads it. Returns what went
    /// wrong, if anything.
    fn switch_back(&mut self, hooks: &Hooks, release: &ReleaseId, old: Option<&ReleaseId>) -> Option<String> {
        if let Err(e) = self.point_current_at(old) {
            // The link still names `release`, and the link is the truth.
            self.state.current = Some(release.clone());
            return Some(e.to_string());
        }
        let (Some(old), Some(command)) = (old, &hooks.reload) else { return None };
        let dir = match self.release_dir(old) {
            Ok(dir) => dir,
            Err(e) => return Some(e.to_string()),
        };
        match self.run_hook(command, &dir, self.config.hook_timeout) {
            Ok(run) if run.succeeded() => None,
            Ok(run) => Some(format!("reload: {run}")),
            Err(e) => Some(e.to_string()),
        }
    }

    fn run_hook(&self, template: &str, dir: &Path, timeout: Duration) -> Result<HookRun, ApplyError> {
        let command = hook::expand(template, dir, &self.current_link());
        hook::run(&command, dir, timeout).map_err(ApplyError::io("start", &command))
    }

    /// Deletes a release that will not be current, unless it is protected.
    fn discard(&self, release: &ReleaseId) {
        if !self.is_protected(release)
            && let Ok(dir) = self.release_dir(release)
        {
            let _ = fs::remove_dir_all(dir);
        }
    }

    /// Records a release refused before any switch; the node did not change.
    fn refused(&mut self, release: ReleaseId, error: ApplyError, started: Millis) -> Box<ApplyFailure> {
        self.record(release.clone(), HistoryEvent::Refused, Some(error.reason()));
        let _ = self.save();
        Box::new(ApplyFailure {
            release,
            error,
            switched_back: false,
            current: self.state.current.clone(),
            switch_back_error: None,
            duration_ms: self.clock.now().since(started).0,
        })
    }

    /// The outcome of a release now current; prunes when it switched.
    fn outcome(&mut self, release: ReleaseId, switched: bool, started: Millis, probe_attempts: u32) -> ApplyOutcome {
        let (pruned, prune_error) = match switched.then(|| self.prune()) {
            Some(Ok(pruned)) => (pruned, None),
            Some(Err(e)) => (Vec::new(), Some(e.to_string())),
            None => (Vec::new(), None),
        };
        ApplyOutcome {
            release,
            previous: self.state.previous.clone(),
            switched,
            duration_ms: self.clock.now().since(started).0,
            probe_attempts,
            pruned,
            prune_error,
        }
    }
}
