//! The emergency step: a CVE fix must ship now. ben clears the hold the kill switch left (an
//! approver's act, with a reason); ana starts the fix with `--emergency --reason`: bakes capped,
//! each stage's first wave judged by every gate, then the rest of the stage. It must reach every
//! target within [`EMERGENCY_LIMIT`], and the events must show each stage's first wave judged
//! and passed.

use anyhow::Context;
use sluice_api::{ClearHold, StartRollout};
use sluice_core::change::Risk;
use sluice_core::engine::EventKind;

use super::bundled;
use super::clock;
use super::progress::Progress;
use super::rig::Rig;
use super::rollout_watch;
use super::step::{EMERGENCY_LIMIT, Expect, StepResult};
use super::story::{People, create, say_result, settled, step_outcome};

pub async fn step(rig: &Rig, people: &People, progress: &mut Progress) -> StepResult {
    let mut r = StepResult::new("emergency-cve", "v5-cve", Expect::Emergency);
    if let Err(e) = run(rig, people, progress, &mut r).await {
        r.problems.push(format!("{e:#}"));
    }
    r.judge(rig.members.len());
    say_result(progress, &r);
    r
}

async fn run(rig: &Rig, people: &People, progress: &mut Progress, r: &mut StepResult) -> anyhow::Result<()> {
    let clear = ClearHold { reason: "the kill switch is understood; the CVE fix must ship".into() };
    people.approver.clear_hold(bundled::SERVICE, &clear).await.context("ben failed to clear the hold")?;
    progress.say("  ben (approver) cleared the hold the kill switch left");
    let id = create(rig, r.release, r.name).await.context("failed to create the CVE fix")?;
    let began = clock::instant();
    let view = people
        .author
        .start_rollout(&StartRollout {
            service: bundled::SERVICE.into(),
            release: id.0.clone(),
            emergency: true,
            reason: Some("CVE-2025-55182 is exploited in the wild".into()),
            message: Some("block CVE-2025-55182 probes".into()),
            ticket: Some("SEC-55182".into()),
            risk: Some(Risk::High),
            ..StartRollout::default()
        })
        .await
        .context("failed to start the emergency rollout")?;
    progress
        .say(&format!("  rollout {} by ana, EMERGENCY: capped bakes, each stage's first wave then the rest", view.id));
    r.rollout = Some(view.id.clone());
    let done = rollout_watch::follow(&people.author, &view.id, EMERGENCY_LIMIT, progress).await?;
    let took = began.elapsed();
    r.outcome = step_outcome(done.outcome);
    let events = rollout_watch::events(&rig.client, &done.id).await.context("failed to read the audit log")?;
    for stage in &done.stages {
        let judged =
            events.iter().any(|e| matches!(&e.kind, EventKind::Gate { stage: s, wave: 0, .. } if *s == stage.name));
        let passed =
            events.iter().any(|e| matches!(&e.kind, EventKind::WavePassed { stage: s, wave: 0 } if *s == stage.name));
        if !(judged && passed) {
            r.problems.push(format!(
                "stage {}: its first wave was not judged and passed (gate evaluated: {judged}, passed: {passed})",
                stage.name
            ));
        }
    }
    if took > EMERGENCY_LIMIT {
        r.problems.push(format!("took {took:?}, over {EMERGENCY_LIMIT:?}"));
    }
    progress.say(&format!(
        "  every target in {:.1}s; each of {} stages' first wave judged by its gates",
        took.as_secs_f64(),
        done.stages.len()
    ));
    let (touched, _) = rollout_watch::touched_in(&rig.client, &done.id, "prod")
        .await
        .context("failed to read the rollout's targets")?;
    r.targets_ever_on_release = Some(touched);
    settled(rig, Some(&done.release)).await?;
    Ok(())
}
