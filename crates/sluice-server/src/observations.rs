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

    fn report_position(&self) -> Option<u64> {
        Some(self.fleet.report_position())
    }

    fn reported_since(&self, position: u64) -> Option<Vec<TargetId>> {
        self.fleet.reported_since(position)
    }

    fn samples(&self, target: &TargetId, from: Millis, to: Millis, f: &mut dyn FnMut(&Sample)) {
        let Some(live) = self.fleet.get(target).and_then(|t| t.services.get(self.service)) else { return };
        in_window(&live.samples, from, to, f);
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
        in_window(ring, from, to, f);
    }

    fn source_error(&self, source: &HealthSource) -> Option<String> {
        self.sources.get(&(self.service.to_string(), source.key())).cloned().flatten()
    }
}

/// Calls `f` for each sample of `ring` with `from < at <= to`, oldest first. The ring is kept in
/// time order (the fleet stamps samples with a receive time that never goes back), so the
/// window is found by binary search, not by visiting every sample a target kept.
fn in_window(ring: &std::collections::VecDeque<Sample>, from: Millis, to: Millis, f: &mut dyn FnMut(&Sample)) {
    let start = ring.partition_point(|s| s.at <= from);
    for s in ring.range(start..).take_while(|s| s.at <= to) {
        f(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_takes_the_samples_after_from_up_to_to() {
        let ring: std::collections::VecDeque<Sample> =
            [10, 20, 20, 30, 40].iter().map(|&at| Sample { at: Millis(at), ..Sample::default() }).collect();
        let window = |from: u64, to: u64| {
            let mut got = Vec::new();
            in_window(&ring, Millis(from), Millis(to), &mut |s| got.push(s.at.0));
            got
        };
        assert_eq!(window(10, 30), [20, 20, 30]);
        assert_eq!(window(0, 100), [10, 20, 20, 30, 40]);
        assert_eq!(window(5, 10), [10]);
        assert!(window(40, 50).is_empty());
        assert!(window(30, 20).is_empty());
    }
}
