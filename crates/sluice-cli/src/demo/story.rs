//! The story `sluice demo` tells, on a running rig, with two people (ana authors, ben approves):
//! the baseline everywhere (broken glass, approved by ben), then three releases — a harmless one
//! that goes everywhere, the 5 Dec kill switch that staging catches and sluice rolls back, and
//! the 18 Nov feature file that validation refuses — a revert of the harmless one (it turned
//! out unwanted): every target back on the baseline, no new release, no approval; and an
//! emergency CVE fix (`emergency.rs`).

use std::time::Duration;

use anyhow::{Context, bail};
use sluice_api::{Client, ClientError, CommandKind, ErrorCode, NewApiToken, RolloutCommand, StartRollout};
use sluice_core::change::Risk;
use sluice_core::engine::Outcome;
use sluice_core::release::ReleaseId;
use sluice_core::role::Role;

use super::bundled;
use super::progress::Progress;
use super::rig::Rig;
use super::rollout_watch::{self, Verdicts};
use super::step::{Expect, FailedRequests, StepOutcome, StepResult};
use super::wait;

/// How long one rollout may take before the story gives up on it.
const ROLLOUT_TIMEOUT: Duration = Duration::from_secs(100);
/// How long targets get to report the release they were moved to after a rollout finished.
const SETTLE: Duration = Duration::from_secs(15);

/// The stage holding production, where a bad release must never arrive.
const PROD: &str = "prod";

/// The demo's two people: `ana` (a deployer) authors every change, `ben` (an approver) lets
/// through what needs a second person. Neither is the admin who set the server up.
pub struct People {
    pub author: Client,
    pub approver: Client,
}

/// Make the two people's API tokens (the admin's one job in the story).
pub async fn people(rig: &Rig, progress: &mut Progress) -> anyhow::Result<People> {
    let person = async |name: &str, role: Role| -> anyhow::Result<Client> {
        let req = NewApiToken { name: name.into(), role, services: None };
        let made = rig.client.create_token(&req).await.with_context(|| format!("failed to make {name}'s token"))?;
        progress.say(&format!("setup: {name} acts as {role} (API token {name})"));
        Ok(rig.client.with_token(Some(made.secret)))
    };
    Ok(People { author: person("ana", Role::Deployer).await?, approver: person("ben", Role::Approver).await? })
}

/// Put the baseline release on every target (the `bootstrap` pipeline), so later rollouts
/// have a known-good release to return to. All of prod at once is a side door: ana breaks
/// glass with a reason, and nothing moves until ben approves.
pub async fn baseline(rig: &Rig, people: &People, progress: &mut Progress) -> anyhow::Result<()> {
    rig.client
        .apply_spec(&sluice_api::ApplySpec {
            text: bundled::SPEC.to_string(),
            file: Some("examples/demo/sluice.yaml".into()),
            force: false,
        })
        .await
        .context("failed to apply the demo spec")?;
    progress.say("setup: baseline release v1 on every target (bootstrap pipeline: all at once, so ana breaks glass)");
    let id = create(rig, "v1", "baseline").await?;
    let view = people
        .author
        .start_rollout(&StartRollout {
            service: bundled::SERVICE.into(),
            release: id.0.clone(),
            pipeline: Some("bootstrap".into()),
            reason: Some("first install: the fleet has no known-good release to roll back to yet".into()),
            break_glass: true,
            message: Some("baseline v1 on every target".into()),
            ..StartRollout::default()
        })
        .await
        .context("failed to start the baseline rollout")?;
    let skips = view.break_glass.as_ref().map(|g| g.skips.join("; ")).unwrap_or_default();
    progress.say(&format!("  BREAK GLASS by ana ({skips}); waiting for a second person"));
    let approve = RolloutCommand { reason: Some("baseline install checked".into()) };
    people
        .approver
        .command(&view.id, CommandKind::Approve, &approve)
        .await
        .context("ben failed to approve the baseline's broken glass")?;
    progress.say("  ben approved it");
    let done = rollout_watch::follow(&rig.client, &view.id, ROLLOUT_TIMEOUT, progress).await?;
    if done.outcome != Some(Outcome::Completed) {
        bail!("the baseline rollout {} ended {:?}: {}", done.id, done.outcome, done.phase);
    }
    Ok(())
}

/// The steps, in order; ana authors each change.
pub async fn steps(rig: &Rig, people: &People, progress: &mut Progress) -> Vec<StepResult> {
    let ana = &people.author;
    let mut out = Vec::new();
    progress.say("\n(1) good-release: a harmless rule change, through every stage to 100%");
    out.push(rollout_step(rig, ana, progress, "good-release", "v2-good", Expect::Completes).await);
    progress.say("\n(2) killswitch-2025-12-05: a kill switch on an `execute` rule (breaks fl1 + managed ruleset)");
    out.push(
        rollout_step(rig, ana, progress, "killswitch-2025-12-05", "v3-killswitch", Expect::CaughtIn("staging")).await,
    );
    progress.say("\n(3) feature-file-2025-11-18: the bot feature file that doubled (220 entries, duplicates)");
    out.push(rejected_step(rig, progress, "feature-file-2025-11-18", "v4-features-doubled").await);
    progress.say("\n(4) revert: v2-good turns out unwanted; `rollout revert` returns every target to v1");
    out.push(revert_step(rig, ana, progress).await);
    progress.say("\n(5) emergency-cve: a CVE fix must ship now; ben clears the hold, ana ships it --emergency");
    out.push(super::emergency::step(rig, people, progress).await);
    out
}

