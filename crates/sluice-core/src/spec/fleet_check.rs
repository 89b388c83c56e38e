//! What a spec means for the fleet it runs on, checked at `sluice apply` and at rollout start
//! against the enrolled targets and the server's report interval. A spec that cannot work there
//! is refused, each problem located like [`check_spec`](super::check::check_spec)'s:
//!
//! - a stage whose selector takes no target (a target belongs to the first stage that selects
//!   it, as the planner assigns them), unless the stage says `allow_empty: true`;
//! - a `spread_by` or gate `per_label` label that no target of the stage has;
//! - a gate metric nothing produces: a gate with a `source` reads its metric from there; any
//!   other gate reads what agents report, and each agent tells the server which gate metrics it
//!   produces per service (`ServiceReport.metrics`: `crash_rate` always, `error_rate` and the
//!   latencies from a scraped `metrics` endpoint that counts requests / has a latency histogram
//!   or from `probes`, custom names from its `command` and probes); the server adds what it saw
//!   in recent samples. Refused when every target of the stage has told and none produces it;
//!   a warning when some do not, or when the only targets that told do not;
//! - a `window`/`min_samples` the report interval and the stage's size cannot meet: a threshold
//!   gate sees at most ⌈window / interval⌉ reports per target in its window (interval: the
//!   source's `every` for a sourced gate), so the first wave must hold enough targets (and with
//!   `per_label`, so must each label value); a comparison needs `min_samples` canary targets
//!   in the first wave, and its baseline falls back to the whole stage before the wave, so that
//!   side only fails with the canary's;
//! - a `silent_after` not longer than the report interval (every member would be silent
//!   between two reports).
//!
//! Warnings (the spec is stored): a first wave smaller than the number of label combinations the
//! stage's waves spread over; a threshold gate whose reports only sometimes fill `min_samples`.
//!
//! [`dropped_services`] finds services the spec no longer has that targets still run: the
//! server refuses those unless forced. Without a fleet (offline `sluice check`) none of this
//! runs.

use std::collections::{BTreeMap, BTreeSet};

use super::Spec;
use super::check::Problem;
use super::gate::{GateSpec, Metric};
use super::locate::{Seg, locate, render};
use super::pipeline::{PipelineSpec, StageSpec};
use super::source::HealthSource;
use crate::engine::plan::{Plan, Seeds, TargetInfo};
use crate::release::TargetId;
use crate::time::Dur;

/// What one target reports for one service, as far as the server knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reported {
    /// Gate metric names the target produces for the service: those its agent says it reports
    /// and those seen in its recent samples.
    pub metrics: BTreeSet<String>,
    /// The agent said what it reports, so a name missing from `metrics` is not reported. False
    /// when only samples are known (an agent that does not say): a missing name proves nothing.
    pub complete: bool,
}

/// A target as the fleet checks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetTarget {
    /// Its id and labels (facts included), as the planner sees them.
    pub info: TargetInfo,
    /// What it reports, per service it has reported on.
    pub reported: BTreeMap<String, Reported>,
    /// The services it runs a release of.
    pub running: BTreeSet<String>,
}

impl FleetTarget {
    pub fn new(info: TargetInfo) -> FleetTarget {
        FleetTarget { info, reported: BTreeMap::new(), running: BTreeSet::new() }
    }
}

/// The fleet a spec is checked against.
#[derive(Debug, Clone, Copy)]
pub struct LiveFleet<'a> {
    /// Every enrolled target.
    pub targets: &'a [FleetTarget],
    /// How often the server asks agents to report.
    pub report_interval: Dur,
}

/// What the fleet checks found: problems refuse the spec, warnings do not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

/// A service the spec no longer has that targets still run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub service: String,
    /// The targets running a release of it, by id.
    pub targets: Vec<TargetId>,
}

