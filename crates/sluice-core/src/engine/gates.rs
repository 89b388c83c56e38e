//! Judging a wave: each gate over its window gives pass, fail or inconclusive, with a record of
//! its inputs, values and statistics.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::member_memo::{GateSums, Span};
use super::observe::{Observations, Sample};
use super::plan::StagePlan;
use super::rollout::Told;
use crate::gate::mann_whitney::{Alternative, mann_whitney};
use crate::release::{ReleaseId, TargetId};
use crate::spec::{CompareGate, GateKind, GateSpec, HealthSource, Metric, OnFail, ThresholdGate, Worse};
use crate::time::{Dur, Millis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// Too little data: holds the wave, never passes it.
    Inconclusive,
    Fail,
}

/// One evaluation of one gate (for one label value when the gate breaks down by label).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateEval {
    pub gate: String,
    pub kind: GateKind,
    pub metric: String,
    /// `proxy=fl1` when the gate judges each value of a label separately.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub verdict: Verdict,
    /// The canary's value (threshold: aggregate; compare: median of per-target values).
    pub value: Option<f64>,
    /// Threshold bound, or the baseline's median for a comparison.
    pub reference: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u: Option<f64>,
    /// Health reports used (threshold) or canary targets with data (compare).
    pub samples: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_samples: Option<u64>,
    pub reason: String,
    /// Targets that breach the bound on their own, with their values (at most ten named).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_targets: Vec<String>,
    /// How many targets may breach on their own (threshold gates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failing_targets: Option<u32>,
    /// Consecutive failing evaluations needed to fail, and how many there were so far.
    #[serde(default = "one")]
    pub failure_limit: u32,
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Reports ignored right after a member first runs the candidate.
    #[serde(default)]
    pub initial_delay: Dur,
    /// What a failure of this gate does (`pause` waits for a person instead of rolling back).
    #[serde(default, skip_serializing_if = "is_rollback")]
    pub on_fail: OnFail,
}

fn is_rollback(o: &OnFail) -> bool {
    *o == OnFail::Rollback
}

fn one() -> u32 {
    1
}

impl GateEval {
    /// `gate errors [proxy=fl1]: reason`, for messages.
    pub fn summary(&self) -> String {
        format!(
            "gate {}{}: {}",
            self.gate,
            self.scope.as_ref().map(|s| format!(" [{s}]")).unwrap_or_default(),
            self.reason
        )
    }
}

/// The window a gate looks at, and what "the candidate" is.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub now: Millis,
    /// When the current wave started (its new members were told to apply).
    pub wave_start: Millis,
    pub candidate: &'a ReleaseId,
    /// Canary = `stage.targets[..canary_end]`.
    pub canary_end: usize,
    /// When each batch of the stage's members was told to apply, so a member's reports count
    /// from that moment.
    pub told: &'a [Told],
    /// Members left out of judgement (they missed the apply deadline within
    /// `max_unconfirmed`).
    pub excluded: &'a BTreeSet<TargetId>,
}

impl Window<'_> {
    /// When the member at `index` of the stage was told to apply.
    pub fn told(&self, index: usize) -> Millis {
        self.told.iter().find(|t| t.end > index).map_or(self.wave_start, |t| t.at)
    }

    fn judged(&self, stage: &StagePlan, index: usize) -> bool {
        stage.targets.get(index).is_some_and(|t| !self.excluded.contains(t))
    }
}

/// The sum of the candidate's samples of the member at `index` that a gate with `window` and
/// `initial_delay` counts: from when it was told to apply (or `window` ago, if later),
/// skipping those within `initial_delay` of its first report on the candidate. Remembered in
/// `sums` while it stays exact.
#[allow(clippy::too_many_arguments)]
fn canary_sum(
    obs: &dyn Observations,
    source: Option<&HealthSource>,
    stage: &StagePlan,
    w: &Window<'_>,
    index: usize,
    (window, initial_delay): (Dur, Dur),
    metric: &Metric,
    sums: &mut GateSums,
) -> Agg {
    let told = w.told(index);
    sums.get(Span::Canary, index, told, w.now, || {
        let from = w.now.saturating_sub(window).max(told);
        let start = if initial_delay == Dur::ZERO { from } else { told };
        let mut first: Option<Millis> = None;
        let mut agg = Agg::default();
        let mut until = Millis(u64::MAX);
        read(obs, source, &stage.targets[index], start, Millis(u64::MAX), &mut |s| {
            if s.at > w.now {
                // Comes into view later.
                until = until.min(s.at);
                return;
            }
            if s.release.as_ref() != Some(w.candidate) {
                return;
            }
            if initial_delay != Dur::ZERO {
                let first = *first.get_or_insert(s.at);
                if s.at <= from || s.at < first + initial_delay {
                    return;
                }
            }
            // Leaves the window once `now - window` reaches it.
            until = until.min(s.at + window);
            agg.add(s, metric);
        });
        (agg, until)
    })
}

