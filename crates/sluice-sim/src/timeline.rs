//! What one strategy's run looked like over time: the share of prod traffic failing as a
//! piecewise-constant series (integrated exactly), who ever ran a bad release, when the problem
//! was detected and when the fleet was clean again, and markers for the chart and the notes.

use serde::Serialize;
use sluice_core::time::Millis;

/// Something worth a marker on the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MarkerKind {
    /// A release was pushed to every target (global push).
    Push,
    /// A wave started.
    Wave,
    /// A gate passed (after being inconclusive).
    GatePass,
    /// A gate failed, or a target failed to apply.
    GateFail,
    /// A rollback or revert started.
    Rollback,
    /// Validation rejected a release.
    Rejected,
    /// A person noticed the problem (global push).
    Detected,
    /// A rollout completed.
    Completed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marker {
    pub at_ms: u64,
    pub kind: MarkerKind,
    pub label: String,
}

#[derive(Debug)]
pub(crate) struct Timeline {
    /// Prod traffic units × 10⁶: the denominator of the failing share.
    prod_total: u64,
    /// Sum over prod targets of traffic units × failing ppm.
    failing: u64,
    last_change: Millis,
    /// (time ms, % of prod traffic failing) at every change.
    pub series: Vec<(u64, f64)>,
    peak: f64,
    area_pct_ms: f64,
    failing_ms: u64,
    /// Targets running a bad release now (all environments).
    bad_running: u64,
    ever_bad: Vec<bool>,
    ever_bad_count: u64,
    prod_ever_bad_units: u64,
    prod_units: u64,
    clean_since: Option<Millis>,
    first_bad: Option<Millis>,
    detected: Option<Millis>,
    pub markers: Vec<Marker>,
}

/// The figures of a finished run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Figures {
    pub peak_pct: f64,
    pub area_pct_min: f64,
    pub failing_s: f64,
    pub targets_ever_bad: u64,
    pub prod_share_ever_bad_pct: f64,
    pub detect_s: Option<f64>,
    pub recover_s: Option<f64>,
}

impl Timeline {
    pub(crate) fn new(targets: usize, prod_units: u64, first_bad: Option<Millis>) -> Timeline {
        Timeline {
            prod_total: prod_units.saturating_mul(1_000_000).max(1),
            failing: 0,
            last_change: Millis(0),
            series: vec![(0, 0.0)],
            peak: 0.0,
            area_pct_ms: 0.0,
            failing_ms: 0,
            bad_running: 0,
            ever_bad: vec![false; targets],
            ever_bad_count: 0,
            prod_ever_bad_units: 0,
            prod_units: prod_units.max(1),
            clean_since: Some(Millis(0)),
            first_bad,
            detected: None,
            markers: Vec::new(),
        }
    }

    fn pct(&self) -> f64 {
        self.failing as f64 / self.prod_total as f64 * 100.0
    }

    fn advance(&mut self, now: Millis) {
        let dt = now.0.saturating_sub(self.last_change.0);
        if dt > 0 {
            self.area_pct_ms += self.pct() * dt as f64;
            if self.failing > 0 {
                self.failing_ms += dt;
            }
            self.last_change = now;
        }
    }

    fn update_clean(&mut self, now: Millis) {
        let clean = self.failing == 0 && self.bad_running == 0;
        match (clean, self.clean_since) {
            (true, None) => self.clean_since = Some(now),
            (false, Some(_)) => self.clean_since = None,
            _ => {}
        }
    }

    /// A prod target's failing weight changed from `old` to `new` (traffic units × ppm).
    pub(crate) fn failing_changed(&mut self, now: Millis, old: u64, new: u64) {
        if old == new {
            return;
        }
        self.advance(now);
        self.failing = self.failing.saturating_sub(old).saturating_add(new);
        let pct = self.pct();
        self.peak = self.peak.max(pct);
        match self.series.last_mut() {
            Some(last) if last.0 == now.0 => last.1 = pct,
            _ => self.series.push((now.0, pct)),
        }
        self.update_clean(now);
    }

    /// A target started or stopped running a bad release.
    pub(crate) fn bad_changed(&mut self, now: Millis, target: u32, prod_units: Option<u64>, on_bad: bool) {
        if on_bad {
            self.bad_running += 1;
            if let Some(seen) = self.ever_bad.get_mut(target as usize)
                && !*seen
            {
                *seen = true;
                self.ever_bad_count += 1;
                self.prod_ever_bad_units = self.prod_ever_bad_units.saturating_add(prod_units.unwrap_or(0));
            }
        } else {
            self.bad_running = self.bad_running.saturating_sub(1);
        }
        self.update_clean(now);
    }

    /// The problem was noticed (a failed gate, a rejection, a person); only the first counts.
    pub(crate) fn detect(&mut self, now: Millis) {
        if self.detected.is_none() && self.first_bad.is_some_and(|b| b <= now) {
            self.detected = Some(now);
        }
    }

    pub(crate) fn mark(&mut self, now: Millis, kind: MarkerKind, label: impl Into<String>) {
        self.markers.push(Marker { at_ms: now.0, kind, label: label.into() });
    }

    pub(crate) fn finish(&mut self, end: Millis) -> Figures {
        self.advance(end);
        let since_bad = |t: Millis| self.first_bad.map(|b| t.0.saturating_sub(b.0) as f64 / 1000.0);
        let detect_s = self.detected.and_then(since_bad);
        let recover_s = match (self.detected, self.clean_since) {
            (Some(d), Some(c)) => since_bad(c.max(d)),
            _ => None,
        };
        Figures {
            peak_pct: self.peak,
            area_pct_min: self.area_pct_ms / 60_000.0,
            failing_s: self.failing_ms as f64 / 1000.0,
            targets_ever_bad: self.ever_bad_count,
            prod_share_ever_bad_pct: self.prod_ever_bad_units as f64 / self.prod_units as f64 * 100.0,
            detect_s,
            recover_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_piecewise_constant_segments_exactly() {
        let mut t = Timeline::new(2, 100, Some(Millis(0)));
        t.failing_changed(Millis(60_000), 0, 50 * 1_000_000); // 50% from 1m
        t.bad_changed(Millis(60_000), 0, Some(50), true);
        t.detect(Millis(90_000));
        t.failing_changed(Millis(180_000), 50 * 1_000_000, 0); // back to 0 at 3m
        t.bad_changed(Millis(180_000), 0, Some(50), false);
        let f = t.finish(Millis(600_000));
        assert_eq!(f.peak_pct, 50.0);
        assert!((f.area_pct_min - 100.0).abs() < 1e-9);
        assert_eq!(f.failing_s, 120.0);
        assert_eq!(f.targets_ever_bad, 1);
        assert_eq!(f.prod_share_ever_bad_pct, 50.0);
        assert_eq!(f.detect_s, Some(90.0));
        assert_eq!(f.recover_s, Some(180.0));
    }
}
