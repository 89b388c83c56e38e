//! What the engine may know about the fleet: which release each target runs, whether an apply
//! failed, and the health samples targets reported.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::release::{ReleaseId, TargetId};
use crate::spec::HealthSource;
use crate::time::Millis;

/// One health report from one target, covering the interval that ends at `at`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at: Millis,
    /// The release the target ran for this interval (`None`: nothing applied yet).
    pub release: Option<ReleaseId>,
    pub requests: u64,
    /// Server errors (5xx) among `requests`.
    pub errors: u64,
    #[serde(default)]
    pub latency_p50_ms: Option<f64>,
    #[serde(default)]
    pub latency_p99_ms: Option<f64>,
    /// Process crashes/restarts in the interval.
    #[serde(default)]
    pub crashes: u64,
    /// Custom metrics (`bot_score_zero_share`), each a ratio or gauge for the interval.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// The fleet as the shell sees it. Implementations hold state in memory; the engine only reads.
pub trait Observations {
    /// The release the target reports running now; `None` if nothing or unknown.
    fn running(&self, target: &TargetId) -> Option<&ReleaseId>;
    /// When the target last reported anything at all (its latest report's receive time); `None`
    /// if it never did since the shell started watching. Silence is measured from here.
    fn last_report(&self, target: &TargetId) -> Option<Millis>;
    /// Since when the shell has been watching the fleet (the server's start; 0 in a
    /// simulation): a member is never called silent for time the shell itself was away.
    fn watching_since(&self) -> Millis {
        Millis(0)
    }
    /// Why the target failed to apply `release` (refused by `check`, probe failed, bad bundle),
    /// if it did.
    fn apply_failure(&self, target: &TargetId, release: &ReleaseId) -> Option<String>;
    /// Every target that may have an apply failure on record for the service (a superset is
    /// fine), so the engine asks [`Observations::apply_failure`] of those and not of every
    /// target it moved: a step then costs O(failing targets), not O(fleet). `None` (the
    /// default): the shell keeps no such index; the engine asks every target it moved.
    fn apply_failure_candidates(&self) -> Option<Vec<TargetId>> {
        None
    }
    /// Where the shell's log of reports (agents' reports, health sources' values) stands now,
    /// if it keeps one. With [`Observations::reported_since`] the engine re-reads only the
    /// members that reported since its last step and remembers what the others told (their
    /// gate sums, last report, release), so a step's reads cost O(changed targets), not
    /// O(wave). `None` (the default): no log; every member is read on every step.
    fn report_position(&self) -> Option<u64> {
        None
    }
    /// Every target whose samples, running release or last report time may have changed after
    /// `position` (a superset is fine). `None`: the log no longer reaches back that far; every
    /// member is read again.
    fn reported_since(&self, position: u64) -> Option<Vec<TargetId>> {
        let _ = position;
        None
    }
    /// Calls `f` for each sample of `target` with `from < at <= to`, oldest first.
    fn samples(&self, target: &TargetId, from: Millis, to: Millis, f: &mut dyn FnMut(&Sample));
    /// Calls `f` for each sample of `target` with `from < at <= to` that the shell fetched from
    /// `source` (a gate with a source judges these alone), oldest first. Default: none, so a
    /// shell that fetches nothing holds such gates, never passes them.
    fn source_samples(
        &self,
        source: &HealthSource,
        target: &TargetId,
        from: Millis,
        to: Millis,
        f: &mut dyn FnMut(&Sample),
    ) {
        let _ = (source, target, from, to, f);
    }
    /// Why the shell's latest attempt to read `source` gave nothing (unreachable, an error
    /// answer, an empty result), if it did; `None` after a good read. Named in the gate's
    /// reason while the gate lacks data.
    fn source_error(&self, source: &HealthSource) -> Option<String> {
        let _ = source;
        None
    }
}
