//! The fleet as agents last reported it, in memory: per target its labels and facts, when it
//! was last seen, and per service the release it runs, its known-good, its last apply, recent
//! apply failures and a bounded ring of health samples. Reports update this under a short
//! write lock (no await inside); the driver reads it to step rollouts. The store learns of a
//! target's facts when they change and of its last-seen time at most every
//! [`STORE_SEEN_EVERY`], so thousands of agents reporting every few seconds do not write SQLite
//! on every report; and those writes go through `heartbeats` (one batched transaction a
//! second), so a report never waits on the store.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use sluice_api::{ApplyReport, Report};
use sluice_core::engine::Sample;
use sluice_core::labels::Labels;
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::{Dur, Millis};
use sluice_store::{TargetRecord, TargetUpsert};

use crate::report_log::ReportLog;

/// The longest health samples are kept (the server keeps them only as long as the longest gate
/// window needs: `sample_retention`).
pub const SAMPLE_RETENTION: Dur = Dur::mins(15);
/// Most samples kept per target and service.
pub const MAX_SAMPLES: usize = 2_000;
/// How stale the stored last-seen time may get before a report writes it.
pub const STORE_SEEN_EVERY: Dur = Dur::secs(30);
/// Most services one report may carry.
pub const MAX_SERVICES_PER_REPORT: usize = 1_000;

/// An apply failure as first received.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reason: String,
    /// The agent's time of the apply, to tell a new failure from the same one reported again.
    pub apply_at: Millis,
    /// When the server first received it.
    pub received: Millis,
}

/// One service on one target, as last reported.
#[derive(Debug, Clone, Default)]
pub struct ServiceLive {
    pub running: Option<ReleaseId>,
    pub known_good: Option<ReleaseId>,
    pub last_apply: Option<ApplyReport>,
    /// The latest failed apply of each release not applied successfully since.
    pub failures: BTreeMap<ReleaseId, Failure>,
    /// Health samples stamped with the server's receive time, oldest first.
    pub samples: VecDeque<Sample>,
    /// The gate metrics the agent last said it produces for the service (`None`: it does not
    /// say).
    pub advertised: Option<BTreeSet<String>>,
    /// Samples the server fetched from gates' health sources (by `HealthSource::key`),
    /// stamped with the time the answer arrived, oldest first.
    pub sourced: BTreeMap<String, VecDeque<Sample>>,
}

/// One target.
#[derive(Debug, Clone)]
pub struct TargetLive {
    pub labels: Labels,
    pub facts: Labels,
    pub last_seen: Millis,
    /// The last-seen time the store has.
    stored_seen: Millis,
    /// Boxed: a B-tree leaf holds room for eleven entries, so an unboxed `ServiceLive` (~250
    /// bytes) would cost ~3 KB per target for its first service.
    pub services: BTreeMap<String, Box<ServiceLive>>,
}

impl TargetLive {
    fn from_record(r: &TargetRecord) -> TargetLive {
        TargetLive {
            labels: r.labels.clone(),
            facts: r.facts.clone(),
            last_seen: r.last_seen,
            stored_seen: r.last_seen,
            services: BTreeMap::new(),
        }
    }
}

/// Every target by id (read through `Deref`), with an index of the targets that have an apply
/// failure on record per service, so a step looks at those, not at every target it moved.
#[derive(Debug, Default)]
pub struct FleetMap {
    targets: HashMap<TargetId, TargetLive>,
    failing: HashMap<String, BTreeSet<TargetId>>,
    /// Which targets reported, so a step re-reads only those members.
    log: ReportLog,
}

impl std::ops::Deref for FleetMap {
    type Target = HashMap<TargetId, TargetLive>;
    fn deref(&self) -> &Self::Target {
        &self.targets
    }
}

impl FromIterator<(TargetId, TargetLive)> for FleetMap {
    fn from_iter<I: IntoIterator<Item = (TargetId, TargetLive)>>(iter: I) -> Self {
        FleetMap { targets: iter.into_iter().collect(), failing: HashMap::new(), log: ReportLog::default() }
    }
}

