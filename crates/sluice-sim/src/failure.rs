//! The failure model: which rules of a release's faults apply to a group of targets, what they
//! do at a given time since the target applied the release (onset, flapping, silence), how
//! they change what the agent does (it refuses the release, never confirms it, or takes hours
//! to roll back), and the health report a target gives for an interval — generated lazily and
//! deterministically from (seed, target, report tick), so it does not matter in which order the
//! engine asks.

use sluice_core::engine::Sample;
use sluice_core::time::Millis;

use crate::fleet::Fleet;
use crate::releases::Catalogue;
use crate::rng::{Stream, unit};
use crate::scenario::{DelaySpec, HealthSpec, Scenario, Silence};

/// Parts per million: a share of requests.
pub(crate) const PPM: u32 = 1_000_000;

#[derive(Debug)]
struct Rule {
    error_ppm: u32,
    crash: bool,
    latency_ms: f64,
    /// (index into the metric names, value)
    quality: Option<(usize, f64)>,
    apply_error: Option<String>,
    onset: u64,
    flap: u64,
    silent: bool,
    /// How long a silence lasts (`u64::MAX`: for good).
    silent_for: u64,
    /// The silence happens once per apply (a restart), not again when the target is back.
    silent_once: bool,
    never_confirms: bool,
    rollback_delay: Option<DelaySpec>,
}

impl Rule {
    /// Whether the rule's effects (silence aside: the world keeps it) hit at `at`.
    fn active(&self, since: Millis, at: Millis) -> bool {
        let Some(e) = at.0.checked_sub(since.0) else { return false };
        e >= self.onset && (self.flap == 0 || ((e - self.onset) / self.flap).is_multiple_of(2))
    }

    /// Time after the apply at which a silence ends (`u64::MAX`: never).
    fn silence_end(&self) -> u64 {
        self.onset.saturating_add(self.silent_for)
    }

    fn next_change(&self, since: Millis, after: Millis) -> Option<Millis> {
        let e = after.0.saturating_sub(since.0);
        if e < self.onset {
            return Some(Millis(since.0.saturating_add(self.onset)));
        }
        if self.flap == 0 {
            return None;
        }
        let n = (e - self.onset) / self.flap + 1;
        Some(Millis(since.0.saturating_add(self.onset).saturating_add(n.saturating_mul(self.flap))))
    }

    fn has_runtime_effect(&self) -> bool {
        self.error_ppm > 0 || self.crash || self.latency_ms > 0.0 || self.quality.is_some() || self.silent
    }
}

/// What a target suffers at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Effect {
    /// Share of its requests failing, in parts per million.
    pub fail_ppm: u32,
}

#[derive(Debug)]
pub(crate) struct FailureModel {
    rules: Vec<Rule>,
    /// Rules that apply, by `fault_set * groups + group`.
    matched: Vec<Vec<u32>>,
    groups: usize,
    /// Custom metric names reported (baseline metrics and quality effects), sorted.
    pub metric_names: Vec<String>,
    metric_base: Vec<f64>,
    health: HealthSpec,
    /// Whether any rule refuses an apply (otherwise the engine's question is answered at once).
    pub any_apply_error: bool,
    /// Whether any rule silences a target (otherwise every target reports at every tick).
    pub any_silent: bool,
}

