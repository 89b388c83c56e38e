//! What a scenario means, checked after it parsed: every reference resolves (pipelines, stages,
//! groups, faults), numbers are in range, and the fleet and run stay within budgets, so a bad
//! file is an error with its field path and line, never a panic or an endless run.

use std::collections::BTreeSet;

use sluice_core::spec::check::{Problem, check_spec};
use sluice_core::spec::locate::{Seg, locate, render};
use sluice_core::spec::{Metric, Spec};
use sluice_core::time::Dur;
use sluice_core::validate::check_validator_spec;

use super::{DelaySpec, GeneratedSpec, RuleSpec, Scenario, Silence, StrategySpec};

/// The most targets a fleet may have.
pub const MAX_TARGETS: u64 = 1_000_000;
/// The longest simulated span.
pub const MAX_DURATION: Dur = Dur(30 * 86_400_000);
/// The most releases (listed plus generated) a scenario may create.
pub const MAX_RELEASES: u64 = 100_000;
/// The most report ticks (duration / report_interval).
pub const MAX_TICKS: u64 = 10_000_000;

struct Collector<'a> {
    text: Option<&'a str>,
    problems: Vec<Problem>,
}

impl Collector<'_> {
    fn add(&mut self, path: &[Seg], message: impl Into<String>) {
        let line = self.text.and_then(|t| locate_nearest(t, path));
        self.problems.push(Problem { path: render(path), line, message: message.into() });
    }
}

/// The line of `path`, or of its nearest ancestor that can be found (a key inside a flow-style
/// `{ ... }` or `[ ... ]` is reported at its parent's line).
fn locate_nearest(text: &str, path: &[Seg]) -> Option<(u64, u64)> {
    (1..=path.len()).rev().find_map(|n| locate(text, &path[..n]))
}