impl FleetMap {
    /// Targets with an apply failure of some release of `service` on record.
    pub fn failing(&self, service: &str) -> Vec<TargetId> {
        self.failing.get(service).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// The report log's position now.
    pub fn report_position(&self) -> u64 {
        self.log.position()
    }

    /// Targets that reported after `position`, if the log reaches back that far.
    pub fn reported_since(&self, position: u64) -> Option<Vec<TargetId>> {
        self.log.since(position)
    }
}

/// What a report changed that the server acts on beyond the fleet itself.
#[derive(Debug, Default)]
pub struct Recorded {
    /// What to write to the store (facts changed, or the stored last-seen time is stale).
    pub upsert: Option<TargetUpsert>,
    /// The reasons of apply failures first received with this report.
    pub new_failures: Vec<String>,
}

/// One value a health source gave for one target.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcedValue {
    pub target: TargetId,
    pub value: f64,
}

/// What [`Fleet::record_sourced`] did with a source's values.
#[derive(Debug, Default, PartialEq)]
pub struct SourcedOutcome {
    pub added: usize,
    /// Values that were NaN or infinite.
    pub not_finite: usize,
    /// Targets not in the fleet.
    pub unknown: Vec<TargetId>,
}

#[derive(Debug, Default)]
pub struct Fleet {
    inner: RwLock<FleetMap>,
    /// How long samples are kept, ms (0: [`SAMPLE_RETENTION`]); see `sample_retention`.
    retention_ms: std::sync::atomic::AtomicU64,
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("target {0} is not enrolled")]
    UnknownTarget(TargetId),
    #[error("report lists service {0:?} twice")]
    DuplicateService(String),
    #[error("report has an empty service name")]
    EmptyService,
    #[error("report lists {0} services, more than the limit of {MAX_SERVICES_PER_REPORT}")]
    TooManyServices(usize),
}

