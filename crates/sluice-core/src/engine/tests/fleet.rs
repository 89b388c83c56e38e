//! The engine tests' fleet: targets in memory that apply what they are told, report on an
//! interval, and fail, fall silent or get stuck as a test arranges.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::{Action, Observations, Sample, TargetInfo};
use crate::labels::Labels;
use crate::release::{ReleaseId, TargetId};
use crate::time::{Dur, Millis};

/// A fleet in memory: targets apply what they are told after `apply_delay`, and report a sample
/// every `interval` whose error rate is `bad_error_rate` on the bad release for targets
/// `affected` picks.
pub(super) struct Fleet {
    pub(super) targets: Vec<TargetInfo>,
    pub(super) running: BTreeMap<TargetId, Option<ReleaseId>>,
    /// (target, release, time it starts running it)
    pub(super) pending: Vec<(TargetId, Option<ReleaseId>, Millis)>,
    /// Per target, the history of (since, release).
    pub(super) history: BTreeMap<TargetId, Vec<(Millis, Option<ReleaseId>)>>,
    pub(super) interval: u64,
    pub(super) apply_delay: u64,
    pub(super) bad: Option<ReleaseId>,
    pub(super) affected: fn(&Labels) -> bool,
    pub(super) bad_error_rate: f64,
    pub(super) refuse: Option<ReleaseId>,
    pub(super) silent: bool,
    /// The time of the latest `advance`.
    pub(super) now: Millis,
    /// Targets that send nothing from the given time on (a hard crash, SIGSTOP).
    pub(super) muted: BTreeMap<TargetId, Millis>,
    /// Targets that never carry out a move (a consumer that never confirms), still reporting.
    pub(super) stuck: BTreeSet<TargetId>,
    /// Requests per report, per target (default 100).
    pub(super) requests: BTreeMap<TargetId, u64>,
    /// How many times each target's rollback fails before it lands (the agent retries).
    pub(super) rollback_fails: BTreeMap<TargetId, u32>,
    /// Targets whose latest rollback attempt failed.
    pub(super) rollback_failed: BTreeSet<TargetId>,
    /// The bad release fails only this long after a target starts running it.
    pub(super) bad_for: Option<u64>,
    /// When the shell started watching.
    pub(super) watching_since: Millis,
    /// When set, only these targets fail on the bad release (whatever `affected` says).
    pub(super) bad_targets: Option<BTreeSet<TargetId>>,
    /// The bad release fails only this long after a target starts running it (delayed onset).
    pub(super) bad_after: Option<u64>,
    /// The bad release fails only from this time on (a failure that starts later).
    pub(super) bad_from: Option<Millis>,
    /// Offer the engine an index of the targets that may have failed an apply, as the server
    /// does, instead of letting it ask every target it moved.
    pub(super) index_failures: bool,
    /// Offer the engine a log of which targets reported, as the server does, so it remembers
    /// what the others told between steps.
    pub(super) log_reports: bool,
    /// Targets whose release changed or that were unmuted (their hidden samples come back
    /// into view), and when.
    pub(super) changed: Vec<(Millis, TargetId)>,
}

impl Fleet {
    pub(super) fn new(envs: &[(&str, usize)], start: Option<&str>) -> Fleet {
        let mut targets = Vec::new();
        for (env, n) in envs {
            for i in 0..*n {
                let mut labels = Labels::new();
                labels.insert("env".into(), env.to_string());
                labels.insert("proxy".into(), if i % 3 == 0 { "fl1".into() } else { "fl2".into() });
                targets.push(TargetInfo { id: TargetId(format!("{env}-{i:03}")), labels, traffic_share: 0.0 });
            }
        }
        let running = targets.iter().map(|t| (t.id.clone(), start.map(ReleaseId::from))).collect();
        let history = targets.iter().map(|t| (t.id.clone(), vec![(Millis(0), start.map(ReleaseId::from))])).collect();
        Fleet {
            targets,
            running,
            pending: Vec::new(),
            history,
            interval: 5_000,
            apply_delay: 1_000,
            bad: None,
            affected: |_| true,
            bad_error_rate: 1.0,
            refuse: None,
            index_failures: false,
            log_reports: false,
            changed: Vec::new(),
            silent: false,
            now: Millis(0),
            muted: BTreeMap::new(),
            stuck: BTreeSet::new(),
            requests: BTreeMap::new(),
            rollback_fails: BTreeMap::new(),
            rollback_failed: BTreeSet::new(),
            bad_for: None,
            watching_since: Millis(0),
            bad_targets: None,
            bad_after: None,
            bad_from: None,
        }
    }

    /// The target sends again (and what it sent while muted comes into view).
    pub(super) fn unmute(&mut self, t: &TargetId) {
        self.muted.remove(t);
        self.changed.push((self.now, t.clone()));
    }

    pub(super) fn muted_at(&self, t: &TargetId, at: Millis) -> bool {
        self.silent || self.muted.get(t).is_some_and(|m| *m <= at)
    }

