//! The engine's view of one service over the in-memory fleet: what each target last reported
//! running, why it failed to apply a release (only failures received since the rollout
//! started count), and its health samples in a window.

use sluice_core::engine::{Observations, Sample};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;

use crate::fleet::FleetMap;

#[derive(Debug)]
pub struct ServiceObservations<'a> {
    pub fleet: &'a FleetMap,
    pub service: &'a str,
    /// Apply failures received before this are about an earlier rollout.
    pub since: Millis,
}

impl Observations for ServiceObservations<'_> {
    fn running(&self, target: &TargetId) -> Option<&ReleaseId> {
        self.fleet.get(target)?.services.get(self.service)?.running.as_ref()
    }

    fn apply_failure(&self, target: &TargetId, release: &ReleaseId) -> Option<String> {
        let f = self.fleet.get(target)?.services.get(self.service)?.failures.get(release)?;
        (f.received >= self.since).then(|| f.reason.clone())
    }

    fn samples(&self, target: &TargetId, from: Millis, to: Millis, f: &mut dyn FnMut(&Sample)) {
        let Some(live) = self.fleet.get(target).and_then(|t| t.services.get(self.service)) else { return };
        for s in live.samples.iter().filter(|s| from < s.at && s.at <= to) {
            f(s);
        }
    }
}
