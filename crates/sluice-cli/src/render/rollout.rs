//! `sluice rollout status`: a rollout as a header, a table of stages and waves, and a table of
//! the latest gate evaluations; and the one-line summaries `--watch` prints.

use std::fmt::Write as _;

use sluice_api::{RolloutView, StageView};
use sluice_core::engine::{GateEval, Outcome, PhaseKind, Verdict};
use sluice_core::time::Millis;

use super::ids::{short, short_or_dash};
use super::numbers::num;
use super::utc::{duration, iso8601};

/// True once the rollout ended (completed, rolled back or aborted).
pub fn is_finished(v: &RolloutView) -> bool {
    v.is_finished()
}

/// True when the rollout ended completed.
pub fn completed(v: &RolloutView) -> bool {
    v.outcome == Some(Outcome::Completed) || v.phase == PhaseKind::Completed
}

/// What a verdict is called in tables and lines.
pub fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Fail => "FAIL",
    }
}

/// Why the rollout is where it is, when the engine says: who paused it, why it awaits
/// approval, rolls back or finished.
pub fn phase_reason(v: &RolloutView) -> Option<String> {
    v.reason.clone().filter(|s| !s.is_empty())
}

/// Milliseconds of bake left on the current wave, when baking.
pub fn bake_left(v: &RolloutView, now: Millis) -> Option<u64> {
    v.bake_ends_at.map(|end| end.0.saturating_sub(now.0))
}

/// Targets of a stage on the candidate: the most any of its (cumulative) waves reports.
pub fn stage_on_candidate(s: &StageView) -> usize {
    s.waves.iter().map(|w| w.on_candidate).max().unwrap_or(0)
}

/// The stage and wave in progress (indexes), as the view's states say: the active stage and
/// its wave that is applying, baking or held; the engine's position when the states do not say.
pub fn current(v: &RolloutView) -> Option<(usize, usize)> {
    let from_states = v.stages.iter().position(|s| s.state == "active").and_then(|si| {
        let waves = &v.stages[si].waves;
        waves.iter().position(|w| matches!(w.state.as_str(), "applying" | "baking" | "held")).map(|wi| (si, wi))
    });
    from_states.or_else(|| {
        v.position.map(|p| (p.stage, p.wave)).filter(|(si, wi)| v.stages.get(*si).is_some_and(|s| *wi < s.waves.len()))
    })
}

/// `prod wave 2/4 (5%)`: the stage and wave in progress, if any.
pub fn position(v: &RolloutView) -> Option<String> {
    let (si, wi) = current(v)?;
    let stage = v.stages.get(si)?;
    let size = stage.waves.get(wi).map(|w| format!(" ({})", w.size)).unwrap_or_default();
    Some(format!("{} wave {}/{}{size}", stage.name, wi + 1, stage.waves.len()))
}

/// `http-5xx[proxy=fl1] pass 0.002 vs 0.01`: one gate evaluation, briefly.
pub fn gate_brief(e: &GateEval) -> String {
    let mut s = e.gate.clone();
    if let Some(scope) = &e.scope {
        let _ = write!(s, "[{scope}]");
    }
    let _ = write!(s, " {}", verdict(e.verdict));
    if e.value.is_some() || e.reference.is_some() {
        let _ = write!(s, " {} vs {}", num(e.value), num(e.reference));
    }
    if let Some(p) = e.p_value {
        let _ = write!(s, " p={}", num(Some(p)));
    }
    s
}

/// Every gate's latest verdict on one line, failures first.
pub fn gate_verdicts(gates: &[GateEval]) -> String {
    let mut sorted: Vec<&GateEval> = gates.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.verdict));
    sorted.iter().map(|e| gate_brief(e)).collect::<Vec<_>>().join(", ")
}

/// One line for plain (non-terminal) `--watch` output. It leaves out the bake countdown so a
/// line is printed only when something changed.
pub fn progress_line(v: &RolloutView) -> String {
    let mut s = format!("{} {}: {}", v.id, v.service, v.phase);
    if let Some(pos) = position(v) {
        let _ = write!(s, " | {pos}");
        if let Some((si, _)) = current(v)
            && let Some(stage) = v.stages.get(si)
        {
            let _ = write!(s, " {}/{} on candidate", stage_on_candidate(stage), stage.targets);
        }
    }
    if let Some(why) = phase_reason(v) {
        let _ = write!(s, " | {why}");
    }
    if !v.gates.is_empty() {
        let _ = write!(s, " | gates: {}", gate_verdicts(&v.gates));
    }
    s
}