    pub(super) fn carry_out(&mut self, now: Millis, actions: &[Action]) {
        for a in actions {
            match a {
                Action::SetDesired { targets, release } => {
                    for t in targets {
                        self.pending.push((t.clone(), Some(release.clone()), now + Dur(self.apply_delay)));
                    }
                }
                Action::RollBack { targets, to } => {
                    for t in targets {
                        self.pending.retain(|(p, _, _)| p != t);
                        self.pending.push((t.clone(), to.clone(), now + Dur(self.apply_delay)));
                    }
                }
                Action::Record(_) | Action::Service(_) => {}
            }
        }
    }

    pub(super) fn advance(&mut self, now: Millis) {
        self.now = now;
        let pending = std::mem::take(&mut self.pending);
        let (due, rest): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|(t, _, at)| *at <= now && !self.stuck.contains(t) && !self.muted_at(t, *at));
        self.pending = rest;
        for (t, r, at) in due {
            if r.is_some() && r == self.refuse {
                continue;
            }
            if let Some(n) =
                self.rollback_fails.get_mut(&t).filter(|n| **n > 0 && r.as_ref().is_some_and(|r| r.0 == "v1"))
            {
                // The rollback's probe failed: the agent stays where it was and tries again.
                *n -= 1;
                self.rollback_failed.insert(t.clone());
                self.pending.push((t, r, now + Dur(self.apply_delay)));
                continue;
            }
            self.rollback_failed.remove(&t);
            self.changed.push((now, t.clone()));
            self.running.insert(t.clone(), r.clone());
            self.history.entry(t).or_default().push((at, r));
        }
    }

    pub(super) fn since_on(&self, t: &TargetId, at: Millis) -> Millis {
        self.history.get(t).and_then(|h| h.iter().rev().find(|(s, _)| *s <= at)).map(|(s, _)| *s).unwrap_or_default()
    }

    pub(super) fn release_at(&self, t: &TargetId, at: Millis) -> Option<ReleaseId> {
        self.history.get(t).and_then(|h| h.iter().rev().find(|(s, _)| *s <= at)).and_then(|(_, r)| r.clone())
    }

    pub(super) fn labels(&self, t: &TargetId) -> Option<&Labels> {
        self.targets.iter().find(|x| &x.id == t).map(|x| &x.labels)
    }
}

impl Observations for Fleet {
    fn running(&self, target: &TargetId) -> Option<&ReleaseId> {
        self.running.get(target).and_then(Option::as_ref)
    }
    fn last_report(&self, target: &TargetId) -> Option<Millis> {
        let mut last = self.now.0 / self.interval * self.interval;
        if self.silent {
            return None;
        }
        if let Some(m) = self.muted.get(target).filter(|m| **m <= self.now) {
            if m.0 < self.interval {
                return None;
            }
            last = last.min((m.0 - 1) / self.interval * self.interval);
        }
        (last >= self.watching_since.0 && last > 0).then_some(Millis(last))
    }
    fn watching_since(&self) -> Millis {
        self.watching_since
    }
    fn apply_failure(&self, target: &TargetId, release: &ReleaseId) -> Option<String> {
        if self.rollback_failed.contains(target) && self.running(target) != Some(release) {
            return Some("probe failed: connection refused".to_string());
        }
        (self.refuse.as_ref() == Some(release)).then(|| "check failed: exit 1".to_string())
    }
    fn apply_failure_candidates(&self) -> Option<Vec<TargetId>> {
        self.index_failures.then(|| {
            // In reverse, so the engine must put them back in the order it moved them.
            let ids = self.targets.iter().rev().map(|t| t.id.clone());
            ids.filter(|t| self.refuse.is_some() || self.rollback_failed.contains(t)).collect()
        })
    }
    fn report_position(&self) -> Option<u64> {
        self.log_reports.then_some(self.now.0)
    }
    fn reported_since(&self, position: u64) -> Option<Vec<TargetId>> {
        if !self.log_reports {
            return None;
        }
        // Every target reports at each multiple of the interval; between them only a release
        // change, an unmute (or a fleet gone silent) changes what is in view.
        if self.now.0 / self.interval > position / self.interval || self.silent {
            return Some(self.targets.iter().map(|t| t.id.clone()).collect());
        }
        Some(self.changed.iter().filter(|(at, _)| at.0 >= position).map(|(_, t)| t.clone()).collect())
    }
    fn samples(&self, target: &TargetId, from: Millis, to: Millis, f: &mut dyn FnMut(&Sample)) {
        let first = from.0.max(self.watching_since.0.saturating_sub(1)) / self.interval + 1;
        for k in first..=(to.0.min(self.now.0) / self.interval) {
            let at = Millis(k * self.interval);
            if self.muted_at(target, at) {
                continue;
            }
            let release = self.release_at(target, at);
            let failing = release.is_some()
                && release == self.bad
                && match &self.bad_targets {
                    Some(only) => only.contains(target),
                    None => self.labels(target).is_some_and(|l| (self.affected)(l)),
                }
                && self.bad_for.is_none_or(|d| at.since(self.since_on(target, at)).0 < d)
                && self.bad_after.is_none_or(|d| at.since(self.since_on(target, at)).0 >= d)
                && self.bad_from.is_none_or(|from| at >= from);
            let requests = self.requests.get(target).copied().unwrap_or(100);
            let errors = if failing { (self.bad_error_rate * requests as f64) as u64 } else { 0 };
            f(&Sample { at, release, requests, errors, ..Sample::default() });
        }
    }
}
