//! A service's standing between rollouts: its known-good release, the rollout in progress, and
//! the hold after a failure that makes newer releases wait for a person instead of flapping.

use serde::{Deserialize, Serialize};

use super::action::{Outcome, ServiceChange};
use crate::change::ChangeRecord;
use crate::release::ReleaseId;
use crate::time::Millis;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    /// The last release that completed a rollout and its final bake; the only thing a rollback
    /// returns to.
    pub known_good: Option<ReleaseId>,
    /// The rollout in progress, by id.
    pub active: Option<String>,
    /// Set when a rollout failed: new rollouts are refused until a person clears it.
    pub hold: Option<Hold>,
    /// Earlier known-good releases, oldest first (at most [`HISTORY`]): what a revert returns to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<ReleaseId>,
    /// The release waiting to start once the active rollout ends (and the service is not
    /// held): the latest one asked for; a newer one supersedes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<Queued>,
}

/// A rollout asked for while another of the service was active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub release: ReleaseId,
    /// The pipeline's name (resolved in the spec current when it starts).
    pub pipeline: String,
    #[serde(default)]
    pub emergency: bool,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// The rollout it waits behind.
    pub behind: String,
    pub at: Millis,
    /// Who asked for it: the author of the rollout it becomes (so never its approver).
    /// `None` for releases queued before authors were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Its change record.
    #[serde(default, skip_serializing_if = "ChangeRecord::is_empty")]
    pub change: ChangeRecord,
    /// The broken glass it was asked with (it still needs a second person once it starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<super::BreakGlass>,
}

/// How many earlier known-good releases a service remembers.
pub const HISTORY: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub release: ReleaseId,
    pub rollout: String,
    pub why: String,
    pub at: Millis,
}

/// Why a rollout may not start now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("rollout {0} of this service is still in progress; wait for it, or abort it")]
    Conflict(String),
    #[error("the service is held at known-good since rollout {} of {} failed ({}); clear the hold to start a new rollout", .0.rollout, .0.release, .0.why)]
    Held(Hold),
}

impl ServiceState {
    /// Whether a rollout may start now.
    pub fn may_start(&self) -> Result<(), Refusal> {
        if let Some(a) = &self.active {
            return Err(Refusal::Conflict(a.clone()));
        }
        if let Some(h) = &self.hold {
            return Err(Refusal::Held(h.clone()));
        }
        Ok(())
    }

    /// Apply a change the engine decided ([`Action::Service`](super::Action::Service)), at
    /// `now`. Shells call this for every such action, in order, and persist the result with
    /// the step that caused it.
    pub fn apply(&mut self, change: &ServiceChange, now: Millis) {
        match change {
            ServiceChange::Started { rollout, release } => {
                self.active = Some(rollout.clone());
                if self.queued.as_ref().is_some_and(|q| q.release == *release) {
                    self.queued = None; // it starts now
                }
            }
            ServiceChange::Finished { rollout, release, outcome, revert, why } => {
                if self.active.as_deref() == Some(rollout.as_str()) {
                    self.active = None;
                }
                match outcome {
                    Outcome::Completed => {
                        if *revert {
                            // Back to an earlier known-good: it leaves the history.
                            if self.previous.last() == Some(release) {
                                self.previous.pop();
                            }
                        } else if let Some(old) = self.known_good.take().filter(|old| old != release) {
                            self.previous.push(old);
                            if self.previous.len() > HISTORY {
                                self.previous.remove(0);
                            }
                        }
                        self.known_good = Some(release.clone());
                    }
                    Outcome::RolledBack | Outcome::RollbackIncomplete => {
                        // The same release waiting behind it failed already: it does not start
                        // again when the hold is cleared.
                        if self.queued.as_ref().is_some_and(|q| q.release == *release) {
                            self.queued = None;
                        }
                        self.hold = Some(Hold {
                            release: release.clone(),
                            rollout: rollout.clone(),
                            why: why.clone(),
                            at: now,
                        });
                    }
                    Outcome::Aborted => {}
                }
            }
        }
    }

    /// Apply every service change among `actions`, in order; whether there was any.
    pub fn apply_all(&mut self, actions: &[super::Action], now: Millis) -> bool {
        let mut any = false;
        for a in actions {
            if let super::Action::Service(change) = a {
                self.apply(change, now);
                any = true;
            }
        }
        any
    }

    /// What `rollout revert` returns the service to: the known-good before the current one.
    pub fn revert_target(&self) -> Option<&ReleaseId> {
        self.previous.last()
    }

    /// Queue `q` to start after the active rollout (latest wins). Returns the release it
    /// superseded, if one was waiting.
    pub fn enqueue(&mut self, q: Queued) -> Option<ReleaseId> {
        self.queued.replace(q).map(|old| old.release)
    }

    /// A person looked at the failure and lets new rollouts start again.
    pub fn clear_hold(&mut self) -> Option<Hold> {
        self.hold.take()
    }
}