impl Dropped {
    /// The problem it is without `force`, located at `services`.
    pub fn problem(&self, text: Option<&str>) -> Problem {
        let path = [key("services")];
        Problem {
            path: render(&path),
            line: near(text, &path),
            message: format!(
                "service {:?} is not in the spec, but {} target(s) still run a release of it ({}): keep it, or apply with `--force` to drop it anyway",
                self.service,
                self.targets.len(),
                ids(&self.targets)
            ),
        }
    }
}

/// Every pipeline of `spec` against the fleet; gate metrics are checked for the services that
/// use each pipeline (a pipeline no service names is checked for them at rollout start). With
/// no target enrolled yet nothing can be checked: one warning says so.
pub fn check_against_fleet(spec: &Spec, text: Option<&str>, fleet: LiveFleet<'_>) -> Findings {
    let mut f = Finder { text, findings: Findings::default() };
    if fleet.targets.is_empty() {
        f.warn(
            &[key("pipelines")],
            "no target is enrolled yet: stage selectors, labels, gate metrics and sample counts are checked at rollout start",
        );
        return f.findings;
    }
    for (name, pipeline) in &spec.pipelines {
        let services: Vec<&str> =
            spec.services.iter().filter(|(_, s)| s.pipeline == *name).map(|(n, _)| n.as_str()).collect();
        check_pipeline(&mut f, name, pipeline, &services, fleet);
    }
    f.findings
}

/// One pipeline of `spec` for a rollout of `service` (at rollout start). A pipeline the spec
/// does not have finds nothing (the caller resolved it).
pub fn check_rollout_against_fleet(
    spec: &Spec,
    text: Option<&str>,
    pipeline: &str,
    service: &str,
    fleet: LiveFleet<'_>,
) -> Findings {
    let mut f = Finder { text, findings: Findings::default() };
    if let Some(p) = spec.pipelines.get(pipeline) {
        check_pipeline(&mut f, pipeline, p, &[service], fleet);
    }
    f.findings
}

/// Services some target runs a release of that `spec` does not have, by name.
pub fn dropped_services(spec: &Spec, targets: &[FleetTarget]) -> Vec<Dropped> {
    let mut by_service: BTreeMap<&str, Vec<TargetId>> = BTreeMap::new();
    for t in targets {
        for s in t.running.iter().filter(|s| !spec.services.contains_key(*s)) {
            by_service.entry(s).or_default().push(t.info.id.clone());
        }
    }
    by_service
        .into_iter()
        .map(|(service, mut targets)| {
            targets.sort();
            Dropped { service: service.to_string(), targets }
        })
        .collect()
}

struct Finder<'a> {
    text: Option<&'a str>,
    findings: Findings,
}

impl Finder<'_> {
    fn problem(&mut self, path: &[Seg], message: impl Into<String>) {
        let p = Problem { path: render(path), line: near(self.text, path), message: message.into() };
        self.findings.problems.push(p);
    }

    fn warn(&mut self, path: &[Seg], message: impl Into<String>) {
        let p = Problem { path: render(path), line: near(self.text, path), message: message.into() };
        self.findings.warnings.push(p);
    }
}

/// The line of `path`, or of its nearest enclosing field `locate` finds (flow style such as
/// `{ name: x, per_label: proxy }` is beyond it).
fn near(text: Option<&str>, path: &[Seg]) -> Option<(u64, u64)> {
    let text = text?;
    (1..=path.len()).rev().find_map(|n| locate(text, &path[..n]))
}

fn key(s: &str) -> Seg {
    Seg::Key(s.to_string())
}

/// A stage's targets as the planner assigns them, and the size of its first wave.
struct Members<'a> {
    targets: Vec<&'a FleetTarget>,
    first_wave: usize,
}

