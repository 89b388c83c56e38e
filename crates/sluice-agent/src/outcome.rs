//! What an apply or a rollback ends in: an [`ApplyOutcome`], or an [`ApplyFailure`] carrying
//! a typed [`ApplyError`] with a stable [`ApplyError::reason`] for the server and the metrics,
//! and whether the node was switched back.

use std::fmt;
use std::io;

use serde::Serialize;
use sluice_bundle::BundleError;
use sluice_core::release::ReleaseId;
use sluice_core::validate::ValidationReport;

use crate::hook::HookRun;

/// A release that is now current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyOutcome {
    /// The release now current.
    pub release: ReleaseId,
    /// The release current before (what a later failure would switch back to).
    pub previous: Option<ReleaseId>,
    /// False when the release was already current and nothing was done.
    pub switched: bool,
    /// Wall time of the whole apply, by the store's clock.
    pub duration_ms: u64,
    /// Health probe attempts made (0 without a probe).
    pub probe_attempts: u32,
    /// Releases deleted by retention afterwards.
    pub pruned: Vec<ReleaseId>,
    /// When retention failed (the release is applied; old releases stay on disk), why.
    pub prune_error: Option<String>,
}

/// Why an apply, rollback or store operation failed. Messages read after "failed to …".
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The bundle failed verification or unpacking.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A validator refused the release.
    #[error("pass validation, {} violation(s):\n{report}", report.violations.len())]
    Validation { report: ValidationReport },
    /// The `check` hook or a consumer `check` validator refused the release.
    #[error("pass the {hook}: {run}")]
    CheckFailed { hook: String, run: HookRun },
    /// The `reload` hook failed after the switch.
    #[error("reload: {run}")]
    ReloadFailed { run: HookRun },
    /// The post-apply health probe failed every attempt.
    #[error("pass the health probe after {attempts} attempt(s): {failure}")]
    ProbeFailed { attempts: u32, failure: String },
    /// `rollback_to` or `mark_known_good` named a release this node does not keep.
    #[error("find release {release} on this node: it is not kept here")]
    UnknownRelease { release: ReleaseId },
    /// The service name cannot be a directory name.
    #[error("open service {name:?}: {why}")]
    InvalidService { name: String, why: &'static str },
    /// The disk, a hook that could not be started, or a state file that does not parse.
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

impl ApplyError {
    /// The stable reason reported to the server and counted in metrics: a
    /// [`BundleError::reason`] (`digest_mismatch`, `too_large`, `unsafe_path`, `link`,
    /// `manifest`, `malformed`, `io`), or `validation`, `check_failed`, `reload_failed`,
    /// `probe_failed`, `unknown_release`, `config`, `io`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApplyError::Bundle(e) => e.reason(),
            ApplyError::Validation { .. } => "validation",
            ApplyError::CheckFailed { .. } => "check_failed",
            ApplyError::ReloadFailed { .. } => "reload_failed",
            ApplyError::ProbeFailed { .. } => "probe_failed",
            ApplyError::UnknownRelease { .. } => "unknown_release",
            ApplyError::InvalidService { .. } => "config",
            ApplyError::Io { .. } => "io",
        }
    }

    pub(crate) fn io(action: &'static str, path: impl fmt::Display) -> impl FnOnce(io::Error) -> ApplyError {
        let path = path.to_string();
        move |source| ApplyError::Io { action, path, source }
    }
}

/// An apply or rollback that did not leave `release` current.
#[derive(Debug)]
pub struct ApplyFailure {
    /// The release that was being applied or rolled back to.
    pub release: ReleaseId,
    /// Why.
    pub error: ApplyError,
    /// True when the node had switched to `release` and then switched back (reload or probe
    /// failed); false when it never switched.
    pub switched_back: bool,
    /// The release current now.
    pub current: Option<ReleaseId>,
    /// When switching back or its reload failed too, why: the node needs a person.
    pub switch_back_error: Option<String>,
    /// Wall time of the whole attempt, by the store's clock.
    pub duration_ms: u64,
}

impl ApplyFailure {
    /// The stable reason of [`ApplyFailure::error`].
    pub fn reason(&self) -> &'static str {
        self.error.reason()
    }
}

impl fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "apply {}: {}", self.release, self.error)?;
        if self.switched_back {
            match &self.current {
                Some(current) => write!(f, "; switched back to {current}")?,
                None => write!(f, "; switched back to no release")?,
            }
        }
        if let Some(e) = &self.switch_back_error {
            write!(f, "; switching back failed too: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApplyFailure {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook::HookStatus;

    #[test]
    fn reasons_are_stable() {
        let run = HookRun {
            command: "x".into(),
            status: HookStatus::Exited(1),
            stdout: String::new(),
            stderr: String::new(),
        };
        let cases = [
            (ApplyError::Bundle(BundleError::Duplicate { path: "a".into() }), "unsafe_path"),
            (ApplyError::Validation { report: ValidationReport::default() }, "validation"),
            (ApplyError::CheckFailed { hook: "check hook".into(), run: run.clone() }, "check_failed"),
            (ApplyError::ReloadFailed { run }, "reload_failed"),
            (ApplyError::ProbeFailed { attempts: 1, failure: "x".into() }, "probe_failed"),
            (ApplyError::UnknownRelease { release: "r".into() }, "unknown_release"),
            (ApplyError::io("write", "p")(io::Error::other("disk")), "io"),
        ];
        for (error, reason) in cases {
            assert_eq!(error.reason(), reason, "{error}");
        }
    }

    #[test]
    fn failure_says_what_is_current_now() {
        let failure = ApplyFailure {
            release: "new".into(),
            error: ApplyError::ProbeFailed { attempts: 3, failure: "GET http://h/ answered 500".into() },
            switched_back: true,
            current: Some("old".into()),
            switch_back_error: None,
            duration_ms: 5,
        };
        assert_eq!(
            failure.to_string(),
            "apply new: pass the health probe after 3 attempt(s): GET http://h/ answered 500; switched back to old"
        );
        assert_eq!(failure.reason(), "probe_failed");
    }
}