/// `rollout revert`: the service goes back to its previous known-good (the baseline) through
/// the emergency profile, with no new release and no approval, even though the kill switch
/// left the service held.
async fn revert_step(rig: &Rig, ana: &Client, progress: &mut Progress) -> StepResult {
    let mut r = StepResult::new("revert", "v1", Expect::Reverts);
    if let Err(e) = run_revert(rig, ana, progress, &mut r).await {
        r.problems.push(format!("{e:#}"));
    }
    r.judge(rig.members.len());
    say_result(progress, &r);
    r
}

async fn run_revert(rig: &Rig, ana: &Client, progress: &mut Progress, r: &mut StepResult) -> anyhow::Result<()> {
    let reason = sluice_api::Revert { reason: "demo: v2-good is not wanted after all".into() };
    let view = ana.revert(bundled::SERVICE, &reason).await.context("failed to revert")?;
    progress.say(&format!("  rollout {} back to {} (emergency profile, no approvals)", view.id, view.release.0));
    r.rollout = Some(view.id.clone());
    let done = rollout_watch::follow(&rig.client, &view.id, ROLLOUT_TIMEOUT, progress).await?;
    r.outcome = step_outcome(done.outcome);
    let events = rollout_watch::events(&rig.client, &done.id).await.context("failed to read the audit log")?;
    if events.iter().any(|e| matches!(e.kind, sluice_core::engine::EventKind::AwaitingApproval { .. })) {
        r.problems.push("the revert asked for an approval".into());
    }
    let (touched, _) =
        rollout_watch::touched_in(&rig.client, &done.id, PROD).await.context("failed to read the rollout's targets")?;
    r.targets_ever_on_release = Some(touched);
    settled(rig, Some(&done.release)).await?;
    Ok(())
}

pub(super) async fn create(rig: &Rig, name: &str, message: &str) -> anyhow::Result<ReleaseId> {
    let bundle = bundle_of(rig, name)?;
    let created = rig.client.create_release(bundled::SERVICE, bundle, message).await?;
    Ok(created.release.id)
}

fn bundle_of(rig: &Rig, name: &str) -> anyhow::Result<Vec<u8>> {
    let files = bundled::FILES.map(String::from);
    let dir = rig.releases.join(name);
    let release = crate::cmd::release_dir::read_release_dir(&dir, &files, MAX_RELEASE_BYTES)
        .with_context(|| format!("failed to read the release directory {}", dir.display()))?;
    sluice_bundle::pack_with_modes(&release.files, &release.modes)
        .with_context(|| format!("failed to bundle {}", dir.display()))
}

/// The bundled releases are small; this only bounds reading them back.
const MAX_RELEASE_BYTES: u64 = 16 * 1024 * 1024;

async fn rollout_step(
    rig: &Rig,
    ana: &Client,
    progress: &mut Progress,
    name: &'static str,
    release: &'static str,
    expect: Expect,
) -> StepResult {
    let mut r = StepResult::new(name, release, expect);
    let before = rig.traffic.as_ref().map(|t| t.tally());
    if let Err(e) = run_rollout(rig, ana, progress, &mut r).await {
        r.problems.push(format!("{e:#}"));
    }
    if let (Some(t), Some(before)) = (&rig.traffic, before) {
        let d = t.tally().since(&before);
        r.failed_requests = FailedRequests { prod: d.sum(|t| t.starts_with("prod-")), all: d.sum(|_| true) };
    }
    r.judge(rig.members.len());
    say_result(progress, &r);
    r
}

async fn run_rollout(rig: &Rig, ana: &Client, progress: &mut Progress, r: &mut StepResult) -> anyhow::Result<()> {
    let id = create(rig, r.release, r.name).await.with_context(|| format!("failed to create release {}", r.release))?;
    progress.say(&format!("  release {} = {}", r.release, id.0));
    let view = ana
        .start_rollout(&StartRollout {
            service: bundled::SERVICE.into(),
            release: id.0.clone(),
            message: Some(format!("demo step {}", r.name)),
            risk: Some(Risk::Low),
            ..StartRollout::default()
        })
        .await
        .context("failed to start the rollout")?;
    progress.say(&format!("  rollout {}", view.id));
    r.rollout = Some(view.id.clone());
    let done = rollout_watch::follow(&rig.client, &view.id, ROLLOUT_TIMEOUT, progress).await?;
    r.outcome = step_outcome(done.outcome);
    let (touched, in_prod) =
        rollout_watch::touched_in(&rig.client, &done.id, PROD).await.context("failed to read the rollout's targets")?;
    r.targets_ever_on_release = Some(touched);
    if r.expect != Expect::Completes {
        r.prod_targets_ever_on_bad = Some(in_prod);
    }
    if r.outcome != StepOutcome::Completed {
        let events = rollout_watch::events(&rig.client, &done.id).await.context("failed to read the audit log")?;
        let v = Verdicts::from_events(&events);
        r.stage_caught = v.first_failure.as_ref().map(|(stage, _)| stage.clone());
        r.verdict_to_rollback_ms = v.verdict_to_finish_ms();
    }
    // Every target must now run what the rollout left it on: the release when it completed,
    // known-good when it rolled back.
    let expected =
        if r.outcome == StepOutcome::Completed { Some(done.release.clone()) } else { done.known_good.clone() };
    settled(rig, expected.as_ref()).await?;
    Ok(())
}