/// `pipelines.p.stages[0].waves[1]` back into segments (keys containing `.` or `[` aside).
fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_string()));
        }
        while let Some((idx, after)) = rest.split_once(']') {
            if let Ok(i) = idx.parse() {
                segs.push(Seg::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    segs
}

fn k(s: &str) -> Seg {
    Seg::Key(s.to_string())
}

fn at(base: &[Seg], extra: &[Seg]) -> Vec<Seg> {
    let mut v = base.to_vec();
    v.extend_from_slice(extra);
    v
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn list(items: &[&str]) -> String {
    if items.is_empty() { "none".into() } else { items.join(", ") }
}

/// Every problem with the scenario's meaning; empty when it is sound.
pub fn check(s: &Scenario, text: Option<&str>) -> Vec<Problem> {
    let mut c = Collector { text, problems: Vec::new() };
    check_top(&mut c, s);
    check_fleet(&mut c, s);
    check_faults(&mut c, s);
    check_releases(&mut c, s);
    if let Some(g) = &s.generated {
        check_generated(&mut c, s, g);
    }
    // Pipelines: sluice-core's own checks, with the same field paths as in this file.
    let spec = Spec { version: 1, services: Default::default(), pipelines: s.pipelines.clone() };
    for mut p in check_spec(&spec, text) {
        if p.line.is_none() {
            p.line = text.and_then(|t| locate_nearest(t, &parse_path(&p.path)));
        }
        c.problems.push(p);
    }
    if s.strategies.is_empty() {
        c.add(&[k("strategies")], "list at least one strategy");
    }
    let mut names = BTreeSet::new();
    for (i, st) in s.strategies.iter().enumerate() {
        let base = [k("strategies"), Seg::Index(i)];
        if !valid_name(&st.name) {
            c.add(&at(&base, &[k("name")]), format!("invalid strategy name {:?}: use [A-Za-z0-9-_.]", st.name));
        }
        if !names.insert(st.name.as_str()) {
            c.add(&at(&base, &[k("name")]), format!("strategy {:?} appears twice", st.name));
        }
        check_strategy(&mut c, s, &base, st);
    }
    c.problems
}

fn check_top(c: &mut Collector<'_>, s: &Scenario) {
    if s.name.trim().is_empty() {
        c.add(&[k("name")], "the scenario needs a name");
    }
    match s.service_pipelines.as_deref() {
        Some([]) => c.add(&[k("service_pipelines")], "list at least the service's own pipeline"),
        Some(listed) => {
            for (i, p) in listed.iter().enumerate() {
                if !s.pipelines.contains_key(p) {
                    let known: Vec<&str> = s.pipelines.keys().map(String::as_str).collect();
                    c.add(
                        &[k("service_pipelines"), Seg::Index(i)],
                        format!("pipeline {p:?} does not exist (defined: {})", list(&known)),
                    );
                }
            }
        }
        None => {}
    }
    if !valid_name(&s.service) {
        c.add(&[k("service")], format!("invalid service name {:?}: use [A-Za-z0-9-_.]", s.service));
    }
    if s.duration.0 == 0 || s.duration > MAX_DURATION {
        c.add(&[k("duration")], format!("duration {} must be more than 0s and at most {MAX_DURATION}", s.duration));
    }
    if s.report_interval < Dur::secs(1) || s.report_interval > s.duration {
        c.add(
            &[k("report_interval")],
            format!("report_interval {} must be at least 1s and at most the duration", s.report_interval),
        );
    } else if s.duration.0 / s.report_interval.0 > MAX_TICKS {
        c.add(
            &[k("report_interval")],
            format!("{} report ticks is more than the {MAX_TICKS} allowed", s.duration.0 / s.report_interval.0),
        );
    }
    if let Some(clock) = &s.clock
        && crate::report::parse_clock(clock).is_none()
    {
        c.add(&[k("clock")], format!("clock {clock:?} must be HH:MM"));
    }
    let h = &s.health;
    if h.requests_per_report == 0 || h.requests_per_report > 1_000_000_000 {
        c.add(&[k("health"), k("requests_per_report")], "requests_per_report must be in 1..=1000000000");
    }
    if !(0.0..=1.0).contains(&h.error_rate) {
        c.add(&[k("health"), k("error_rate")], format!("error_rate {} must be in [0, 1]", h.error_rate));
    }
    for (name, v) in [("latency_p50_ms", h.latency_p50_ms), ("latency_p99_ms", h.latency_p99_ms)] {
        if !(v.is_finite() && v >= 0.0) {
            c.add(&[k("health"), k(name)], format!("{name} {v} must be a finite number ≥ 0"));
        }
    }
    for (name, v) in &h.metrics {
        if let Err(why) = Metric::parse(name) {
            c.add(&[k("health"), k("metrics"), k(name)], why);
        }
        if !v.is_finite() {
            c.add(&[k("health"), k("metrics"), k(name)], format!("{v} is not a finite number"));
        }
    }
    for (name, d) in [("apply_delay", &s.agents.apply_delay), ("rollback_delay", &s.agents.rollback_delay)] {
        if d.min > d.max || d.max > Dur::mins(60) {
            c.add(&[k("agents"), k(name)], format!("need min ≤ max ≤ 1h (got {}..{})", d.min, d.max));
        }
    }
}

/// A slow rollback (per group or per fault) may take up to the longest simulated span.
fn check_slow_delay(c: &mut Collector<'_>, path: &[Seg], d: &DelaySpec) {
    if d.min > d.max || d.max > MAX_DURATION {
        c.add(path, format!("need min ≤ max ≤ {MAX_DURATION} (got {}..{})", d.min, d.max));
    }
}

fn check_fleet(c: &mut Collector<'_>, s: &Scenario) {
    if s.fleet.is_empty() {
        c.add(&[k("fleet")], "the fleet needs at least one group");
    }
    let mut names = BTreeSet::new();
    let (mut total, mut share, mut prod_share) = (0u64, 0.0f64, 0.0f64);
    for (i, g) in s.fleet.iter().enumerate() {
        let base = [k("fleet"), Seg::Index(i)];
        if !valid_name(&g.name) {
            c.add(&at(&base, &[k("name")]), format!("invalid group name {:?}: use [A-Za-z0-9-_.]", g.name));
        }
        if !names.insert(g.name.as_str()) {
            c.add(&at(&base, &[k("name")]), format!("group {:?} appears twice", g.name));
        }
        if g.count == 0 {
            c.add(&at(&base, &[k("count")]), "a group needs at least one target");
        }
        if let Some(d) = &g.rollback_delay {
            check_slow_delay(c, &at(&base, &[k("rollback_delay")]), d);
        }
        total += u64::from(g.count);
        if !(g.traffic_share.is_finite() && (0.0..=1.0).contains(&g.traffic_share)) {
            c.add(&at(&base, &[k("traffic_share")]), format!("traffic_share {} must be in [0, 1]", g.traffic_share));
        } else {
            share += g.traffic_share;
            if s.prod.matches(&g.labels) {
                prod_share += g.traffic_share;
            }
        }
    }
    if total > MAX_TARGETS {
        c.add(&[k("fleet")], format!("{total} targets is more than the {MAX_TARGETS} allowed"));
    }
    if share > 1.0 + 1e-6 {
        c.add(&[k("fleet")], format!("traffic shares add up to {share:.4}, more than 1"));
    }
    if !s.fleet.is_empty() && prod_share <= 0.0 {
        c.add(&[k("prod")], format!("no prod traffic: no group matching {} has a traffic_share", s.prod.describe()));
    }
}

fn check_faults(c: &mut Collector<'_>, s: &Scenario) {
    for (name, f) in &s.faults {
        let base = [k("faults"), k(name)];
        if !valid_name(name) {
            c.add(&base, format!("invalid fault name {name:?}: use [A-Za-z0-9-_.]"));
        }
        if f.rules.is_empty() {
            c.add(&at(&base, &[k("rules")]), "a fault needs at least one rule");
        }
        for (i, r) in f.rules.iter().enumerate() {
            check_rule(c, &at(&base, &[k("rules"), Seg::Index(i)]), r);
        }
    }
}

fn check_rule(c: &mut Collector<'_>, base: &[Seg], r: &RuleSpec) {
    if r.error_share.is_none()
        && r.latency_ms.is_none()
        && !r.crash
        && r.quality.is_none()
        && r.apply_error.is_none()
        && !r.silent.is_on()
        && !r.never_confirms
        && r.rollback_delay.is_none()
    {
        c.add(
            base,
            "a rule needs an effect: error_share, latency_ms, crash, quality, apply_error, silent, never_confirms or rollback_delay",
        );
    }
    if r.silent.is_on() && r.flap.is_some() {
        c.add(
            &at(base, &[k("flap")]),
            "a silent target cannot flap: give `silent: { for: DURATION }` for one that comes back",
        );
    }
    if let Silence::For(d) | Silence::Once(d) = r.silent
        && d.0 == 0
    {
        c.add(&at(base, &[k("silent"), k("for")]), "a silence must last more than 0s (or write `silent: true`)");
    }
    if r.never_confirms {
        for (field, set) in [("silent", r.silent.is_on()), ("apply_error", r.apply_error.is_some())] {
            if set {
                c.add(
                    &at(base, &[k("never_confirms")]),
                    format!(
                        "`never_confirms` and `{field}` exclude each other: a target either hangs in the apply, or {}",
                        if field == "silent" { "goes silent" } else { "refuses the release" }
                    ),
                );
            }
        }
    }
    if r.silent.is_on() && r.apply_error.is_some() {
        c.add(
            &at(base, &[k("silent")]),
            "`silent` and `apply_error` exclude each other: a target that refuses the release never runs it",
        );
    }
    if let Some(d) = &r.rollback_delay {
        check_slow_delay(c, &at(base, &[k("rollback_delay")]), d);
    }
    if let Some(e) = r.error_share
        && !(0.0..=1.0).contains(&e)
    {
        c.add(&at(base, &[k("error_share")]), format!("error_share {e} must be in [0, 1]"));
    }
    if let Some(l) = r.latency_ms
        && !(l.is_finite() && l >= 0.0)
    {
        c.add(&at(base, &[k("latency_ms")]), format!("latency_ms {l} must be a finite number ≥ 0"));
    }
    if let Some(q) = &r.quality {
        if let Err(why) = Metric::parse(&q.metric) {
            c.add(&at(base, &[k("quality"), k("metric")]), why);
        }
        if !q.value.is_finite() {
            c.add(&at(base, &[k("quality"), k("value")]), format!("{} is not a finite number", q.value));
        }
    }
    if r.flap.is_some_and(|f| f.0 < 1000) {
        c.add(&at(base, &[k("flap")]), "a flap period must be at least 1s");
    }
}

fn check_fault_refs(c: &mut Collector<'_>, s: &Scenario, base: &[Seg], faults: &[String]) {
    for (j, f) in faults.iter().enumerate() {
        if !s.faults.contains_key(f) {
            let known: Vec<&str> = s.faults.keys().map(String::as_str).collect();
            c.add(&at(base, &[Seg::Index(j)]), format!("fault {f:?} does not exist (defined: {})", list(&known)));
        }
    }
}

fn check_releases(c: &mut Collector<'_>, s: &Scenario) {
    if s.initial_release.id.trim().is_empty() {
        c.add(&[k("initial_release"), k("id")], "the initial release needs an id");
    }
    let mut ids = BTreeSet::from([s.initial_release.id.as_str()]);
    if s.releases.len() as u64 > MAX_RELEASES {
        c.add(&[k("releases")], format!("more than {MAX_RELEASES} releases"));
    }
    for (i, r) in s.releases.iter().enumerate() {
        let base = [k("releases"), Seg::Index(i)];
        if r.id.trim().is_empty() {
            c.add(&at(&base, &[k("id")]), "a release needs an id");
        }
        if !ids.insert(r.id.as_str()) {
            c.add(&at(&base, &[k("id")]), format!("release id {:?} is used twice", r.id));
        }
        if r.at > s.duration {
            c.add(&at(&base, &[k("at")]), format!("at {} is after the end of the scenario ({})", r.at, s.duration));
        }
        check_fault_refs(c, s, &at(&base, &[k("faults")]), &r.faults);
    }
}

fn check_generated(c: &mut Collector<'_>, s: &Scenario, g: &GeneratedSpec) {
    let base = [k("generated")];
    if !valid_name(&g.prefix) {
        c.add(&at(&base, &[k("prefix")]), format!("invalid prefix {:?}: use [A-Za-z0-9-_.]", g.prefix));
    }
    if s.releases.iter().any(|r| r.id.starts_with(&format!("{}-", g.prefix))) {
        c.add(&at(&base, &[k("prefix")]), "a listed release id starts with this prefix");
    }
    if g.file.trim().is_empty() {
        c.add(&at(&base, &[k("file")]), "name the generated file");
    }
    if g.every < Dur::secs(1) {
        c.add(&at(&base, &[k("every")]), "every must be at least 1s");
    } else {
        let span = g.until.unwrap_or(s.duration).min(s.duration).0.saturating_sub(g.from.unwrap_or(g.every).0);
        if span / g.every.0 + 1 > MAX_RELEASES {
            c.add(&at(&base, &[k("every")]), format!("this generates more than {MAX_RELEASES} releases"));
        }
    }
    if g.features == 0 || g.features > 10_000 {
        c.add(&at(&base, &[k("features")]), "features must be in 1..=10000");
    }
    if g.cluster.nodes == 0 || g.cluster.nodes > 10_000 {
        c.add(&at(&base, &[k("cluster"), k("nodes")]), "nodes must be in 1..=10000");
    }
    if g.changed.copies == 0 || g.changed.copies > 100 {
        c.add(&at(&base, &[k("changed"), k("copies")]), "copies must be in 1..=100");
    }
    check_fault_refs(c, s, &at(&base, &[k("changed"), k("faults")]), &g.changed.faults);
}

fn check_strategy(c: &mut Collector<'_>, s: &Scenario, base: &[Seg], st: &StrategySpec) {
    for (j, g) in st.exclude_groups.iter().enumerate() {
        if !s.fleet.iter().any(|f| &f.name == g) {
            let known: Vec<&str> = s.fleet.iter().map(|f| f.name.as_str()).collect();
            c.add(
                &at(base, &[k("exclude_groups"), Seg::Index(j)]),
                format!("group {g:?} does not exist (defined: {})", list(&known)),
            );
        }
    }
    for (j, v) in st.validators.iter().enumerate() {
        if let Err(why) = check_validator_spec(v) {
            c.add(&at(base, &[k("validators"), Seg::Index(j)]), why);
        }
    }
    match (&st.global_push, &st.pipeline) {
        (Some(_), Some(_)) | (None, None) => {
            c.add(base, format!("strategy {:?}: give exactly one of `global_push` or `pipeline`", st.name));
        }
        (Some(g), None) => {
            if g.revert_after.is_some() == g.revert_at.is_some() {
                c.add(&at(base, &[k("global_push")]), "give exactly one of `revert_after` or `revert_at`");
            }
            for (field, set) in [
                ("emergency", st.emergency),
                ("approvals", !st.approvals.is_empty()),
                ("clear_hold_after", st.clear_hold_after.is_some()),
            ] {
                if set {
                    c.add(&at(base, &[k(field)]), format!("`{field}` only applies to a pipeline strategy"));
                }
            }
        }
        (None, Some(name)) => {
            let Some(p) = s.pipelines.get(name) else {
                let known: Vec<&str> = s.pipelines.keys().map(String::as_str).collect();
                c.add(
                    &at(base, &[k("pipeline")]),
                    format!("pipeline {name:?} does not exist (defined: {})", list(&known)),
                );
                return;
            };
            for stage in st.approvals.keys() {
                if stage != crate::strategy::BREAK_GLASS && !p.stages.iter().any(|x| &x.name == stage) {
                    let known: Vec<&str> = p.stages.iter().map(|x| x.name.as_str()).collect();
                    c.add(
                        &at(base, &[k("approvals"), k(stage)]),
                        format!("stage {stage:?} is not in pipeline {name:?} (stages: {})", list(&known)),
                    );
                }
            }
            let selected = s
                .fleet
                .iter()
                .filter(|g| !st.exclude_groups.contains(&g.name))
                .any(|g| p.stages.iter().any(|x| x.selector.matches(&g.labels)));
            if !selected {
                c.add(
                    &at(base, &[k("pipeline")]),
                    format!("no stage of pipeline {name:?} selects any target of this strategy's fleet"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        let segs = vec![k("pipelines"), k("p"), k("stages"), Seg::Index(0), k("waves"), Seg::Index(1)];
        assert_eq!(parse_path(&render(&segs)), segs);
        assert_eq!(parse_path("a[2][3].b"), vec![k("a"), Seg::Index(2), Seg::Index(3), k("b")]);
    }
}