fn check_pipeline(f: &mut Finder<'_>, name: &str, pipeline: &PipelineSpec, services: &[&str], fleet: LiveFleet<'_>) {
    let infos: Vec<TargetInfo> = fleet.targets.iter().map(|t| t.info.clone()).collect();
    // The planner's own assignment (first selecting stage wins) and wave cuts; the seed only
    // orders targets, which no check here depends on. Empty stages are this check's to report
    // (with their location), so the planner is asked to allow them; it refuses only when no
    // stage has a target.
    let mut lenient = pipeline.clone();
    for s in &mut lenient.stages {
        s.allow_empty = true;
    }
    let plan = Plan::new(&lenient, &infos, Seeds { stable: 0, rotate: 0 }, false).ok();
    let by_id: BTreeMap<&TargetId, &FleetTarget> = fleet.targets.iter().map(|t| (&t.info.id, t)).collect();
    for (si, stage) in pipeline.stages.iter().enumerate() {
        let planned = plan.as_ref().and_then(|p| p.stages.get(si));
        let members = Members {
            targets: planned
                .map(|p| p.targets.iter().filter_map(|id| by_id.get(id).copied()).collect())
                .unwrap_or_default(),
            first_wave: planned.and_then(|p| p.wave_ends.first().copied()).unwrap_or(0),
        };
        let base = vec![key("pipelines"), key(name), key("stages"), Seg::Index(si)];
        check_stage(f, &base, stage, &pipeline.stages[..si], &members, services, fleet);
    }
}