impl FailureModel {
    pub(crate) fn new(s: &Scenario, fleet: &Fleet, cat: &Catalogue) -> FailureModel {
        let mut metric_names: Vec<String> = s.health.metrics.keys().cloned().collect();
        for f in s.faults.values() {
            for r in &f.rules {
                if let Some(q) = &r.quality
                    && !metric_names.contains(&q.metric)
                {
                    metric_names.push(q.metric.clone());
                }
            }
        }
        metric_names.sort();
        let metric_base = metric_names.iter().map(|m| s.health.metrics.get(m).copied().unwrap_or(0.0)).collect();
        // Rules in fault-name order, and per fault the rule index range.
        let mut rules = Vec::new();
        let mut fault_rules: Vec<(&str, Vec<(u32, &sluice_core::labels::Selector)>)> = Vec::new();
        for (name, f) in &s.faults {
            let mut idx = Vec::new();
            for r in &f.rules {
                idx.push((rules.len() as u32, &r.selector));
                rules.push(Rule {
                    error_ppm: (r.error_share.unwrap_or(0.0).clamp(0.0, 1.0) * f64::from(PPM)).round() as u32,
                    crash: r.crash,
                    latency_ms: r.latency_ms.unwrap_or(0.0),
                    quality: r
                        .quality
                        .as_ref()
                        .and_then(|q| metric_names.iter().position(|m| *m == q.metric).map(|i| (i, q.value))),
                    apply_error: r.apply_error.clone(),
                    onset: r.onset.0,
                    flap: r.flap.map_or(0, |d| d.0),
                    silent: r.silent.is_on(),
                    silent_for: match r.silent {
                        Silence::For(d) | Silence::Once(d) => d.0,
                        Silence::Off | Silence::Forever => u64::MAX,
                    },
                    silent_once: matches!(r.silent, Silence::Once(_)),
                    never_confirms: r.never_confirms,
                    rollback_delay: r.rollback_delay,
                });
            }
            fault_rules.push((name.as_str(), idx));
        }
        let groups = fleet.groups.len();
        let mut matched = Vec::with_capacity(cat.fault_sets.len() * groups);
        for set in &cat.fault_sets {
            for g in &fleet.groups {
                let mut m = Vec::new();
                for (name, idx) in &fault_rules {
                    if set.iter().any(|f| f == name) {
                        // The first rule of each fault whose selector matches.
                        if let Some((ri, _)) = idx.iter().find(|(_, sel)| sel.matches(&g.labels)) {
                            m.push(*ri);
                        }
                    }
                }
                matched.push(m);
            }
        }
        let any_apply_error = rules.iter().any(|r| r.apply_error.is_some());
        let any_silent = rules.iter().any(|r| r.silent);
        FailureModel {
            rules,
            matched,
            groups,
            metric_names,
            metric_base,
            health: s.health.clone(),
            any_apply_error,
            any_silent,
        }
    }

    fn rules_for(&self, fault_set: u32, group: u32) -> impl Iterator<Item = &Rule> {
        let i = fault_set as usize * self.groups + group as usize;
        self.matched.get(i).into_iter().flatten().map(|&r| &self.rules[r as usize])
    }

    /// Whether a release with this fault set does anything at run time to this group.
    pub(crate) fn affects(&self, fault_set: u32, group: u32) -> bool {
        self.rules_for(fault_set, group).any(Rule::has_runtime_effect)
    }

    /// The longest onset among the rules that apply to this group.
    pub(crate) fn max_onset(&self, fault_set: u32, group: u32) -> u64 {
        self.rules_for(fault_set, group).map(|r| r.onset).max().unwrap_or(0)
    }

    /// Why a target of this group refuses to apply a release with this fault set, if it does.
    pub(crate) fn apply_error(&self, fault_set: u32, group: u32) -> Option<&str> {
        self.rules_for(fault_set, group).find_map(|r| r.apply_error.as_deref())
    }

    /// Whether a target of this group told to apply a release with this fault set hangs in the
    /// apply and never confirms it.
    pub(crate) fn never_confirms(&self, fault_set: u32, group: u32) -> bool {
        self.rules_for(fault_set, group).any(|r| r.never_confirms)
    }

    /// How long a target of this group running a release with this fault set takes to carry
    /// out a rollback, when a rule says.
    pub(crate) fn rollback_delay(&self, fault_set: u32, group: u32) -> Option<DelaySpec> {
        self.rules_for(fault_set, group).find_map(|r| r.rollback_delay)
    }

    /// Whether a target of this group that comes back from a silence on a release with this
    /// fault set goes silent again (a crash loop), rather than staying up (a one-time restart).
    pub(crate) fn silence_repeats(&self, fault_set: u32, group: u32) -> bool {
        self.rules_for(fault_set, group).any(|r| r.silent && !r.silent_once)
    }

