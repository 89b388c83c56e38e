//! A rollout transition: everything one engine decision changes, written in one transaction
//! before any of its moves is carried out.
//!
//! The driver's loop is: read the rollout and its version, `step` (or `command`) the engine,
//! [`split_actions`] the result into events and desired-state changes, and
//! [`commit_transition`](crate::Store::commit_transition) the new state and the events with the
//! version it read. The desired-state changes are not written: they follow from the stored
//! plan and state; the driver mirrors them in memory only after the commit. Only then does it
//! tell agents. If it crashes before the commit, nothing happened and the step is
//! taken again; after it, the new state and desired state are there and agents pick them up.
//! A second driver holding the same version gets a conflict instead of writing twice.

use serde::{Deserialize, Serialize};
use sluice_core::engine::{Action, Event, Rollout, ServiceState};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;

use crate::event::EventSeq;

/// One target's new desired release for the rollout's service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredChange {
    pub target: TargetId,
    /// `None`: nothing from sluice (a rollback with no known-good release).
    pub release: Option<ReleaseId>,
}

/// What one engine decision changes.
#[derive(Debug, Clone, Copy)]
pub struct Transition<'a> {
    /// The rollout's new state.
    pub rollout: &'a Rollout,
    /// The service's new standing, when it changed (a rollout started or finished).
    pub service_state: Option<&'a ServiceState>,
    /// The engine's events, appended in order.
    pub events: &'a [Event],
    /// Who caused it: the driver (`sluice`) for steps, the operator for commands.
    pub actor: &'a str,
    pub at: Millis,
}

/// A transition that was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// The rollout's version now: pass it to the next `commit_transition`.
    pub version: u64,
    /// The sequence numbers of the transition's events, in order.
    pub seqs: Vec<EventSeq>,
    /// Bytes of data the transition wrote: the rollout's state, its events' bodies, the
    /// service state, and the plan when the rollout was created — what would grow with the
    /// fleet if anything did (the database adds its page and index overhead).
    #[serde(default)]
    pub bytes: u64,
}

/// Sort the engine's actions into the events to append and the desired-state changes to make
/// (service changes are applied by the caller to the service state it passes in).
pub fn split_actions(actions: &[Action]) -> (Vec<Event>, Vec<DesiredChange>) {
    let mut events = Vec::new();
    let mut desired = Vec::new();
    for action in actions {
        match action {
            Action::Record(e) => events.push((**e).clone()),
            Action::SetDesired { targets, release } => desired
                .extend(targets.iter().map(|t| DesiredChange { target: t.clone(), release: Some(release.clone()) })),
            Action::RollBack { targets, to } => {
                desired.extend(targets.iter().map(|t| DesiredChange { target: t.clone(), release: to.clone() }))
            }
            // The caller applies it to the service state it writes with the transition.
            Action::Service(_) => {}
        }
    }
    (events, desired)
}
