//! The rollout driver: one task that steps every active rollout with what the fleet reported,
//! and the one lock that serializes it with operators' starts and commands.
//!
//! Each decision is written to the store first (`commit_transition`: the rollout's new state,
//! its events, the service's standing when it finished, the desired-state changes, in one
//! transaction) and only then mirrored to the desired-state board, which wakes the affected
//! long-polls. A crash before the commit loses nothing (the step is taken again from the
//! stored state); after it, the new state and desired state are in the store, and a restarted
//! server loads both. A failed commit marks the in-memory rollout stale: it is reloaded from
//! the store before its next step.
//!
//! The loop wakes on a report or command ([`Driver::wake`]), at the nearest bake end, or every
//! [`TICK`], and steps at most every [`MIN_STEP_GAP`] so bursts of reports coalesce.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_core::engine::{Action, Command, Phase, PlanError, Rollout, ServiceState, StartOptions, invariants};
use sluice_core::release::ReleaseId;
use sluice_core::spec::{GateSpec, PipelineSpec};
use sluice_core::time::{Dur, Millis};
use sluice_store::{DesiredChange, RolloutFilter, RolloutRecord, Store, StoreError, Transition, split_actions};
use tokio::sync::{Mutex, Notify};

use crate::app::{App, SharedApp};
use crate::clock;
use crate::http_error::{HttpError, HttpResult};
use crate::observations::ServiceObservations;

/// Longest the driver sleeps without a reason to wake.
pub const TICK: Duration = Duration::from_millis(250);
/// Shortest time between two steps: wake-ups closer than this are coalesced.
pub const MIN_STEP_GAP: Duration = Duration::from_millis(20);

/// The actor of the driver's own transitions.
pub const DRIVER_ACTOR: &str = "sluice";
/// The actor of operators' commands (one admin token for now).
pub const ADMIN_ACTOR: &str = "admin";

/// An active rollout as the driver holds it.
#[derive(Debug, Clone)]
struct Active {
    record: RolloutRecord,
    /// A commit failed after the engine moved: reload from the store before stepping.
    stale: bool,
}

#[derive(Debug, Default)]
struct Rollouts {
    active: BTreeMap<String, Active>,
}

#[derive(Debug)]
pub struct Driver {
    state: Mutex<Rollouts>,
    wake: Notify,
}

/// A gate with a health source that an active rollout is judging.
#[derive(Debug, Clone)]
pub struct SourcedGate {
    pub rollout: String,
    pub service: String,
    pub gate: GateSpec,
}

/// The stage whose gates judge (or are about to judge) a wave in this phase.
fn judged_stage(phase: &Phase) -> Option<usize> {
    match phase {
        Phase::Applying { stage, .. } | Phase::Baking { stage, .. } => Some(*stage),
        Phase::Paused { resume_to, .. } => judged_stage(resume_to),
        _ => None,
    }
}

/// How a rollout is to start.
#[derive(Debug)]
pub struct StartRequest<'a> {
    pub service: &'a str,
    pub release: ReleaseId,
    pub pipeline: &'a PipelineSpec,
    pub emergency: bool,
    pub reason: Option<String>,
    pub seed: Option<u64>,
}

impl Driver {
    /// Load the active rollouts from the store.
    pub async fn load(store: &dyn Store) -> Result<Driver, StoreError> {
        let active = store
            .list_rollouts(&RolloutFilter::active())
            .await?
            .into_iter()
            .map(|record| (record.rollout.id.clone(), Active { record, stale: false }))
            .collect();
        Ok(Driver { state: Mutex::new(Rollouts { active }), wake: Notify::new() })
    }

    /// Ask for a step soon (a report or command arrived).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The in-memory state of an active rollout (fresher gate evaluations than the store's).
    pub async fn active(&self, id: &str) -> Option<RolloutRecord> {
        self.state.lock().await.active.get(id).filter(|a| !a.stale).map(|a| a.record.clone())
    }

