//! The desired-state board: every target's desired releases and version in memory, mirrored
//! from the store (the truth) at start and right after each commit, with a watch channel per
//! target so a long-poll wakes within milliseconds of a change. Readers take a read lock only
//! to find a target's channel; nothing holds a lock across an await.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use sluice_core::release::{ReleaseId, TargetId};
use sluice_store::{DesiredChange, DesiredState};
use tokio::sync::watch;

/// One service's desired release on a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredRelease {
    /// `None`: nothing from sluice.
    pub release: Option<ReleaseId>,
    /// The rollout that set it.
    pub rollout: Option<String>,
}

/// A target's desired state: what it should run, per service, and the version of that.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetDesired {
    pub version: u64,
    /// Boxed, so a target with one service holds a small B-tree leaf (room for eleven
    /// entries), not eleven `DesiredRelease`s.
    pub services: BTreeMap<String, Box<DesiredRelease>>,
}

type Slot = Arc<watch::Sender<Arc<TargetDesired>>>;

#[derive(Debug, Default)]
pub struct DesiredBoard {
    slots: RwLock<HashMap<TargetId, Slot>>,
}

impl DesiredBoard {
    /// From the store's snapshot of every target.
    pub fn load(states: Vec<DesiredState>) -> DesiredBoard {
        let slots = states
            .into_iter()
            .map(|s| {
                let services = s
                    .services
                    .into_iter()
                    .map(|d| (d.service, Box::new(DesiredRelease { release: d.release, rollout: d.rollout })))
                    .collect();
                let desired = TargetDesired { version: s.version, services };
                (s.target, Arc::new(watch::Sender::new(Arc::new(desired))))
            })
            .collect();
        DesiredBoard { slots: RwLock::new(slots) }
    }

    fn slot(&self, target: &TargetId) -> Option<Slot> {
        self.slots.read().unwrap_or_else(PoisonError::into_inner).get(target).cloned()
    }

    /// Make sure a (newly enrolled) target has a slot; a known target keeps its state.
    pub fn ensure(&self, target: &TargetId, version: u64) {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        slots.entry(target.clone()).or_insert_with(|| {
            Arc::new(watch::Sender::new(Arc::new(TargetDesired { version, services: BTreeMap::new() })))
        });
    }

    /// A receiver of the target's desired state, to read it now and wait for changes.
    pub fn watch(&self, target: &TargetId) -> Option<watch::Receiver<Arc<TargetDesired>>> {
        self.slot(target).map(|s| s.subscribe())
    }

    /// The target's desired state now.
    pub fn get(&self, target: &TargetId) -> Option<Arc<TargetDesired>> {
        self.slot(target).map(|s| s.borrow().clone())
    }

    /// Mirror a committed transition's desired changes for `service` and wake the affected
    /// long-polls. Every change counts, in order: a target's version grows by one per change
    /// (the last release wins), as the store derives it from the rollout's state (invariant
    /// `desired-follows-from-cursor`), so a restarted server loads the same versions. Returns
    /// the targets whose state changed.
    pub fn apply(&self, service: &str, rollout: &str, changes: &[DesiredChange]) -> BTreeSet<TargetId> {
        let mut per_target: BTreeMap<&TargetId, Vec<&DesiredChange>> = BTreeMap::new();
        for c in changes {
            per_target.entry(&c.target).or_default().push(c);
        }
        let mut changed = BTreeSet::new();
        for (target, list) in per_target {
            let Some(slot) = self.slot(target) else {
                tracing::warn!(%target, "desired change for a target not on the board");
                continue;
            };
            let Some(last) = list.last() else { continue };
            slot.send_modify(|state| {
                let mut next = (**state).clone();
                next.services.insert(
                    service.to_string(),
                    Box::new(DesiredRelease { release: last.release.clone(), rollout: Some(rollout.to_string()) }),
                );
                next.version = next.version.saturating_add(list.len() as u64);
                *state = Arc::new(next);
            });
            changed.insert(target.clone());
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(t: &str, r: &str) -> DesiredChange {
        DesiredChange { target: TargetId::from(t), release: Some(ReleaseId::from(r)) }
    }

    #[test]
    fn versions_grow_once_per_change_as_the_store_counts_them() {
        let board = DesiredBoard::default();
        board.ensure(&TargetId::from("a"), 0);
        board.ensure(&TargetId::from("b"), 3);
        let changed = board.apply("svc", "r-1", &[change("a", "x"), change("b", "x"), change("a", "y")]);
        assert_eq!(changed.len(), 2);
        let a = board.get(&TargetId::from("a")).unwrap();
        assert_eq!((a.version, a.services["svc"].release.clone()), (2, Some(ReleaseId::from("y"))), "the last wins");
        assert_eq!(board.get(&TargetId::from("b")).unwrap().version, 4);
        // Told the same release again (a new rollout of it): still a change, as stored.
        assert_eq!(board.apply("svc", "r-2", &[change("b", "x")]).len(), 1);
        assert_eq!(board.get(&TargetId::from("b")).unwrap().version, 5);
    }
}
