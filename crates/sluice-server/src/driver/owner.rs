//! The driver task: the one owner of the active rollouts. It takes requests from its channel
//! one at a time, steps every active rollout, commits each transition before acting on it, and
//! publishes snapshots.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_api::ErrorCode;
use sluice_core::engine::{
    Action, Command, CommandError, PlanError, Queued, Rollout, ServiceState, StartOptions, invariants,
};
use sluice_core::time::{Dur, Millis};
use sluice_store::{DesiredChange, RolloutRecord, Store, StoreError, Transition, split_actions};

use super::{DRIVER_ACTOR, MIN_STEP_GAP, Request, SNAPSHOT_EVERY, StartRequest, Started, TICK};
use crate::app::{App, SharedApp};
use crate::clock;
use crate::http_error::{HttpError, HttpResult};
use crate::observations::ServiceObservations;

/// An active rollout as the driver holds it.
#[derive(Debug, Clone)]
pub(super) struct Active {
    pub(super) record: RolloutRecord,
    /// A commit failed after the engine moved: reload from the store before stepping.
    pub(super) stale: bool,
}

type Rollouts = BTreeMap<String, Active>;

/// The driver task: runs until the server shuts down.
pub async fn run(app: SharedApp) {
    let Some((mut inbox, mut active)) = app.driver.take_inbox() else {
        tracing::error!("the rollout driver was started twice; this one stops");
        return;
    };
    let mut shutdown = app.shutdown.clone();
    // A queued release whose rollout ended while the server was down (or just before it
    // stopped) starts now: a queue never waits on an event that already happened.
    match app.store.list_service_states().await {
        Ok(states) => {
            for (service, state) in states {
                if state.queued.is_some() {
                    start_queued(&app, &mut active, &service).await;
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot list the service states to start queued releases"),
    }
    app.driver.publish(&active);
    let mut next_wakeup: Option<Millis> = None;
    let mut last_step: Option<tokio::time::Instant> = None;
    let mut last_publish = tokio::time::Instant::now();
    loop {
        let now = clock::now();
        let wait = next_wakeup.map_or(TICK, |at| Duration::from_millis(at.0.saturating_sub(now.0)).min(TICK));
        let request = tokio::select! {
            () = app.driver.wake.notified() => None,
            () = tokio::time::sleep(wait) => None,
            r = inbox.recv() => r,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let mut changed = false;
        if let Some(first) = request {
            handle(&app, &mut active, first).await;
            // Whatever else is waiting, in order, before the next step.
            while let Ok(r) = inbox.try_recv() {
                handle(&app, &mut active, r).await;
            }
            changed = true;
        }
        if last_step.is_none_or(|last| last.elapsed() >= MIN_STEP_GAP) {
            last_step = Some(tokio::time::Instant::now());
            changed |= step_all(&app, &mut active).await;
            let now = clock::now();
            next_wakeup = active.values().filter_map(|a| a.record.rollout.next_wakeup(now)).min();
        } else {
            // Coalesce: come back when the gap is over.
            next_wakeup = Some(clock::now() + Dur(u64::try_from(MIN_STEP_GAP.as_millis()).unwrap_or(20)));
        }
        if changed || last_publish.elapsed() >= SNAPSHOT_EVERY {
            app.driver.publish(&active);
            last_publish = tokio::time::Instant::now();
        }
    }
    inbox.close();
    while let Ok(r) = inbox.try_recv() {
        refuse(r, "the server is shutting down");
    }
    tracing::debug!("rollout driver stopped");
}

fn refuse(r: Request, why: &str) {
    match r {
        Request::Start(_, reply) => {
            let _ = reply.send(Err(HttpError::unavailable(why)));
        }
        Request::Command { reply, .. } => {
            let _ = reply.send(Err(HttpError::unavailable(why)));
        }
        Request::ClearHold { reply, .. } => {
            let _ = reply.send(Err(HttpError::unavailable(why)));
        }
    }
}

/// Carry out one request; the snapshot shows its effect before the caller hears back.
async fn handle(app: &App, active: &mut Rollouts, r: Request) {
    match r {
        Request::Start(req, reply) => {
            let result = start_or_queue(app, active, *req).await;
            app.driver.publish(active);
            let _ = reply.send(result);
        }
        Request::Command { id, cmd, reply } => {
            let result = command(app, active, &id, &cmd).await;
            app.driver.publish(active);
            let _ = reply.send(result);
        }
        Request::ClearHold { service, reason, actor, reply } => {
            let result = clear_hold(app, &service, &reason, &actor).await;
            if result.is_ok() {
                start_queued(app, active, &service).await;
            }
            app.driver.publish(active);
            let _ = reply.send(result);
        }
    }
}

/// Start `req`, or queue it when it asks to (latest wins): behind the service's active
/// rollout, or behind the hold a failed rollout left (it starts once a person clears it).
async fn start_or_queue(app: &App, active: &mut Rollouts, req: StartRequest) -> HttpResult<Started> {
    let Some(a) = active.values().find(|a| a.record.rollout.service == req.service) else {
        if req.queue && !req.revert {
            let state = app.store.get_service_state(&req.service).await?;
            if let Some(hold) = state.hold {
                return enqueue(app, req, hold.rollout, "the hold left by rollout").await;
            }
        }
        return start(app, active, req).await.map(|r| Started::Rollout(Box::new(r)));
    };
    let behind = a.record.rollout.id.clone();
    if req.queue && a.record.rollout.release == req.release {
        return Err(HttpError::conflict(format!(
            "{} is the release rollout {behind} of {} is rolling out now: nothing to queue",
            req.release, req.service
        )));
    }
    if !req.queue || req.revert {
        return Err(HttpError::conflict(format!(
            "service {} already has rollout {behind} in progress ({}); wait for it, abort it, or queue behind it (`rollout start` queues unless --no-queue)",
            req.service,
            a.record.rollout.phase_name()
        )));
    }
    enqueue(app, req, behind, "rollout").await
}

/// Queue `req` behind `behind` (an active rollout, or the failed one whose hold it waits on).
async fn enqueue(app: &App, req: StartRequest, behind: String, what: &str) -> HttpResult<Started> {
    let now = clock::now();
    let mut state = app.store.get_service_state(&req.service).await?;
    if let Some(waiting) = state.queued.as_ref().filter(|q| q.release == req.release) {
        // Asked again (a CI retry): it already waits.
        return Ok(Started::Queued(Box::new(waiting.clone()), None));
    }
    let q = Queued {
        release: req.release.clone(),
        pipeline: req.pipeline_name.clone(),
        emergency: req.emergency,
        reason: req.reason.clone(),
        seed: req.seed,
        behind: behind.clone(),
        at: now,
        by: Some(req.actor.clone()),
        change: req.change.clone(),
        break_glass: req.break_glass.clone(),
    };
    let superseded = state.enqueue(q.clone());
    let why = match &superseded {
        Some(old) => format!("queued {} behind {what} {behind}, superseding {old}", req.release),
        None => format!("queued {} behind {what} {behind}", req.release),
    };
    let audit = sluice_store::Audit::new(req.actor.as_str(), now).because(why);
    app.store.put_service_state(&req.service, &state, &audit).await?;
    app.services.set(&req.service, state);
    tracing::info!(service = %req.service, release = %req.release, behind = %behind, "release queued");
    Ok(Started::Queued(Box::new(q), superseded))
}

/// Start the release queued for `service`, if one waits and the service may start now (no
/// active rollout, no hold). A queued release that can no longer start (its pipeline left the
/// spec, it no longer plans) is dropped with the reason in the audit log.
async fn start_queued(app: &App, active: &mut Rollouts, service: &str) {
    if active.values().any(|a| a.record.rollout.service == service) {
        return;
    }
    let state = match app.store.get_service_state(service).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(service, error = %e, "cannot read the service state to start its queued release");
            return;
        }
    };
    let Some(q) = state.queued.clone() else { return };
    if state.may_start().is_err() {
        return; // held: the queued release waits for the hold to be cleared
    }
    let pipeline = app
        .spec
        .get()
        .and_then(|spec| spec.spec.pipelines.get(&q.pipeline).cloned())
        .ok_or_else(|| format!("pipeline {} is no longer in the current spec", q.pipeline));
    let result = match pipeline {
        Ok(pipeline) => {
            let req = StartRequest {
                service: service.to_string(),
                release: q.release.clone(),
                pipeline,
                emergency: q.emergency,
                reason: q.reason.clone(),
                seed: q.seed,
                revert: false,
                pipeline_name: q.pipeline.clone(),
                queue: false,
                // Its author is whoever queued it (the driver only carries it out).
                actor: q.by.clone().unwrap_or_else(|| DRIVER_ACTOR.to_string()),
                change: q.change.clone(),
                break_glass: q.break_glass.clone(),
            };
            match start(app, active, req).await {
                Ok(_) => Ok(()),
                // The store or the server failing is no reason to lose the release: it stays
                // queued and is tried again when the next rollout ends or the server starts.
                Err(e) if matches!(e.0.code, ErrorCode::Internal | ErrorCode::Unavailable) => {
                    tracing::error!(service, release = %q.release, error = %e.0.message, "cannot start the queued release now; it stays queued");
                    return;
                }
                Err(e) => Err(e.0.message),
            }
        }
        Err(why) => Err(why),
    };
    if let Err(why) = result {
        tracing::warn!(service, release = %q.release, why, "the queued release cannot start; dropped");
        let mut state = state;
        state.queued = None;
        let audit = sluice_store::Audit::new(DRIVER_ACTOR, clock::now())
            .because(format!("dropped queued {}: it cannot start: {why}", q.release));
        if let Err(e) = app.store.put_service_state(service, &state, &audit).await {
            tracing::error!(service, error = %e, "cannot drop the queued release");
        } else {
            app.services.set(service, state);
        }
    }
}

async fn start(app: &App, active: &mut Rollouts, req: StartRequest) -> HttpResult<RolloutRecord> {
    if let Some(a) = active.values().find(|a| a.record.rollout.service == req.service) {
        return Err(HttpError::conflict(format!(
            "service {} already has rollout {} in progress ({}); wait for it, or abort it",
            req.service,
            a.record.rollout.id,
            a.record.rollout.phase_name()
        )));
    }
    let mut service_state = app.store.get_service_state(&req.service).await?;
    if req.revert {
        // A revert is the fast way back: a hold (left by a failed rollout) does not stop it.
        if service_state.revert_target() != Some(&req.release) {
            return Err(HttpError::conflict(format!(
                "cannot revert {}: its previous known-good is {}, not {}",
                req.service,
                service_state.revert_target().map_or("unknown (nothing to revert to)".to_string(), ToString::to_string),
                req.release
            )));
        }
    } else {
        service_state
            .may_start()
            .map_err(|refusal| HttpError::conflict(format!("cannot start a rollout of {}: {refusal}", req.service)))?;
    }
    let targets: Vec<_> = app.store.list_targets().await?.iter().map(|t| t.info()).collect();
    let now = clock::now();
    let id = new_rollout_id(now);
    let opts = StartOptions {
        emergency: req.emergency,
        reason: req.reason,
        revert: req.revert,
        seed: req.seed.unwrap_or_else(|| seed_of(&id)),
        report_interval: Dur(app.config.report_interval_ms()),
        author: Some(req.actor.clone()),
        change: req.change,
        break_glass: req.break_glass,
    };
    let (rollout, actions) = Rollout::start(
        id.clone(),
        req.service.clone(),
        req.release,
        service_state.known_good.clone(),
        &req.pipeline,
        &targets,
        &opts,
        now,
    )
    .map_err(|e: PlanError| HttpError::bad_request(format!("cannot plan the rollout: {e}")))?;
    let mut violations = invariants::check_plan(&rollout);
    violations.extend(invariants::check_actions(&rollout, false, &actions));
    violations.extend(check_desired(&rollout, &actions));
    count_violations(app, &id, &violations);
    // The engine says how the service's standing changes (started; finished at once).
    service_state.apply_all(&actions, now);
    let (events, desired) = split_actions(&actions);
    let transition = Transition {
        rollout: &rollout,
        service_state: Some(&service_state),
        events: &events,
        actor: &req.actor,
        at: now,
    };
    let began = tokio::time::Instant::now();
    let committed = app.store.create_rollout(&transition).await?;
    app.metrics.committed(&actions, began.elapsed(), committed.bytes);
    app.services.set(&req.service, service_state);
    mirror_desired(app, &req.service, &id, &desired);
    let record = RolloutRecord { rollout, version: committed.version, created_at: now, updated_at: now };
    if record.rollout.is_finished() {
        app.driver.fold.notify_one();
    } else {
        active.insert(id, Active { record: record.clone(), stale: false });
    }
    tracing::info!(rollout = %record.rollout.id, service = %record.rollout.service, release = %record.rollout.release, "rollout started");
    Ok(record)
}

async fn clear_hold(app: &App, service: &str, reason: &str, actor: &str) -> HttpResult<ServiceState> {
    let mut service_state = app.store.get_service_state(service).await?;
    let Some(hold) = service_state.clear_hold() else {
        return Err(HttpError::conflict(format!("service {service} is not held")));
    };
    let audit = sluice_store::Audit::new(actor, clock::now())
        .because(format!("cleared the hold of rollout {} ({}): {reason}", hold.rollout, hold.why));
    app.store.put_service_state(service, &service_state, &audit).await?;
    app.services.set(service, service_state.clone());
    tracing::info!(service, rollout = %hold.rollout, "hold cleared");
    Ok(service_state)
}

async fn command(app: &App, active: &mut Rollouts, id: &str, cmd: &Command) -> HttpResult<RolloutRecord> {
    let Some(current) = active.get_mut(id) else {
        let rec = app.store.get_rollout(id).await?;
        if let Command::Rollback { .. } = cmd
            && rec.rollout.revert
        {
            return Err(HttpError::conflict(format!(
                "rollout {id} was a revert to {}: to undo it, start a rollout of the release it reverted",
                rec.rollout.release
            )));
        }
        if let Command::Rollback { reason, .. } = cmd
            && rec.rollout.outcome() == Some(sluice_core::engine::Outcome::Completed)
        {
            // Rolling back a completed rollout reverts its service to the known-good before it.
            let req =
                crate::revert::request(app, &rec.rollout.service, Some(&rec.rollout.release), reason, cmd.by()).await?;
            return start(app, active, req).await;
        }
        return Err(HttpError::conflict(format!(
            "cannot {} rollout {id}: it is {}",
            command_verb(cmd),
            rec.rollout.phase_name()
        )));
    };
    if current.stale {
        reload(app.store.as_ref(), current).await?;
    }
    let now = clock::now();
    let mut next = current.clone();
    let failed_before = next.record.rollout.failed;
    let actions = next.record.rollout.command(now, cmd).map_err(|e| match e {
        CommandError::OwnApproval { .. } | CommandError::RoleMayNotApprove { .. } => {
            HttpError::forbidden(e.to_string())
        }
        CommandError::NotApplicable { .. }
        | CommandError::AlreadyApproved { .. }
        | CommandError::NothingToWithdraw { .. } => HttpError::conflict(e.to_string()),
    })?;
    let mut violations = invariants::check_actions(&next.record.rollout, failed_before, &actions);
    violations.extend(check_desired(&next.record.rollout, &actions));
    count_violations(app, id, &violations);
    commit(app, &mut next.record, &actions, cmd.by(), now).await?;
    let record = next.record.clone();
    if record.rollout.is_finished() {
        active.remove(id);
        start_queued(app, active, &record.rollout.service).await;
    } else {
        *current = next;
    }
    tracing::info!(rollout = %id, command = command_verb(cmd), phase = record.rollout.phase_name(), "command");
    Ok(record)
}

/// Step every active rollout once, committing each that moved. Returns whether any moved.
async fn step_all(app: &App, active: &mut Rollouts) -> bool {
    let mut moved = false;
    let ids: Vec<String> = active.keys().cloned().collect();
    for id in ids {
        let Some(current) = active.get_mut(&id) else { continue };
        if current.stale
            && let Err(e) = reload(app.store.as_ref(), current).await
        {
            tracing::warn!(rollout = %id, error = %e, "cannot reload the rollout; trying again later");
            continue;
        }
        if current.record.rollout.is_finished() {
            let service = current.record.rollout.service.clone();
            active.remove(&id);
            start_queued(app, active, &service).await;
            moved = true;
            continue;
        }
        let now = clock::now();
        let rollout = &mut current.record.rollout;
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
            violations.extend(check_desired(rollout, &actions));
            (actions, violations)
        };
        count_violations(app, &id, &violations);
        if actions.is_empty() && rollout.phase == before {
            continue;
        }
        moved = true;
        if let Err(e) = commit(app, &mut current.record, &actions, DRIVER_ACTOR, now).await {
            tracing::error!(rollout = %id, error = %e, "cannot commit the rollout's step; it is reloaded and stepped again");
            current.stale = true;
            continue;
        }
        let r = &current.record.rollout;
        tracing::info!(rollout = %id, phase = r.phase_name(), "rollout moved");
        if r.is_finished() {
            active.remove(&id);
            start_queued(app, active, &service).await;
        }
    }
    moved
}

/// `desired-follows-from-cursor` for one step: what its actions ask of each target is what the
/// rollout's state says (the store derives desired state from it, never writing it per target).
fn check_desired(rollout: &Rollout, actions: &[Action]) -> Vec<invariants::Violation> {
    let mut tally = invariants::DesiredTally::new();
    invariants::tally_desired(&mut tally, actions);
    invariants::check_desired(rollout, &tally, false)
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
    // The service's standing changes only when the engine says so (a rollout finished).
    let service_state = if actions.iter().any(|a| matches!(a, Action::Service(_))) {
        let mut ss = app.store.get_service_state(&rollout.service).await?;
        ss.apply_all(actions, now);
        Some(ss)
    } else {
        None
    };
    let transition = Transition { rollout, service_state: service_state.as_ref(), events: &events, actor, at: now };
    let began = tokio::time::Instant::now();
    let committed = app.store.commit_transition(record.version, &transition).await?;
    app.metrics.committed(actions, began.elapsed(), committed.bytes);
    record.version = committed.version;
    record.updated_at = now;
    mirror_desired(app, &record.rollout.service, &record.rollout.id, &desired);
    if let Some(ss) = service_state {
        app.services.set(&record.rollout.service, ss);
    }
    if record.rollout.is_finished() {
        app.driver.fold.notify_one();
    }
    Ok(())
}

/// Mirror committed desired changes on the board (waking long-polls), and start timing their
/// propagation.
fn mirror_desired(app: &App, service: &str, rollout: &str, desired: &[DesiredChange]) {
    if !desired.is_empty() {
        crate::failpoint::after_moves_committed();
    }
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
        Command::Withdraw { .. } => "withdraw",
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