    /// The gates with a health source of the stage each active rollout is applying or baking
    /// (also while paused: a paused wave is still judged).
    pub async fn sourced_gates(&self) -> Vec<SourcedGate> {
        let state = self.state.lock().await;
        let mut out = Vec::new();
        for a in state.active.values().filter(|a| !a.stale) {
            let r = &a.record.rollout;
            let Some(stage) = judged_stage(&r.phase).and_then(|i| r.plan.stages.get(i)) else { continue };
            for g in stage.gates.iter().filter(|g| g.source().is_some()) {
                out.push(SourcedGate { rollout: r.id.clone(), service: r.service.clone(), gate: g.clone() });
            }
        }
        out
    }

    /// The targets of the wave an active rollout is applying or baking (what a `per: cohort`
    /// source's value stands for); empty otherwise.
    pub async fn canary(&self, rollout: &str) -> Vec<sluice_core::release::TargetId> {
        let state = self.state.lock().await;
        let Some(a) = state.active.get(rollout) else { return Vec::new() };
        let r = &a.record.rollout;
        let Some((stage, wave)) = r.position() else { return Vec::new() };
        let Some(sp) = r.plan.stages.get(stage) else { return Vec::new() };
        let end = sp.wave_ends.get(wave).copied().unwrap_or(0).min(sp.targets.len());
        sp.targets[..end].to_vec()
    }

    /// Active rollouts by phase name (for `/metrics`).
    pub async fn phases(&self) -> std::collections::HashMap<&'static str, i64> {
        let state = self.state.lock().await;
        let mut out = std::collections::HashMap::new();
        for a in state.active.values() {
            *out.entry(a.record.rollout.phase_name()).or_insert(0) += 1;
        }
        out
    }

    /// Start a rollout: refused (409) while the service has an active rollout or a hold.
    pub async fn start(&self, app: &App, req: StartRequest<'_>) -> HttpResult<RolloutRecord> {
        let mut state = self.state.lock().await;
        if let Some(a) = state.active.values().find(|a| a.record.rollout.service == req.service) {
            return Err(HttpError::conflict(format!(
                "service {} already has rollout {} in progress ({}); wait for it, or abort it",
                req.service,
                a.record.rollout.id,
                a.record.rollout.phase_name()
            )));
        }
        let mut service_state = app.store.get_service_state(req.service).await?;
        service_state
            .may_start()
            .map_err(|refusal| HttpError::conflict(format!("cannot start a rollout of {}: {refusal}", req.service)))?;
        let targets: Vec<_> = app.store.list_targets().await?.iter().map(|t| t.info()).collect();
        let now = clock::now();
        let id = new_rollout_id(now);
        let opts = StartOptions {
            emergency: req.emergency,
            reason: req.reason,
            seed: req.seed.unwrap_or_else(|| seed_of(&id)),
            report_interval: Dur(app.config.report_interval_ms()),
        };
        let (rollout, actions) = Rollout::start(
            id.clone(),
            req.service,
            req.release,
            service_state.known_good.clone(),
            req.pipeline,
            &targets,
            &opts,
            now,
        )
        .map_err(|e: PlanError| HttpError::bad_request(format!("cannot plan the rollout: {e}")))?;
        let mut violations = invariants::check_plan(&rollout);
        violations.extend(invariants::check_actions(&rollout, false, &actions));
        count_violations(app, &id, &violations);
        service_state.started(&id);
        if rollout.is_finished() {
            service_state.finished(&rollout, now);
        }
        let (events, desired) = split_actions(&actions);
        let transition = Transition {
            rollout: &rollout,
            service_state: Some(&service_state),
            events: &events,
            desired: &desired,
            actor: ADMIN_ACTOR,
            at: now,
        };
        let began = tokio::time::Instant::now();
        let committed = app.store.create_rollout(&transition).await?;
        app.metrics.committed(&actions, began.elapsed());
        app.services.set(req.service, service_state);
        mirror_desired(app, req.service, &id, &desired);
        let record = RolloutRecord { rollout, version: committed.version, created_at: now, updated_at: now };
        if !record.rollout.is_finished() {
            state.active.insert(id, Active { record: record.clone(), stale: false });
        }
        drop(state);
        tracing::info!(rollout = %record.rollout.id, service = %record.rollout.service, release = %record.rollout.release, "rollout started");
        self.wake();
        Ok(record)
    }

    /// Clear the hold a failed rollout left on `service` (serialized with starts and steps):
    /// 409 when the service is not held.
    pub async fn clear_hold(&self, app: &App, service: &str, reason: &str) -> HttpResult<ServiceState> {
        let _state = self.state.lock().await;
        let mut service_state = app.store.get_service_state(service).await?;
        let Some(hold) = service_state.clear_hold() else {
            return Err(HttpError::conflict(format!("service {service} is not held")));
        };
        let audit = sluice_store::Audit::new(ADMIN_ACTOR, clock::now())
            .because(format!("cleared the hold of rollout {} ({}): {reason}", hold.rollout, hold.why));
        app.store.put_service_state(service, &service_state, &audit).await?;
        app.services.set(service, service_state.clone());
        tracing::info!(service, rollout = %hold.rollout, "hold cleared");
        Ok(service_state)
    }

    /// Carry out an operator's command on an active rollout: 404 for an unknown rollout, 409
    /// when it is finished or the command does not apply to its phase.
    pub async fn command(&self, app: &App, id: &str, cmd: &Command) -> HttpResult<RolloutRecord> {
        let mut state = self.state.lock().await;
        let Some(active) = state.active.get_mut(id) else {
            drop(state);
            let rec = app.store.get_rollout(id).await?;
            return Err(HttpError::conflict(format!(
                "cannot {} rollout {id}: it is {}",
                command_verb(cmd),
                rec.rollout.phase_name()
            )));
        };
        if active.stale {
            reload(app.store.as_ref(), active).await?;
        }
        let now = clock::now();
        let mut next = active.clone();
        let failed_before = next.record.rollout.failed;
        let actions = next.record.rollout.command(now, cmd).map_err(|e| HttpError::conflict(e.to_string()))?;
        count_violations(app, id, &invariants::check_actions(&next.record.rollout, failed_before, &actions));
        commit(app, &mut next.record, &actions, ADMIN_ACTOR, now).await?;
        let record = next.record.clone();
        if record.rollout.is_finished() {
            state.active.remove(id);
        } else {
            *active = next;
        }
        drop(state);
        tracing::info!(rollout = %id, command = command_verb(cmd), phase = record.rollout.phase_name(), "command");
        self.wake();
        Ok(record)
    }
}

