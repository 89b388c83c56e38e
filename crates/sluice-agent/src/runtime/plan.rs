//! What the agent does about one desired service, given what this node has: a pure function
//! of the server's answer and the local state, so every rule is unit-tested without a server.
//!
//! The rules, in order:
//! 1. The server names no release: leave the service as it is ([`Hold::NoRelease`]).
//! 2. The release is current: nothing to do.
//! 3. The release failed to apply here before (refused, or switched back) and the server has
//!    not asked for anything else since: do not try again ([`Hold::FailedBefore`]); the server
//!    rolls back on an apply failure, and retrying a bad release churns the node. Except the
//!    service's known-good (`desired.release == desired.known_good`: a rollback, or a node
//!    catching up to what the fleet runs): it is tried again once its retry is due (after
//!    [`RETRY_BASE`], doubling to [`RETRY_CAP`], jittered — never a tight loop), and until then
//!    held ([`Hold::RetryingKnownGood`]). A rollback whose probe failed once must still land.
//! 4. The release is kept on disk (a rollback to known-good, or back to the previous one):
//!    switch to it with [`ReleaseStore::rollback_to`](crate::ReleaseStore::rollback_to), no
//!    download.
//! 5. Without the service's spec (the answer names neither a spec digest nor an inline spec)
//!    nothing new can be applied ([`Hold::NoSpec`]).
//! 6. Otherwise download the bundle by digest (at most the spec's `max_bundle_bytes`) and apply
//!    it, verified against the release id: the node never runs bytes the server did not name.
//!    The poller gets the spec a digest names from its cache or the server (`spec_cache.rs`)
//!    before it downloads or switches anything; without it the service is left as it runs.
//!
//! Known-good is marked when the server names one this node keeps and it is not marked yet.
//!
//! A return to known-good that fails its probe switches back to what ran before (the store's
//! rule: the node keeps serving what last passed a probe, here the candidate), and is reported
//! (the server logs `rollback_failed`; the rollout counts the node as not back). The retry
//! keeps that window short: the first comes within [`RETRY_BASE`].

use std::collections::BTreeSet;
use std::time::Duration;

use sluice_api::DesiredService;
use sluice_core::release::ReleaseId;
use sluice_core::spec::Hooks;

use crate::config::ServiceConfig;

/// What this node has of one service.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    /// The release `current` points to.
    pub current: Option<&'a ReleaseId>,
    /// Releases unpacked on disk.
    pub kept: &'a BTreeSet<ReleaseId>,
    /// The release that last failed to apply here, while the server still asks for it.
    pub failed: Option<&'a ReleaseId>,
    /// Whether the retry of `failed` is due (only a known-good release is retried).
    pub retry_due: bool,
}

/// The first retry of a known-good release that failed to apply here comes after about this
/// long (between half of it and all of it)…
pub const RETRY_BASE: Duration = Duration::from_secs(1);
/// …and the delay doubles up to this.
pub const RETRY_CAP: Duration = Duration::from_secs(30);

/// The one thing to do for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The desired release runs.
    InSync,
    /// Leave the service as it is, and why.
    Hold(Hold),
    /// Download `bundle` and apply it as `release` (with the service's spec, which limits the
    /// download to its `max_bundle_bytes`).
    Apply { release: ReleaseId, bundle: String },
    /// Switch back to the kept `release`.
    RollBack { release: ReleaseId },
}

/// Why a service is left as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The server names no release for it.
    NoRelease,
    /// It failed to apply here; not retried until the server asks for another release.
    FailedBefore,
    /// It is the service's known-good and failed to apply here; tried again when its retry is
    /// due.
    RetryingKnownGood,
    /// The server names no spec (no digest, no inline spec), so nothing new can be validated
    /// and applied.
    NoSpec,
}

impl Hold {
    /// Stable words for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Hold::NoRelease => "the server names no release",
            Hold::FailedBefore => "this release failed to apply here; waiting for the server to ask for another",
            Hold::RetryingKnownGood => "the known-good release failed to apply here; trying again after a backoff",
            Hold::NoSpec => "the server sent no spec for the service",
        }
    }
}

/// What to do about `desired`, given `local`.
pub fn decide(desired: &DesiredService, local: Local<'_>) -> Decision {
    let Some(release) = &desired.release else { return Decision::Hold(Hold::NoRelease) };
    if local.current == Some(release) {
        return Decision::InSync;
    }
    if local.failed == Some(release) {
        if !retries(desired, release) {
            return Decision::Hold(Hold::FailedBefore);
        }
        if !local.retry_due {
            return Decision::Hold(Hold::RetryingKnownGood);
        }
    }
    if local.kept.contains(release) {
        return Decision::RollBack { release: release.clone() };
    }
    if desired.spec_digest.is_none() && desired.spec.is_none() {
        return Decision::Hold(Hold::NoSpec);
    }
    let bundle = desired.bundle.clone().unwrap_or_else(|| release.0.clone());
    Decision::Apply { release: release.clone(), bundle }
}

/// Whether a failure to apply `failed` is retried while the server asks for it: only when it
/// is the service's known-good.
pub fn retries(desired: &DesiredService, failed: &ReleaseId) -> bool {
    desired.known_good.as_ref() == Some(failed)
}

/// The known-good release to mark, if the server names one this node keeps and it is not the
/// one marked already.
pub fn known_good_to_mark(
    desired: &DesiredService,
    marked: Option<&ReleaseId>,
    kept: &BTreeSet<ReleaseId>,
) -> Option<ReleaseId> {
    let wanted = desired.known_good.as_ref()?;
    (marked != Some(wanted) && kept.contains(wanted)).then(|| wanted.clone())
}

/// Whether a recorded failure still holds: only while the server asks for that release.
pub fn failure_still_holds(desired: &DesiredService, failed: &ReleaseId) -> bool {
    desired.release.as_ref() == Some(failed)
}

/// The hooks to run on this host: the spec's, each overridden by the host's configuration
/// when it sets one.
pub fn hooks(spec: Option<&Hooks>, host: &ServiceConfig) -> Hooks {
    let spec = spec.cloned().unwrap_or_default();
    Hooks {
        check: host.check.clone().or(spec.check),
        reload: host.reload.clone().or(spec.reload),
        health: host.health.clone().or(spec.health),
    }
}

#[cfg(test)]
mod tests;