    /// When a target of this group that applied a release with this fault set at `since` (or
    /// came back on it then) is silent: `[from, until)` in ms (`until == u64::MAX`: for good).
    /// The silences of several faults on one target merge into one, from the earliest start to
    /// the latest end.
    pub(crate) fn silence(&self, fault_set: u32, group: u32, since: Millis) -> Option<(u64, u64)> {
        self.rules_for(fault_set, group).filter(|r| r.silent).fold(None, |acc, r| {
            let from = since.0.saturating_add(r.onset);
            let until = since.0.saturating_add(r.silence_end());
            Some(acc.map_or((from, until), |(f, u): (u64, u64)| (f.min(from), u.max(until))))
        })
    }

    /// The effect at `at` on a target of `group` running a release of `fault_set` since `since`,
    /// silence aside (the world knows when a target is silent: [`FailureModel::silence`]).
    pub(crate) fn effect(&self, fault_set: u32, group: u32, since: Millis, at: Millis) -> Effect {
        let mut e = Effect::default();
        for r in self.rules_for(fault_set, group).filter(|r| r.active(since, at)) {
            let ppm = if r.crash { PPM } else { r.error_ppm };
            e.fail_ppm = e.fail_ppm.max(ppm);
        }
        e
    }

    /// The next time after `after` when the effect may change (an onset or a flap edge).
    pub(crate) fn next_change(&self, fault_set: u32, group: u32, since: Millis, after: Millis) -> Option<Millis> {
        self.rules_for(fault_set, group).filter_map(|r| r.next_change(since, after)).filter(|t| *t > after).min()
    }

    /// Fill `s` with the report of `target` for the interval ending at tick `k` (at `at`); the
    /// caller sets `s.release`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill_sample(
        &self,
        s: &mut Sample,
        seed: u64,
        target: u32,
        k: u64,
        fault_set: u32,
        group: u32,
        since: Millis,
        at: Millis,
    ) {
        let h = &self.health;
        let t = u64::from(target);
        let (mut fail, mut crash, mut latency) = (0.0f64, false, 0.0f64);
        let mut quality: [(usize, f64); 4] = [(usize::MAX, 0.0); 4];
        let mut nq = 0;
        if fault_set != 0 {
            for r in self.rules_for(fault_set, group).filter(|r| r.active(since, at)) {
                fail = fail.max(f64::from(r.error_ppm) / f64::from(PPM));
                crash |= r.crash;
                latency += r.latency_ms;
                if let Some(q) = r.quality
                    && nq < quality.len()
                {
                    quality[nq] = q;
                    nq += 1;
                }
            }
        }
        let base = h.error_rate * 2.0 * unit(seed, Stream::Errors, t, k);
        let share = if crash { 1.0 } else { fail + (1.0 - fail) * base };
        s.at = at;
        s.requests = h.requests_per_report;
        s.errors = ((h.requests_per_report as f64 * share).round() as u64).min(h.requests_per_report);
        s.crashes = u64::from(crash);
        s.latency_p50_ms = Some(h.latency_p50_ms * (0.9 + 0.2 * unit(seed, Stream::LatencyP50, t, k)) + latency);
        s.latency_p99_ms = Some(h.latency_p99_ms * (0.85 + 0.3 * unit(seed, Stream::LatencyP99, t, k)) + latency);
        for (i, name) in self.metric_names.iter().enumerate() {
            let mut v = self.metric_base[i] * (0.8 + 0.4 * unit(seed, Stream::Metric, t, k ^ ((i as u64) << 48)));
            for (qi, qv) in &quality[..nq] {
                if *qi == i {
                    v = *qv;
                }
            }
            if let Some(slot) = s.metrics.get_mut(name) {
                *slot = v;
            } else {
                s.metrics.insert(name.clone(), v);
            }
        }
    }
}
