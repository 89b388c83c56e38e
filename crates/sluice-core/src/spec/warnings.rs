//! What a sound spec may still get wrong, said as warnings (the spec is accepted): a production
//! stage that moves every target at once; a stage that nothing watches once it passed.

use super::Spec;
use super::check::Problem;
use super::gate::GateSpec;
use super::locate::{Seg, locate, render};
use super::wave::WaveSize;

/// Warnings for `spec`, located in `text` when given. The last stage of each pipeline is its
/// production stage: when its only wave is `100%` and it has no `max_unavailable`, a bad
/// release reaches every production target in one step.
pub fn spec_warnings(spec: &Spec, text: Option<&str>) -> Vec<Problem> {
    let mut out = Vec::new();
    for (name, p) in &spec.pipelines {
        for (i, stage) in p.stages.iter().enumerate() {
            if !stage.gates.is_empty() && stage.gates.iter().all(|g| matches!(g, GateSpec::Compare(_))) {
                out.push(stage_problem(text, name, i, "gates", format!(
                    "stage {:?} is judged by compare gates alone: once every target runs the release they have no baseline, so after the stage passes (and in probation) only silence watches it; add a threshold gate",
                    stage.name
                )));
            }
        }
        let Some((i, stage)) = p.stages.iter().enumerate().next_back() else { continue };
        let all_at_once = matches!(stage.waves.first(), Some(WaveSize::Percent(p)) if *p >= 100.0);
        if all_at_once && stage.max_unavailable.is_none() {
            out.push(stage_problem(text, name, i, "waves", format!(
                "stage {:?} (pipeline {name}'s last, its production stage) has one wave of 100%: a bad release reaches every target at once; start with a canary (`waves: [1, \"10%\", \"100%\"]`) or bound it with `max_unavailable`",
                stage.name
            )));
        }
    }
    out
}

/// A problem with field `field` of stage `stage` of pipeline `pipeline`, located in `text` (at
/// the deepest part of the path the text has) when given.
fn stage_problem(text: Option<&str>, pipeline: &str, stage: usize, field: &str, message: String) -> Problem {
    let path = [
        Seg::Key("pipelines".into()),
        Seg::Key(pipeline.to_string()),
        Seg::Key("stages".into()),
        Seg::Index(stage),
        Seg::Key(field.into()),
    ];
    let line = text.and_then(|t| (1..=path.len()).rev().find_map(|n| locate(t, &path[..n])));
    Problem { path: render(&path), line, message }
}