/// The sum of the member at `index`'s samples of other releases than the candidate in
/// `(from, to]`: the window ending now (`Span::Baseline`, anchored nowhere) or the one before
/// the wave started (`Span::Before`, anchored on the wave's start). Remembered in `sums`.
#[allow(clippy::too_many_arguments)]
fn other_sum(
    obs: &dyn Observations,
    source: Option<&HealthSource>,
    stage: &StagePlan,
    w: &Window<'_>,
    index: usize,
    (span, from, to): (Span, Millis, Millis),
    metric: &Metric,
    sums: &mut GateSums,
) -> Agg {
    let (anchor, moving) = match span {
        Span::Before => (to, false),
        _ => (Millis(0), true),
    };
    let window = to.since(from);
    sums.get(span, index, anchor, w.now, || {
        let mut agg = Agg::default();
        let mut until = Millis(u64::MAX);
        let end = if moving { Millis(u64::MAX) } else { to };
        read(obs, source, &stage.targets[index], from, end, &mut |s| {
            if s.at > to {
                until = until.min(s.at);
                return;
            }
            if s.release.as_ref() == Some(w.candidate) {
                return;
            }
            if moving {
                until = until.min(s.at + window);
            }
            agg.add(s, metric);
        });
        (agg, until)
    })
}

/// Running sums of samples, enough for every built-in metric.
#[derive(Debug, Default, Clone)]
pub(super) struct Agg {
    samples: u64,
    requests: u64,
    errors: u64,
    crashes: u64,
    weighted: f64,
    weight: f64,
}

impl Agg {
    fn add(&mut self, s: &Sample, metric: &Metric) {
        self.samples += 1;
        self.requests += s.requests;
        self.errors += s.errors;
        self.crashes += s.crashes;
        let v = match metric {
            Metric::LatencyP50Ms => s.latency_p50_ms,
            Metric::LatencyP99Ms => s.latency_p99_ms,
            Metric::Custom(name) => s.metrics.get(name).copied(),
            Metric::ErrorRate | Metric::CrashRate => None,
        };
        if let Some(v) = v.filter(|v| v.is_finite()) {
            let w = if s.requests > 0 { s.requests as f64 } else { 1.0 };
            self.weighted += v * w;
            self.weight += w;
        }
    }

    /// Add another member's sums (a wave's sum is its members' sums, in member order).
    fn merge(&mut self, o: &Agg) {
        self.samples += o.samples;
        self.requests += o.requests;
        self.errors += o.errors;
        self.crashes += o.crashes;
        self.weighted += o.weighted;
        self.weight += o.weight;
    }

    /// The metric's value, or why there is none.
    fn value(&self, metric: &Metric) -> Result<f64, String> {
        match metric {
            Metric::ErrorRate => {
                if self.requests == 0 {
                    Err("no requests in the window".into())
                } else {
                    Ok(self.errors as f64 / self.requests as f64)
                }
            }
            Metric::CrashRate => {
                if self.samples == 0 {
                    Err("no reports in the window".into())
                } else {
                    Ok(self.crashes as f64 / self.samples as f64)
                }
            }
            _ => {
                if self.weight > 0.0 {
                    Ok(self.weighted / self.weight)
                } else {
                    Err(format!("no {metric} values in the window"))
                }
            }
        }
    }
}

/// Evaluate one gate for a wave: one record per label value when the gate breaks down by a
/// label, else one. `sums` remembers members' sums between steps (see `member_memo`).
pub(super) fn evaluate(
    gate: &GateSpec,
    stage: &StagePlan,
    w: Window<'_>,
    obs: &dyn Observations,
    sums: &mut GateSums,
) -> Vec<GateEval> {
    let groups = scopes(stage, gate.per_label(), &w);
    groups
        .into_iter()
        .map(|(scope, members)| match gate {
            GateSpec::Threshold(t) => threshold(t, stage, &w, obs, scope, &members, sums),
            GateSpec::Compare(c) => compare(c, stage, &w, obs, scope, &members, sums),
        })
        .collect()
}

/// The overall verdict of several evaluations: any fail fails, else any inconclusive holds.
pub fn combine(evals: &[GateEval]) -> Verdict {
    evals.iter().map(|e| e.verdict).max().unwrap_or(Verdict::Pass)
}