/// The driver task: runs until the server shuts down.
pub async fn run(app: SharedApp) {
    let mut shutdown = app.shutdown.clone();
    let mut next_wakeup: Option<Millis> = None;
    let mut last_step: Option<tokio::time::Instant> = None;
    loop {
        let now = clock::now();
        let wait = next_wakeup.map_or(TICK, |at| Duration::from_millis(at.0.saturating_sub(now.0)).min(TICK));
        tokio::select! {
            () = app.driver.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        if let Some(last) = last_step {
            let gap = last.elapsed();
            if gap < MIN_STEP_GAP {
                tokio::select! {
                    () = tokio::time::sleep(MIN_STEP_GAP - gap) => {}
                    _ = shutdown.wait_for(|s| *s) => break,
                }
            }
        }
        last_step = Some(tokio::time::Instant::now());
        let mut state = app.driver.state.lock().await;
        step_all(&app, &mut state).await;
        next_wakeup = state.active.values().filter_map(|a| a.record.rollout.next_wakeup()).min();
    }
    tracing::debug!("rollout driver stopped");
}

/// Step every active rollout once, committing each that moved.
async fn step_all(app: &App, state: &mut Rollouts) {
    let ids: Vec<String> = state.active.keys().cloned().collect();
    for id in ids {
        let Some(active) = state.active.get_mut(&id) else { continue };
        if active.stale
            && let Err(e) = reload(app.store.as_ref(), active).await
        {
            tracing::warn!(rollout = %id, error = %e, "cannot reload the rollout; trying again later");
            continue;
        }
        if active.record.rollout.is_finished() {
            state.active.remove(&id);
            continue;
        }
        let now = clock::now();
        let rollout = &mut active.record.rollout;
        let before = rollout.phase.clone();
        let failed_before = rollout.failed;
        let service = rollout.service.clone();
        let since = rollout.started_at;
        let (actions, violations) = {
            let fleet = app.fleet.read();
            let sources = app.source_status.read();
            let obs = ServiceObservations {
                fleet: &fleet,
                sources: &sources,
                service: &service,
                since,
                watching_since: app.watching_since,
            };
            let actions = rollout.step(now, &obs);
            let mut violations = invariants::check_actions(rollout, failed_before, &actions);
            violations.extend(invariants::check_step(rollout, now, &obs, &actions));
            (actions, violations)
        };
        count_violations(app, &id, &violations);
        if actions.is_empty() && rollout.phase == before {
            continue;
        }
        if let Err(e) = commit(app, &mut active.record, &actions, DRIVER_ACTOR, now).await {
            tracing::error!(rollout = %id, error = %e, "cannot commit the rollout's step; it is reloaded and stepped again");
            active.stale = true;
            continue;
        }
        let r = &active.record.rollout;
        tracing::info!(rollout = %id, phase = r.phase_name(), "rollout moved");
        if r.is_finished() {
            state.active.remove(&id);
        }
    }
}

/// Count (and log) broken engine invariants: the server checks every transition it takes.
fn count_violations(app: &App, rollout: &str, violations: &[invariants::Violation]) {
    for v in violations {
        tracing::error!(rollout, invariant = v.invariant(), violation = %v, "engine invariant broken");
        app.metrics.invariant_violated(v);
    }
}

/// Write a transition of `record` (already moved by the engine) with its `actions`, then mirror
/// it in memory. On error nothing was written and nothing mirrored.
async fn commit(
    app: &App,
    record: &mut RolloutRecord,
    actions: &[Action],
    actor: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let (events, desired) = split_actions(actions);
    let rollout = &record.rollout;
    let service_state = if rollout.is_finished() {
        let mut ss = app.store.get_service_state(&rollout.service).await?;
        ss.finished(rollout, now);
        Some(ss)
    } else {
        None
    };
    let transition = Transition {
        rollout,
        service_state: service_state.as_ref(),
        events: &events,
        desired: &desired,
        actor,
        at: now,
    };
    let began = tokio::time::Instant::now();
    let committed = app.store.commit_transition(record.version, &transition).await?;
    app.metrics.committed(actions, began.elapsed());
    record.version = committed.version;
    record.updated_at = now;
    mirror_desired(app, &record.rollout.service, &record.rollout.id, &desired);
    if let Some(ss) = service_state {
        app.services.set(&record.rollout.service, ss);
    }
    Ok(())
}

/// Mirror committed desired changes on the board (waking long-polls), and start timing their
/// propagation.
fn mirror_desired(app: &App, service: &str, rollout: &str, desired: &[DesiredChange]) {
    let changed = app.desired.apply(service, rollout, desired);
    if changed.is_empty() {
        return;
    }
    let at = clock::now();
    let moved = desired.iter().filter(|c| changed.contains(&c.target)).map(|c| (&c.target, c.release.clone()));
    app.metrics.desired_changed(service, moved, at);
}

async fn reload(store: &dyn Store, active: &mut Active) -> Result<(), StoreError> {
    active.record = store.get_rollout(&active.record.rollout.id).await?;
    active.stale = false;
    Ok(())
}

fn command_verb(cmd: &Command) -> &'static str {
    match cmd {
        Command::Pause { .. } => "pause",
        Command::Resume { .. } => "resume",
        Command::Approve { .. } => "approve",
        Command::Abort { .. } => "abort",
        Command::Rollback { .. } => "roll back",
    }
}

/// `r-<ms since epoch in hex>-<4 random bytes>`: sorts by time, unique in practice.
fn new_rollout_id(now: Millis) -> String {
    let mut b = [0u8; 4];
    rand::fill(&mut b);
    format!("r-{:x}-{:02x}{:02x}{:02x}{:02x}", now.0, b[0], b[1], b[2], b[3])
}

/// The default wave-order seed: FNV-1a of the rollout id.
fn seed_of(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
