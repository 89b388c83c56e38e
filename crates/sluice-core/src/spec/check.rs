//! What a spec means, checked after it parsed: references resolve, names are unique, waves grow
//! to 100%, gates and validators make sense.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Spec;
use super::gate::GateSpec;
use super::locate::{Seg, locate, render};
use super::pipeline::PipelineSpec;
use super::source::{HealthSource, check_source};
use super::wave::WaveSize;
use crate::validate::check_validator_spec;

/// One thing wrong with a spec: where (field path, and line/column when found) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub path: String,
    pub line: Option<(u64, u64)>,
    pub message: String,
}

struct Collector<'a> {
    text: Option<&'a str>,
    problems: Vec<Problem>,
}

impl Collector<'_> {
    fn add(&mut self, path: &[Seg], message: impl Into<String>) {
        let line = self.text.and_then(|t| locate(t, path));
        self.problems.push(Problem { path: render(path), line, message: message.into() });
    }
}

fn key(s: &str) -> Seg {
    Seg::Key(s.to_string())
}

/// Every problem with the spec's meaning; empty when it is sound. `text` (the file) is used to
/// find line numbers.
pub fn check_spec(spec: &Spec, text: Option<&str>) -> Vec<Problem> {
    let mut c = Collector { text, problems: Vec::new() };
    if spec.version != 1 {
        c.add(&[key("version")], format!("unsupported version {}: only 1 exists", spec.version));
    }
    for (name, svc) in &spec.services {
        let base = [key("services"), key(name)];
        if !valid_name(name) {
            c.add(&base, format!("invalid service name {name:?}: use [a-z0-9-_.]"));
        }
        if !spec.pipelines.contains_key(&svc.pipeline) {
            let known: Vec<&str> = spec.pipelines.keys().map(String::as_str).collect();
            c.add(
                &[base[0].clone(), base[1].clone(), key("pipeline")],
                format!("pipeline {:?} does not exist (defined: {})", svc.pipeline, list(&known)),
            );
        }
        for (i, p) in svc.pipelines.iter().enumerate() {
            if !spec.pipelines.contains_key(p) {
                let known: Vec<&str> = spec.pipelines.keys().map(String::as_str).collect();
                c.add(
                    &[base[0].clone(), base[1].clone(), key("pipelines"), Seg::Index(i)],
                    format!("pipeline {p:?} does not exist (defined: {})", list(&known)),
                );
            }
        }
        for (i, v) in svc.validators.iter().enumerate() {
            if let Err(why) = check_validator_spec(v) {
                c.add(&[base[0].clone(), base[1].clone(), key("validators"), Seg::Index(i)], why);
            }
        }
        for (i, g) in svc.files.iter().enumerate() {
            if globset::Glob::new(g).is_err() {
                c.add(&[base[0].clone(), base[1].clone(), key("files"), Seg::Index(i)], format!("invalid glob {g:?}"));
            }
        }
        if let Some(h) = &svc.hooks.health
            && h.http.is_none() == h.command.is_none()
        {
            {
                c.add(
                    &[base[0].clone(), base[1].clone(), key("hooks"), key("health")],
                    "give exactly one of `http` or `command`",
                );
            }
        }
    }
    for (name, p) in &spec.pipelines {
        check_pipeline(&mut c, name, p);
    }
    c.problems
}