/// Judged canary indices grouped by label value (one group, no scope, without a breakdown).
fn scopes(stage: &StagePlan, label: Option<&str>, w: &Window<'_>) -> Vec<(Option<String>, Vec<usize>)> {
    let members = (0..w.canary_end).filter(|&i| w.judged(stage, i));
    match label {
        None => vec![(None, members.collect())],
        Some(l) => {
            let mut m: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for i in members {
                m.entry(stage.label_of(l, i).unwrap_or("").to_string()).or_default().push(i);
            }
            m.into_iter().map(|(v, idx)| (Some(format!("{l}={v}")), idx)).collect()
        }
    }
}

fn threshold(
    g: &ThresholdGate,
    stage: &StagePlan,
    w: &Window<'_>,
    obs: &dyn Observations,
    scope: Option<String>,
    members: &[usize],
    sums: &mut GateSums,
) -> GateEval {
    let mut agg = Agg::default();
    // A member breaches on its own with this many reports of its own (two report intervals).
    let own_min = u64::from(g.min_samples.min(2));
    let mut breaching: Vec<(f64, &TargetId)> = Vec::new();
    for &i in members {
        let own = canary_sum(obs, g.source.as_ref(), stage, w, i, (g.window, g.initial_delay), &g.metric, sums);
        agg.merge(&own);
        if own.samples >= own_min
            && let Ok(v) = own.value(&g.metric)
            && (g.max.is_some_and(|m| v > m) || g.min.is_some_and(|m| v < m))
        {
            breaching.push((v, &stage.targets[i]));
        }
    }
    let bound = g.max.or(g.min);
    let mut eval = GateEval {
        gate: g.name.clone(),
        kind: GateKind::Threshold,
        metric: g.metric.to_string(),
        scope,
        verdict: Verdict::Inconclusive,
        value: None,
        reference: bound,
        p_value: None,
        u: None,
        samples: agg.samples,
        baseline_samples: None,
        reason: String::new(),
        failing_targets: breaching.iter().take(10).map(|(v, t)| format!("{t} {} = {}", g.metric, fmt(*v))).collect(),
        max_failing_targets: Some(g.max_failing_targets),
        failure_limit: g.failure_limit,
        consecutive_failures: 0,
        initial_delay: g.initial_delay,
        on_fail: g.on_fail,
    };
    aggregate(g, obs, &agg, &mut eval);
    // The aggregate's own failure says most; otherwise members breaching alone fail the gate
    // even when the aggregate passes or lacks data (one bad host is never averaged away).
    if eval.verdict == Verdict::Fail && !eval.failing_targets.is_empty() {
        eval.reason = format!("{}; breaching on their own: {}", eval.reason, eval.failing_targets.join(", "));
    } else if eval.verdict != Verdict::Fail && breaching.len() > g.max_failing_targets as usize {
        eval.verdict = Verdict::Fail;
        eval.reason = format!(
            "{} target(s) breach {} {} on their own (max_failing_targets {}): {}",
            breaching.len(),
            if g.max.is_some() { "max" } else { "min" },
            bound.map(fmt).unwrap_or_default(),
            g.max_failing_targets,
            eval.failing_targets.join(", ")
        );
    }
    eval
}

/// The threshold's verdict on the wave's aggregate.
fn aggregate(g: &ThresholdGate, obs: &dyn Observations, agg: &Agg, eval: &mut GateEval) {
    if agg.samples < u64::from(g.min_samples) {
        let what = match &g.source {
            None => "reports",
            Some(src) => &format!("{} values", src.kind()),
        };
        eval.reason = format!(
            "{}{} of {} {what} needed in the last {}",
            source_problem(obs, g.source.as_ref()),
            agg.samples,
            g.min_samples,
            g.window
        );
        return;
    }
    match agg.value(&g.metric) {
        Err(why) => eval.reason = format!("{}{why}", source_problem(obs, g.source.as_ref())),
        Ok(v) => {
            eval.value = Some(v);
            if let Some(max) = g.max.filter(|m| v > *m) {
                eval.verdict = Verdict::Fail;
                eval.reference = Some(max);
                eval.reason = format!("{} = {} > max {}", g.metric, fmt(v), fmt(max));
            } else if let Some(min) = g.min.filter(|m| v < *m) {
                eval.verdict = Verdict::Fail;
                eval.reference = Some(min);
                eval.reason = format!("{} = {} < min {}", g.metric, fmt(v), fmt(min));
            } else {
                eval.verdict = Verdict::Pass;
                eval.reason = format!("{} = {} within bounds over {} reports", g.metric, fmt(v), agg.samples);
            }
        }
    }
}