impl Fleet {
    pub fn load(records: &[TargetRecord]) -> Fleet {
        Fleet {
            inner: RwLock::new(records.iter().map(|r| (r.id.clone(), TargetLive::from_record(r))).collect()),
            retention_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Keep samples for `retention` from now on (older ones go as reports arrive).
    pub fn set_retention(&self, retention: Dur) {
        self.retention_ms.store(retention.0.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// How long samples are kept.
    pub fn retention(&self) -> Dur {
        match self.retention_ms.load(std::sync::atomic::Ordering::Relaxed) {
            0 => SAMPLE_RETENTION,
            ms => Dur(ms),
        }
    }

    /// A target enrolled (or enrolled again): its labels and facts are the stored ones now.
    pub fn enrolled(&self, record: &TargetRecord) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match map.targets.get_mut(&record.id) {
            Some(t) => {
                t.labels = record.labels.clone();
                t.facts = record.facts.clone();
                t.last_seen = t.last_seen.max(record.last_seen);
                t.stored_seen = record.last_seen;
            }
            None => {
                map.targets.insert(record.id.clone(), TargetLive::from_record(record));
            }
        }
        // Its last-seen time may have moved: a step reads it again.
        map.log.push(&record.id);
    }

    /// Read the whole fleet (the driver steps under this; never hold it across an await).
    pub fn read(&self) -> RwLockReadGuard<'_, FleetMap> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Take `target`'s report received at `now`. Returns what to write to the store, if
    /// anything (facts changed, or the stored last-seen time is stale), and the apply failures
    /// it brought. Refuses the whole report, changing nothing, if it is malformed.
    pub fn record(&self, target: &TargetId, report: &Report, now: Millis) -> Result<Recorded, ReportError> {
        if report.services.len() > MAX_SERVICES_PER_REPORT {
            return Err(ReportError::TooManyServices(report.services.len()));
        }
        let mut names = BTreeSet::new();
        for s in &report.services {
            if s.service.is_empty() {
                return Err(ReportError::EmptyService);
            }
            if !names.insert(s.service.as_str()) {
                return Err(ReportError::DuplicateService(s.service.clone()));
            }
        }
        let retention = self.retention();
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let FleetMap { targets, failing, log } = &mut *map;
        let t = targets.get_mut(target).ok_or_else(|| ReportError::UnknownTarget(target.clone()))?;
        // Every report may change its samples, release and last report time.
        log.push(target);
        t.last_seen = t.last_seen.max(now);
        let mut recorded = Recorded::default();
        for s in &report.services {
            let live = t.services.entry(s.service.clone()).or_default();
            live.running = s.running.clone();
            live.known_good = s.known_good.clone();
            live.advertised = s.metrics.as_ref().map(|m| m.iter().cloned().collect());
            if let Some(apply) = &s.last_apply {
                if let Some(reason) = take_apply(live, apply, now) {
                    recorded.new_failures.push(reason);
                }
                // Keep the index of failing targets in step with `failures`.
                if live.failures.is_empty() {
                    if let Some(set) = failing.get_mut(&s.service) {
                        set.remove(target);
                    }
                } else {
                    failing.entry(s.service.clone()).or_default().insert(target.clone());
                }
            }
            if let Some(sample) = &s.sample {
                let mut sample = sample.clone();
                // The server's clock judges gates: agents' clocks may be skewed. Never before
                // the sample before it, so the ring stays in time order (windows are found by
                // binary search) even if the clock steps back.
                sample.at = live.samples.back().map_or(now, |last| now.max(last.at));
                live.samples.push_back(sample);
            }
            let oldest = now.saturating_sub(retention);
            while live.samples.front().is_some_and(|s| s.at <= oldest) || live.samples.len() > MAX_SAMPLES {
                live.samples.pop_front();
            }
        }
        let facts_changed = t.facts != report.facts;
        if facts_changed {
            t.facts = report.facts.clone();
        }
        if facts_changed || now.since(t.stored_seen) >= STORE_SEEN_EVERY {
            t.stored_seen = now;
            recorded.upsert = Some(TargetUpsert {
                id: target.clone(),
                labels: t.labels.clone(),
                facts: t.facts.clone(),
                seen_at: now,
            });
        }
        Ok(recorded)
    }

    /// Add one sample per value that `source` gave for `service` at `now`: the release is the
    /// one the target reports running, `metrics[m]` the value for each of `metrics`. Values
    /// for targets not in the fleet, and values that are not finite, add nothing.
    pub fn record_sourced(
        &self,
        service: &str,
        source_key: &str,
        metrics: &[String],
        values: &[SourcedValue],
        now: Millis,
    ) -> SourcedOutcome {
        let retention = self.retention();
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let mut out = SourcedOutcome::default();
        for v in values {
            let Some(t) = map.targets.get_mut(&v.target) else {
                out.unknown.push(v.target.clone());
                continue;
            };
            if !v.value.is_finite() {
                out.not_finite += 1;
                continue;
            }
            let live = t.services.entry(service.to_string()).or_default();
            let release = live.running.clone();
            let ring = live.sourced.entry(source_key.to_string()).or_default();
            let sample = Sample {
                // In time order, as in `record`.
                at: ring.back().map_or(now, |last| now.max(last.at)),
                release,
                metrics: metrics.iter().map(|m| (m.clone(), v.value)).collect(),
                ..Sample::default()
            };
            ring.push_back(sample);
            let oldest = now.saturating_sub(retention);
            while ring.front().is_some_and(|s| s.at <= oldest) || ring.len() > MAX_SAMPLES {
                ring.pop_front();
            }
            map.log.push(&v.target);
            out.added += 1;
        }
        out
    }

    /// Forget the samples of a source nobody reads any more.
    pub fn drop_sourced(&self, service: &str, source_key: &str) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        for t in map.targets.values_mut() {
            if let Some(live) = t.services.get_mut(service) {
                live.sourced.remove(source_key);
            }
        }
        map.log.forget_all();
    }
}

/// Take an apply report; the reason of a failure not seen before, if it is one.
fn take_apply(live: &mut ServiceLive, apply: &ApplyReport, now: Millis) -> Option<String> {
    let mut new_failure = None;
    if let Some(release) = &apply.release {
        if apply.ok {
            live.failures.remove(release);
        } else {
            let reason = match (&apply.reason, &apply.detail) {
                (Some(r), Some(d)) => format!("{r}: {d}"),
                (Some(r), None) => r.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => "apply failed".to_string(),
            };
            let same = live.failures.get(release).is_some_and(|f| f.apply_at == apply.at);
            if !same {
                new_failure = Some(apply.reason.clone().unwrap_or_else(|| "unknown".to_string()));
                live.failures.insert(release.clone(), Failure { reason, apply_at: apply.at, received: now });
            }
        }
    }
    live.last_apply = Some(apply.clone());
    new_failure
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(service: &str, release: &str, ok: bool, at: u64) -> Report {
        Report {
            at: Millis(at),
            facts: Labels::new(),
            services: vec![sluice_api::ServiceReport {
                service: service.into(),
                running: None,
                known_good: None,
                last_apply: Some(ApplyReport {
                    release: Some(ReleaseId::from(release)),
                    ok,
                    reason: (!ok).then(|| "check_failed".to_string()),
                    detail: None,
                    desired_version: 1,
                    at: Millis(at),
                    duration_ms: 1,
                }),
                sample: None,
                metrics: None,
            }],
            agent: BTreeMap::new(),
        }
    }

    fn record(id: &str) -> TargetRecord {
        TargetRecord {
            id: TargetId::from(id),
            labels: Labels::new(),
            facts: Labels::new(),
            first_seen: Millis(0),
            last_seen: Millis(0),
            desired_version: 0,
        }
    }

    #[test]
    fn the_index_of_failing_targets_follows_their_failures() {
        let fleet = Fleet::load(&[record("a"), record("b")]);
        let (a, b) = (TargetId::from("a"), TargetId::from("b"));
        fleet.record(&a, &report("web", "v2", false, 10), Millis(10)).unwrap();
        fleet.record(&b, &report("web", "v2", true, 10), Millis(10)).unwrap();
        assert_eq!(fleet.read().failing("web"), vec![a.clone()]);
        assert!(fleet.read().failing("dns").is_empty());
        assert!(fleet.read()[&a].services["web"].failures.contains_key(&ReleaseId::from("v2")));
        // A later successful apply of the release clears the failure and the index.
        fleet.record(&a, &report("web", "v2", true, 20), Millis(20)).unwrap();
        assert!(fleet.read().failing("web").is_empty());
    }

    #[test]
    fn samples_older_than_the_retention_go() {
        let fleet = Fleet::load(&[record("a")]);
        assert_eq!(fleet.retention(), SAMPLE_RETENTION);
        fleet.set_retention(Dur::secs(60));
        let a = TargetId::from("a");
        for s in (5..=300).step_by(5) {
            let mut r = report("web", "v1", true, s * 1000);
            r.services[0].sample = Some(Sample::default());
            fleet.record(&a, &r, Millis(s * 1000)).unwrap();
        }
        let ats: Vec<u64> = fleet.read()[&a].services["web"].samples.iter().map(|s| s.at.0).collect();
        assert_eq!(ats.first(), Some(&245_000), "only the last minute is kept");
        assert_eq!(ats.len(), 12);
    }

    #[test]
    fn samples_stay_in_time_order_when_the_clock_steps_back() {
        let fleet = Fleet::load(&[record("a")]);
        let a = TargetId::from("a");
        for now in [100, 200, 150, 300] {
            let mut r = report("web", "v1", true, now);
            r.services[0].sample = Some(Sample::default());
            fleet.record(&a, &r, Millis(now)).unwrap();
        }
        let ats: Vec<u64> = fleet.read()[&a].services["web"].samples.iter().map(|s| s.at.0).collect();
        assert_eq!(ats, [100, 200, 200, 300]);
    }
}