fn check_pipeline(c: &mut Collector<'_>, name: &str, p: &PipelineSpec) {
    let base = vec![key("pipelines"), key(name)];
    let at = |extra: &[Seg]| -> Vec<Seg> {
        let mut v = base.clone();
        v.extend_from_slice(extra);
        v
    };
    if p.stages.is_empty() {
        c.add(&at(&[key("stages")]), "a pipeline needs at least one stage");
    }
    let mut names = BTreeSet::new();
    for (si, st) in p.stages.iter().enumerate() {
        let sp = |extra: &[Seg]| -> Vec<Seg> {
            let mut v = at(&[key("stages"), Seg::Index(si)]);
            v.extend_from_slice(extra);
            v
        };
        if !valid_name(&st.name) {
            c.add(&sp(&[key("name")]), format!("invalid stage name {:?}: use [a-z0-9-_.]", st.name));
        }
        if !names.insert(st.name.clone()) {
            c.add(&sp(&[key("name")]), format!("stage {:?} appears twice", st.name));
        }
        check_waves(c, &sp(&[key("waves")]), &st.waves);
        if st.gates.is_empty() {
            c.add(
                &sp(&[key("name")]),
                format!(
                    "stage {:?} has no gate: its waves would promote on bake time alone; add at least one",
                    st.name
                ),
            );
        }
        let mut gate_names = BTreeSet::new();
        for (gi, g) in st.gates.iter().enumerate() {
            let gp = sp(&[key("gates"), Seg::Index(gi)]);
            if !gate_names.insert(g.name().to_string()) {
                c.add(&gp, format!("gate {:?} appears twice in stage {:?}", g.name(), st.name));
            }
            if g.window().0 == 0 {
                c.add(&gp, "a gate window must be longer than 0s");
            }
            if let Some(src) = g.source() {
                let kind = match g {
                    GateSpec::Threshold(_) => "threshold",
                    GateSpec::Compare(_) => "compare",
                };
                let variant = match src {
                    HealthSource::Prometheus(_) => "prometheus",
                };
                for (field, why) in check_source(src) {
                    let mut p = gp.clone();
                    p.extend([key(kind), key("source"), key(variant), key(field)]);
                    c.add(&p, format!("gate {:?}: {why}", g.name()));
                }
            }
            match g {
                GateSpec::Threshold(t) => {
                    if t.max.is_none() && t.min.is_none() {
                        c.add(&gp, format!("threshold gate {:?} needs `max`, `min` or both", t.name));
                    }
                    for v in [t.max, t.min].into_iter().flatten() {
                        if !v.is_finite() {
                            c.add(&gp, format!("threshold gate {:?} has a non-finite bound", t.name));
                        }
                    }
                    if t.min_samples == 0 {
                        c.add(&gp, "min_samples must be at least 1: a gate never passes on no data");
                    }
                    if t.failure_limit == 0 {
                        c.add(&gp, "failure_limit must be at least 1 (1: the first failing evaluation fails the gate)");
                    }
                }
                GateSpec::Compare(g) => {
                    if !(g.confidence > 0.5 && g.confidence < 1.0) {
                        c.add(&gp, format!("confidence {} must be in (0.5, 1)", g.confidence));
                    }
                    if !(g.min_effect.is_finite() && g.min_effect >= 0.0) {
                        c.add(&gp, format!("min_effect {} must be ≥ 0", g.min_effect));
                    }
                    if g.min_samples < 2 {
                        c.add(&gp, "min_samples must be at least 2 targets per side for a comparison");
                    }
                    if g.failure_limit == 0 {
                        c.add(&gp, "failure_limit must be at least 1 (1: the first failing evaluation fails the gate)");
                    }
                }
            }
        }
        if st.apply_timeout.0 == 0 {
            c.add(&sp(&[key("apply_timeout")]), "apply_timeout must be longer than 0s: members need time to apply");
        }
        if st.hold_timeout.0 == 0 {
            c.add(&sp(&[key("hold_timeout")]), "hold_timeout must be longer than 0s");
        }
        if st.silent_after.is_some_and(|d| d.0 == 0) {
            c.add(&sp(&[key("silent_after")]), "silent_after must be longer than 0s");
        }
        if st.approval && st.approvals.is_some() {
            c.add(&sp(&[key("approvals")]), "give `approval: true` or `approvals`, not both");
        }
        if let Some(a) = &st.approvals {
            if a.count == 0 {
                c.add(
                    &sp(&[key("approvals"), key("count")]),
                    "count must be at least 1 (leave `approvals` out for none)",
                );
            }
            if a.from.is_empty() {
                c.add(&sp(&[key("approvals"), key("from")]), "list at least one role that may approve");
            }
            if a.from.contains(&crate::role::Role::Viewer) {
                c.add(
                    &sp(&[key("approvals"), key("from")]),
                    "a viewer may not approve: list approver, deployer or admin",
                );
            }
        }
        if let Some(cov) = &st.require_coverage {
            if si == 0 {
                c.add(&sp(&[key("require_coverage")]), "the first stage has no earlier stage to be covered by");
            }
            if cov.labels.is_empty() {
                c.add(&sp(&[key("require_coverage"), key("labels")]), "list at least one label");
            }
        }
    }
}

fn check_waves(c: &mut Collector<'_>, path: &[Seg], waves: &[WaveSize]) {
    if waves.is_empty() {
        c.add(path, "a stage needs at least one wave");
        return;
    }
    let mut last_pct = 0.0_f64;
    let mut last_count = 0_u64;
    for (i, w) in waves.iter().enumerate() {
        let mut p = path.to_vec();
        p.push(Seg::Index(i));
        match *w {
            WaveSize::Percent(v) => {
                if v < last_pct {
                    c.add(&p, format!("wave {w} is smaller than the wave before it ({last_pct}%): waves are cumulative and never shrink"));
                }
                last_pct = v;
            }
            WaveSize::Count(n) => {
                if n < last_count {
                    c.add(&p, format!("wave {w} is smaller than the wave before it ({last_count}): waves are cumulative and never shrink"));
                }
                last_count = n;
            }
        }
    }
    if !matches!(waves.last(), Some(WaveSize::Percent(v)) if *v >= 100.0) {
        c.add(path, "the last wave must be \"100%\" so the stage ends with every target on the release");
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
}

fn list(items: &[&str]) -> String {
    if items.is_empty() { "none".into() } else { items.join(", ") }
}