/// The change record, broken glass (loud) and approvals: the lines under the header.
pub fn change_record(v: &RolloutView) -> String {
    let mut out = String::new();
    if let Some(g) = &v.break_glass {
        let by = v.author.as_deref().unwrap_or("?");
        let approved = match &g.approved {
            Some(a) => format!("approved by {} at {}", a.by, iso8601(a.at)),
            None => "NOT YET APPROVED by a second person: nothing moves until then".into(),
        };
        let _ = writeln!(out, "!! BREAK GLASS by {by}: {} — past: {} — {approved}", g.reason, g.skips.join("; "));
    }
    let c = &v.change;
    let mut line = format!("change: {}", c.message.as_deref().unwrap_or("(no message)"));
    let _ = write!(line, "  ticket {}", c.ticket.as_deref().unwrap_or("-"));
    let _ = write!(line, "  risk {}", c.risk.map_or("not stated", |r| r.as_str()));
    let _ = write!(line, "  by {}", v.author.as_deref().unwrap_or("-"));
    if let Some(why) = v.start_reason.as_deref().filter(|_| v.emergency || v.break_glass.is_some()) {
        let _ = write!(line, "  reason: {why}");
    }
    let _ = writeln!(out, "{line}");
    let auto = format!("automatic, every touched target back to {}", short_or_dash(v.known_good.as_ref()));
    match c.rollback_plan.as_deref() {
        Some(plan) => {
            let _ = writeln!(out, "rollback plan: {auto}; {plan}");
        }
        None => {
            let _ = writeln!(out, "rollback plan: {auto}");
        }
    }
    for (stage, given) in &v.approvals {
        let who: Vec<String> = given
            .iter()
            .map(|a| {
                let role = a.role.map(|r| format!("{r}, ")).unwrap_or_default();
                let why = a.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
                format!("{} ({role}{}{why})", a.by, iso8601(a.at))
            })
            .collect();
        let _ = writeln!(out, "approvals of {stage}: {}", who.join(", "));
    }
    out
}

/// The full status of one rollout.
pub fn status(v: &RolloutView, now: Millis) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rollout {}  service {}  release {}  known-good {}{}",
        v.id,
        v.service,
        short(&v.release),
        short_or_dash(v.known_good.as_ref()),
        if v.emergency { "  EMERGENCY" } else { "" }
    );
    out.push_str(&change_record(v));
    let mut phase = format!("phase: {}", v.phase);
    if let Some(pos) = position(v) {
        let _ = write!(phase, " at {pos}");
    }
    if let Some(left) = bake_left(v, now).filter(|_| !is_finished(v)) {
        let _ = write!(phase, ", bake {} left", duration(left));
    }
    if let Some(why) = phase_reason(v) {
        let _ = write!(phase, " ({why})");
    }
    let _ = writeln!(out, "{phase}");
    if !is_finished(v) && !v.deadlines.is_empty() {
        let left: Vec<String> =
            v.deadlines.iter().map(|d| format!("{} in {}", d.what, duration(d.at.0.saturating_sub(now.0)))).collect();
        let _ = writeln!(out, "deadlines: {}", left.join(", "));
    }
    let _ = writeln!(
        out,
        "started {}  updated {}  touched {} targets",
        iso8601(v.created_at),
        iso8601(v.updated_at),
        v.touched
    );

    let current = current(v);
    let mut t = super::table(&["stage", "state", "on candidate", "bake", "wave", "size", "wave targets", "wave state"]);
    for (si, s) in v.stages.iter().enumerate() {
        let stage_cells =
            [s.name.clone(), s.state.clone(), format!("{}/{}", stage_on_candidate(s), s.targets), duration(s.bake_ms)];
        if s.waves.is_empty() {
            t.add_row(stage_cells.iter().cloned().chain(["-".into(), "-".into(), "-".into(), "-".into()]));
            continue;
        }
        for (wi, w) in s.waves.iter().enumerate() {
            let first = wi == 0;
            let marker = if current == Some((si, wi)) { ">" } else { " " };
            let mut row: Vec<String> = if first {
                stage_cells.to_vec()
            } else {
                vec![String::new(), String::new(), String::new(), String::new()]
            };
            row.extend([
                format!("{marker}{}", wi + 1),
                w.size.clone(),
                format!("{}/{}", w.on_candidate, w.targets),
                w.state.clone(),
            ]);
            t.add_row(row);
        }
    }
    let _ = writeln!(out, "{t}");

    if v.gates.is_empty() {
        let _ = writeln!(out, "gates: no evaluation yet");
    } else {
        let mut g =
            super::table(&["gate", "scope", "metric", "verdict", "value", "reference", "p-value", "samples", "reason"]);
        for e in &v.gates {
            let samples = match e.baseline_samples {
                Some(b) => format!("{} (baseline {b})", e.samples),
                None => e.samples.to_string(),
            };
            g.add_row(vec![
                e.gate.clone(),
                e.scope.clone().unwrap_or_else(|| "-".into()),
                e.metric.clone(),
                verdict(e.verdict).to_string(),
                num(e.value),
                num(e.reference),
                num(e.p_value),
                samples,
                e.reason.clone(),
            ]);
        }
        let _ = writeln!(out, "{g}");
    }
    out
}

/// Several rollouts, one after the other; a line saying so when there are none.
pub fn statuses(vs: &[RolloutView], now: Millis) -> String {
    if vs.is_empty() {
        return "no active rollouts\n".to_string();
    }
    vs.iter().map(|v| status(v, now)).collect::<Vec<_>>().join("\n")
}