/// How a step's rollout ended, as the story reports it.
pub(super) fn step_outcome(outcome: Option<Outcome>) -> StepOutcome {
    match outcome {
        Some(Outcome::Completed) => StepOutcome::Completed,
        Some(Outcome::RolledBack) => StepOutcome::RolledBack,
        Some(Outcome::Aborted) => StepOutcome::Aborted,
        Some(Outcome::RollbackIncomplete) => StepOutcome::RollbackIncomplete,
        None => StepOutcome::Error,
    }
}

/// Wait until every target runs `release` (bounded).
pub(super) async fn settled(rig: &Rig, release: Option<&ReleaseId>) -> anyhow::Result<()> {
    let want = release.map(|r| r.0.as_str());
    wait::until(
        &format!("every target to run {}", want.unwrap_or("nothing")),
        SETTLE,
        Duration::from_millis(200),
        || async {
            let targets = rig.client.targets().await.map_err(|e| e.to_string())?;
            let off: Vec<String> = targets
                .iter()
                .filter(|t| {
                    let running =
                        t.services.iter().find(|s| s.service == bundled::SERVICE).and_then(|s| s.running.as_ref());
                    running.map(|r| r.0.as_str()) != want
                })
                .map(|t| t.id.0.clone())
                .collect();
            if off.is_empty() { Ok(()) } else { Err(format!("{} targets elsewhere: {}", off.len(), off.join(", "))) }
        },
    )
    .await?;
    Ok(())
}

async fn rejected_step(rig: &Rig, progress: &mut Progress, name: &'static str, release: &'static str) -> StepResult {
    let mut r = StepResult::new(name, release, Expect::Rejected);
    if let Err(e) = run_rejected(rig, progress, &mut r).await {
        r.problems.push(format!("{e:#}"));
    }
    r.judge(rig.members.len());
    say_result(progress, &r);
    r
}

async fn run_rejected(rig: &Rig, progress: &mut Progress, r: &mut StepResult) -> anyhow::Result<()> {
    let bundle = bundle_of(rig, r.release)?;
    let id = sluice_bundle::digest(&bundle);
    match rig.client.create_release(bundled::SERVICE, bundle, r.name).await {
        Err(ClientError::Api(e)) if e.code == ErrorCode::ValidationFailed => {
            r.outcome = StepOutcome::Rejected;
            r.stage_caught = Some("validation".into());
            let why = e.message.trim_end().replace('\n', "\n      ");
            progress.say(&format!("  rejected at release create (HTTP 422 {}): {why}", e.code));
        }
        Err(e) => return Err(e).context("failed to create the release"),
        Ok(created) => {
            progress.say(&format!("  accepted as {} (validation did not stop it)", created.release.id.0));
            r.outcome = StepOutcome::Completed;
        }
    }
    // No target may run it or be asked to.
    let targets = rig.client.targets().await.context("failed to list targets")?;
    let on: Vec<&sluice_api::TargetView> = targets
        .iter()
        .filter(|t| {
            t.services
                .iter()
                .any(|s| s.running.as_ref().is_some_and(|x| x.0 == id) || s.desired.as_ref().is_some_and(|x| x.0 == id))
        })
        .collect();
    r.targets_ever_on_release = Some(on.len());
    r.prod_targets_ever_on_bad = Some(on.iter().filter(|t| t.labels.get("env").is_some_and(|e| e == PROD)).count());
    Ok(())
}

pub(super) fn say_result(progress: &Progress, r: &StepResult) {
    let mut line = format!("  => {}", r.outcome.as_str());
    if let Some(s) = &r.stage_caught {
        line.push_str(&format!(", caught in {s}"));
    }
    if let Some(n) = r.targets_ever_on_release {
        line.push_str(&format!(", {n} targets ever on it"));
    }
    if let Some(n) = r.prod_targets_ever_on_bad {
        line.push_str(&format!(", {n} in prod"));
    }
    if let Some(ms) = r.verdict_to_rollback_ms {
        line.push_str(&format!(", verdict to rolled back {ms} ms"));
    }
    let (sent, failed) = r.failed_requests.prod;
    if sent > 0 {
        line.push_str(&format!("; users in prod saw {failed} of {sent} requests fail"));
    }
    progress.say(&line);
    for p in &r.problems {
        progress.say(&format!("  !! {p}"));
    }
}