fn check_stage(
    f: &mut Finder<'_>,
    base: &[Seg],
    stage: &StageSpec,
    earlier: &[StageSpec],
    members: &Members<'_>,
    services: &[&str],
    fleet: LiveFleet<'_>,
) {
    let at = |extra: &[Seg]| -> Vec<Seg> {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let interval = fleet.report_interval;
    if let Some(d) = stage.silent_after
        && d <= interval
    {
        f.problem(
            &at(&[key("silent_after")]),
            format!(
                "silent_after {d} is not longer than the server's report interval ({interval}): every member would count as silent between two reports; make it at least {}",
                Dur(interval.0.saturating_mul(2))
            ),
        );
    }
    let n = members.targets.len();
    if n == 0 {
        if !stage.allow_empty {
            let matching = fleet.targets.iter().filter(|t| stage.selector.matches(&t.info.labels)).count();
            let taken = if matching > 0 {
                let names: Vec<&str> = earlier.iter().map(|s| s.name.as_str()).collect();
                format!(" ({matching} that match belong to an earlier stage: {})", names.join(", "))
            } else {
                String::new()
            };
            f.problem(
                &at(&[key("selector")]),
                format!(
                    "stage {:?} selects no target: none of the {} enrolled targets matches {}{taken}; fix the selector, enroll its targets first, or set `allow_empty: true` to skip the stage",
                    stage.name,
                    fleet.targets.len(),
                    stage.selector.describe()
                ),
            );
        }
        return;
    }
    let present: BTreeSet<&str> =
        members.targets.iter().flat_map(|t| t.info.labels.keys().map(String::as_str)).collect();
    let missing = |label: &str| -> Option<String> {
        (!present.contains(label)).then(|| {
            format!(
                "label {label:?} is on no target of stage {:?} (its {n} targets have: {})",
                stage.name,
                list(present.iter().copied())
            )
        })
    };
    for (j, label) in stage.spread_by.iter().enumerate() {
        if let Some(why) = missing(label) {
            f.problem(&at(&[key("spread_by"), Seg::Index(j)]), format!("spread_by: {why}"));
        }
    }
    spread_warning(f, &at(&[key("waves"), Seg::Index(0)]), stage, members);
    for (k, gate) in stage.gates.iter().enumerate() {
        let kind = match gate {
            GateSpec::Threshold(_) => "threshold",
            GateSpec::Compare(_) => "compare",
        };
        let gp = |field: &str| at(&[key("gates"), Seg::Index(k), key(kind), key(field)]);
        if let Some(label) = gate.per_label()
            && let Some(why) = missing(label)
        {
            f.problem(&gp("per_label"), format!("gate {:?}: per_label: {why}", gate.name()));
        }
        if gate.source().is_none() {
            for service in services {
                check_metric(f, &gp("metric"), stage, gate, service, members);
            }
        }
        check_samples(f, &gp("min_samples"), stage, gate, members, interval);
    }
}

/// Warn when the first wave cannot hold one target of each label combination it spreads over.
fn spread_warning(f: &mut Finder<'_>, path: &[Seg], stage: &StageSpec, members: &Members<'_>) {
    // The planner spreads over `spread_by`, else over the coverage labels.
    let (field, spread) = if !stage.spread_by.is_empty() {
        ("spread_by", stage.spread_by.clone())
    } else {
        ("require_coverage.labels", stage.require_coverage.as_ref().map(|c| c.labels.clone()).unwrap_or_default())
    };
    if spread.is_empty() {
        return;
    }
    let combos: BTreeSet<Vec<&str>> = members
        .targets
        .iter()
        .map(|t| spread.iter().map(|l| t.info.labels.get(l).map_or("", String::as_str)).collect())
        .collect();
    if members.first_wave < combos.len() {
        f.warn(
            path,
            format!(
                "the first wave of stage {:?} takes {} target(s), fewer than the {} combinations of {} ({field}) among its {} targets: it covers only {} of them",
                stage.name,
                members.first_wave,
                combos.len(),
                spread.join(", "),
                members.targets.len(),
                members.first_wave
            ),
        );
    }
}

/// Refuse a gate metric no target of the stage produces for `service`.
fn check_metric(
    f: &mut Finder<'_>,
    path: &[Seg],
    stage: &StageSpec,
    gate: &GateSpec,
    service: &str,
    members: &Members<'_>,
) {
    let metric = gate.metric().as_str();
    let mut producing = 0usize;
    let mut lacking: Vec<TargetId> = Vec::new();
    let mut unknown = 0usize;
    let mut theirs: BTreeSet<&str> = BTreeSet::new();
    for t in &members.targets {
        match t.reported.get(service) {
            Some(r) if r.metrics.contains(metric) => producing += 1,
            Some(r) if r.complete => {
                lacking.push(t.info.id.clone());
                theirs.extend(r.metrics.iter().map(String::as_str));
            }
            _ => unknown += 1,
        }
    }
    let n = members.targets.len();
    let head = format!("gate {:?}: metric `{metric}`", gate.name());
    let fix = hint(gate.metric());
    if producing == 0 && unknown == 0 {
        f.problem(
            path,
            format!(
                "{head} is reported for service {service:?} by none of the {n} targets of stage {:?} (they report: {}); {fix}",
                stage.name,
                list(theirs.iter().copied())
            ),
        );
    } else if !lacking.is_empty() {
        let who = if producing == 0 {
            format!("none of the {} targets of stage {:?} that said what they report", lacking.len(), stage.name)
        } else {
            format!("{} of the {n} targets of stage {:?} do not: {}", lacking.len(), stage.name, ids(&lacking))
        };
        let rest = if unknown > 0 { format!(" ({unknown} have not said yet)") } else { String::new() };
        f.warn(path, format!("{head} for service {service:?}: {who}{rest}; {fix}"));
    }
}

/// Where agents get a gate metric from, for messages.
fn hint(metric: &Metric) -> String {
    match metric {
        Metric::ErrorRate => "agents measure it from a `metrics` endpoint with `requests` (and `errors`) or from `probes`; or give the gate a `source`".into(),
        Metric::LatencyP50Ms | Metric::LatencyP99Ms => {
            "agents measure it from a `metrics` endpoint with `latency` or from `probes`; or give the gate a `source`".into()
        }
        Metric::CrashRate => "every agent reports it; are their agents current?".into(),
        Metric::Custom(name) => {
            format!("configure it on the agents (a `command` with `metric: {name}`), or give the gate a `source`")
        }
    }
}

/// Refuse a `window`/`min_samples` the report interval and the stage's size can never meet.
fn check_samples(
    f: &mut Finder<'_>,
    path: &[Seg],
    stage: &StageSpec,
    gate: &GateSpec,
    members: &Members<'_>,
    interval: Dur,
) {
    let need = u64::from(gate.min_samples());
    let first = members.first_wave as u64;
    let n = members.targets.len();
    // Targets per value of the gate's label (a target without it is judged under "").
    let mut per_value: BTreeMap<&str, u64> = BTreeMap::new();
    if let Some(label) = gate.per_label() {
        for t in &members.targets {
            *per_value.entry(t.info.labels.get(label).map_or("", String::as_str)).or_default() += 1;
        }
    }
    let label = gate.per_label().unwrap_or("");
    match gate {
        GateSpec::Threshold(_) => {
            let (cadence, what) = match gate.source() {
                Some(HealthSource::Prometheus(p)) => match p.every {
                    Some(every) => (every, format!("its source answers every {every}")),
                    None => (interval, format!("its source is read every report interval ({interval})")),
                },
                None => (interval, format!("agents report every {interval}")),
            };
            let window = gate.window();
            if cadence.0 == 0 || window.0 == 0 {
                return;
            }
            // Reports land every `cadence`; a window ending on one holds ⌈window / cadence⌉.
            let most = window.0.div_ceil(cadence.0);
            let least = window.0 / cadence.0;
            let head = format!("threshold gate {:?} needs {need} reports in its {window} window", gate.name());
            if most.saturating_mul(first) < need {
                f.problem(
                    path,
                    format!(
                        "{head}, but {what}: the first wave of stage {:?} ({first} of {n} targets) can send at most {} ({most} per target); lower min_samples to {}, lengthen the window, or make the first wave at least {} targets",
                        stage.name,
                        most.saturating_mul(first),
                        most.saturating_mul(first),
                        need.div_ceil(most)
                    ),
                );
                return;
            }
            // A label value with fewer targets than the first wave has a tighter bound.
            let short: Vec<String> = per_value
                .iter()
                .filter(|(_, c)| **c < first && most.saturating_mul(**c) < need)
                .map(|(v, c)| format!("{label}={v} ({c} target(s): at most {})", most.saturating_mul(*c)))
                .collect();
            if !short.is_empty() {
                f.problem(
                    path,
                    format!(
                        "{head} for each value of {label}, but {what} and in stage {:?} {} never get there; lower min_samples, lengthen the window, or judge per a label with more targets per value",
                        stage.name,
                        short.join(", ")
                    ),
                );
                return;
            }
            if least.saturating_mul(first) < need {
                f.warn(
                    path,
                    format!(
                        "{head}, but {what}: the first wave of stage {:?} ({first} targets) sends {} to {} in any {window}, so the gate passes only when reports line up with the window; leave a margin",
                        stage.name,
                        least.saturating_mul(first),
                        most.saturating_mul(first)
                    ),
                );
            }
        }
        GateSpec::Compare(_) => {
            let head = format!("compare gate {:?} needs {need} canary targets with data", gate.name());
            if first < need {
                f.problem(
                    path,
                    format!(
                        "{head}, but the first wave of stage {:?} has {first} (of {n} targets); make the first wave at least {need} targets or lower min_samples",
                        stage.name
                    ),
                );
                return;
            }
            let short: Vec<String> =
                per_value.iter().filter(|(_, c)| **c < need).map(|(v, c)| format!("{label}={v} ({c})")).collect();
            if !short.is_empty() {
                f.problem(
                    path,
                    format!(
                        "{head} for each value of {label}, but stage {:?} has fewer targets than that for {}; lower min_samples or judge per a label with more targets per value",
                        stage.name,
                        short.join(", ")
                    ),
                );
            }
        }
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() { "nothing".into() } else { v.join(", ") }
}

/// Up to five ids, then how many more.
fn ids(targets: &[TargetId]) -> String {
    const SHOWN: usize = 5;
    let mut s = targets.iter().take(SHOWN).map(|t| t.0.as_str()).collect::<Vec<_>>().join(", ");
    if targets.len() > SHOWN {
        s.push_str(&format!(" and {} more", targets.len() - SHOWN));
    }
    s
}

#[cfg(test)]
mod tests;
