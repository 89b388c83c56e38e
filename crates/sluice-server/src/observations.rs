//! The engine's view of one service over the in-memory fleet: what each target last reported
//! running, why it failed to apply a release (only failures received since the rollout
//! started count), its health samples in a window, the samples the server fetched from gates'
//! health sources, and why the latest read of a source gave nothing.

use sluice_core::engine::{Observations, Sample};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::spec::HealthSource;
use sluice_core::time::Millis;

use crate::fleet::FleetMap;
use crate::source_status::SourceErrors;

#[derive(Debug)]
pub struct ServiceObservations<'a> {
    pub fleet: &'a FleetMap,
    pub sources: &'a SourceErrors,
    pub service: &'a str,
    /// Apply failures received before this are about an earlier rollout.
    pub since: Millis,
    /// When this server started watching the fleet.
    pub watching_since: Millis,
}

impl Observations for ServiceObservations<'_> {
    fn running(&self, target: &TargetId) -> Option<&ReleaseId> {
        self.fleet.get(target)?.services.get(self.service)?.running.as_ref()
    }

    fn last_report(&self, target: &TargetId) -> Option<Millis> {
        self.fleet.get(target).map(|t| t.last_seen).filter(|at| at.0 > 0)
    }

    fn watching_since(&self) -> Millis {
        self.watching_since
    }

    fn apply_failure_candidates(&self) -> Option<Vec<TargetId>> {
        Some(self.fleet.failing(self.service))
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

    fn source_samples(
        &self,
        source: &HealthSource,
        target: &TargetId,
        from: Millis,
        to: Millis,
        f: &mut dyn FnMut(&Sample),
    ) {
        let Some(ring) = self
            .fleet
            .get(target)
            .and_then(|t| t.services.get(self.service))
            .and_then(|live| live.sourced.get(&source.key()))
        else {
            return;
        };
        for s in ring.iter().filter(|s| from < s.at && s.at <= to) {
            f(s);
        }
    }

    fn source_error(&self, source: &HealthSource) -> Option<String> {
        self.sources.get(&(self.service.to_string(), source.key())).cloned().flatten()
    }
}