fn compare(
    g: &CompareGate,
    stage: &StagePlan,
    w: &Window<'_>,
    obs: &dyn Observations,
    scope: Option<String>,
    members: &[usize],
    sums: &mut GateSums,
) -> GateEval {
    let from = w.now.saturating_sub(g.window);
    let value = |agg: Agg| if agg.samples == 0 { None } else { agg.value(&g.metric).ok() };
    let canary: Vec<f64> = members
        .iter()
        .filter_map(|&i| {
            value(canary_sum(obs, g.source.as_ref(), stage, w, i, (g.window, g.initial_delay), &g.metric, sums))
        })
        .collect();
    let mut per_target = |i: usize, span: (Span, Millis, Millis)| {
        value(other_sum(obs, g.source.as_ref(), stage, w, i, span, &g.metric, sums))
    };
    // Baseline: the stage's targets not yet on the candidate, in the same window and scope;
    // when the wave took them all, the same scope's targets before the wave started.
    let in_scope = |i: usize| match (&g.per_label, &scope) {
        (Some(l), Some(sc)) => sc.strip_prefix(&format!("{l}=")).is_some_and(|v| stage.label_of(l, i) == Some(v)),
        _ => true,
    };
    let mut baseline: Vec<f64> = (w.canary_end..stage.targets.len())
        .filter(|&i| in_scope(i))
        .filter_map(|i| per_target(i, (Span::Baseline, from, w.now)))
        .collect();
    let mut basis = "targets still on the previous release";
    if baseline.len() < g.min_samples as usize {
        let before = w.wave_start.saturating_sub(g.window);
        baseline = (0..stage.targets.len())
            .filter(|&i| in_scope(i) && w.judged(stage, i))
            .filter_map(|i| per_target(i, (Span::Before, before, w.wave_start)))
            .collect();
        basis = "the stage before this wave";
    }
    let mut eval = GateEval {
        gate: g.name.clone(),
        kind: GateKind::Compare,
        metric: g.metric.to_string(),
        scope,
        verdict: Verdict::Inconclusive,
        value: median(&canary),
        reference: median(&baseline),
        p_value: None,
        u: None,
        samples: canary.len() as u64,
        baseline_samples: Some(baseline.len() as u64),
        reason: String::new(),
        failing_targets: Vec::new(),
        max_failing_targets: None,
        failure_limit: g.failure_limit,
        consecutive_failures: 0,
        initial_delay: g.initial_delay,
        on_fail: g.on_fail,
    };
    if canary.len() < g.min_samples as usize || baseline.len() < g.min_samples as usize {
        eval.reason = format!(
            "{}{} canary and {} baseline targets with data; {} each needed",
            source_problem(obs, g.source.as_ref()),
            canary.len(),
            baseline.len(),
            g.min_samples
        );
        return eval;
    }
    let alt = match g.worse {
        Worse::Higher => Alternative::Greater,
        Worse::Lower => Alternative::Less,
    };
    let Some(mw) = mann_whitney(&canary, &baseline, alt) else {
        eval.reason = "values not comparable (non-finite)".into();
        return eval;
    };
    eval.p_value = Some(mw.p_value);
    eval.u = Some(mw.u);
    let (c, b) = (eval.value.unwrap_or(0.0), eval.reference.unwrap_or(0.0));
    let diff = match g.worse {
        Worse::Higher => c - b,
        Worse::Lower => b - c,
    };
    let effect = if b.abs() > f64::EPSILON {
        diff / b.abs()
    } else if diff > 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    let significant = mw.p_value < 1.0 - g.confidence;
    if significant && effect >= g.min_effect {
        eval.verdict = Verdict::Fail;
        eval.reason = format!(
            "canary {} median {} vs baseline {} ({basis}): worse by {:.1}%, p = {:.4} < {:.4}",
            g.metric,
            fmt(c),
            fmt(b),
            effect * 100.0,
            mw.p_value,
            1.0 - g.confidence
        );
    } else {
        eval.verdict = Verdict::Pass;
        eval.reason = format!(
            "canary {} median {} vs baseline {} ({basis}): p = {:.4}, effect {:.1}%",
            g.metric,
            fmt(c),
            fmt(b),
            mw.p_value,
            effect * 100.0
        );
    }
    eval
}

/// A target's samples for a gate: those agents reported, or those fetched from its source.
fn read(
    obs: &dyn Observations,
    source: Option<&HealthSource>,
    target: &TargetId,
    from: Millis,
    to: Millis,
    f: &mut dyn FnMut(&Sample),
) {
    match source {
        None => obs.samples(target, from, to, f),
        Some(src) => obs.source_samples(src, target, from, to, f),
    }
}

/// `"prometheus http://…: connection refused; "` when the source's latest read failed.
fn source_problem(obs: &dyn Observations, source: Option<&HealthSource>) -> String {
    source.and_then(|src| obs.source_error(src).map(|e| format!("{}: {e}; ", src.describe()))).unwrap_or_default()
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 })
}

fn fmt(v: f64) -> String {
    if v == 0.0 || (v.abs() >= 0.01 && v.abs() < 1e6) {
        format!("{v:.4}").trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3e}")
    }
}

#[cfg(test)]
mod tests;
