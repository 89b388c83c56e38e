//! `/v1/rollouts`: start a rollout (release by id or unique hex prefix, the service's pipeline
//! unless named, emergency only with a reason; with `queue: true` it waits behind the service's
//! active rollout, answered 202), list and show rollouts with their progress,
//! and the operator's commands (`pause`, `resume`, `abort`, `rollback` with a reason,
//! `approve`, `withdraw` an approval), all serialized with the driver. A start carries its
//! change record and is judged by the policy (`sluice_core::policy`): what the record lacks is
//! a 400, a side door (an unlisted pipeline, more of prod at once than `max_blast`) a 403
//! unless it breaks glass with a reason.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sluice_api::{QueuedView, RolloutCommand, RolloutTargetsView, RolloutView, StartAnswer, StartRollout};
use sluice_core::change::ChangeRecord;
use sluice_core::engine::Command;
use sluice_core::engine::TargetInfo;
use sluice_core::policy::{self, StartRefusal, judge_start};
use sluice_core::release::ReleaseId;
use sluice_core::spec::fleet_check::{FleetTarget, LiveFleet, check_rollout_against_fleet};
use sluice_store::{RolloutFilter, RolloutRecord, Store};

use crate::app::{App, SharedApp};
use crate::auth::Operator;
use crate::body::{JsonBody, JsonOrEmpty, PathParams, QueryParams};
use crate::current_spec::AppliedSpec;
use crate::driver::{StartRequest, Started};
use crate::fleet_checks::{live_fleet, located, report_interval};
use crate::http_error::{HttpError, HttpResult};
use crate::rollout_view::{targets_view, view};

/// Shortest release prefix accepted, in hex digits (and shortest rollout id prefix).
const MIN_PREFIX: usize = 4;

pub async fn start(
    op: Operator,
    State(app): State<SharedApp>,
    JsonBody(req): JsonBody<StartRollout>,
) -> HttpResult<Response> {
    op.may_deploy(&req.service, &format!("start rollouts of {}", req.service))?;
    let Some(spec) = app.spec.get() else {
        return Err(HttpError::not_found(format!("service {} is unknown: no spec has been applied yet", req.service)));
    };
    let Some(svc) = spec.spec.services.get(&req.service) else {
        return Err(HttpError::not_found(format!(
            "service {} is not in the current spec (version {})",
            req.service, spec.version
        )));
    };
    let pipeline_name = req.pipeline.clone().unwrap_or_else(|| svc.pipeline.clone());
    let Some(pipeline) = spec.spec.pipelines.get(&pipeline_name) else {
        let known: Vec<&str> = spec.spec.pipelines.keys().map(String::as_str).collect();
        return Err(HttpError::not_found(format!(
            "pipeline {pipeline_name} is not in the current spec (defined: {})",
            known.join(", ")
        )));
    };
    let reason = req.reason.clone().filter(|r| !r.trim().is_empty());
    if req.emergency && reason.is_none() {
        return Err(HttpError::bad_request("an emergency rollout needs a reason (`reason`)"));
    }
    if req.break_glass && reason.is_none() {
        return Err(HttpError::bad_request("breaking glass needs a reason (`reason`)"));
    }
    let change = ChangeRecord {
        message: req.message.clone(),
        ticket: req.ticket.clone(),
        risk: req.risk,
        rollback_plan: req.rollback_plan.clone(),
    }
    .normalized()
    .map_err(HttpError::bad_request)?;
    let release = resolve_release(app.store.as_ref(), &req.service, &req.release).await?;
    let targets = check_fleet(&app, &spec, &pipeline_name, &req.service).await?;
    let infos: Vec<TargetInfo> = targets.into_iter().map(|t| t.info).collect();
    let verdict = judge_start(&policy::StartRequest {
        service: &req.service,
        spec: svc,
        pipeline_name: &pipeline_name,
        pipeline,
        targets: &infos,
        change: &change,
        emergency: req.emergency,
        reason: reason.as_deref(),
    });
    let glass = verdict
        .resolve(if req.break_glass { reason.as_deref() } else { None })
        .map_err(|refusal| policy_refusal(&req.service, refusal))?;
    let started = app
        .driver
        .start(StartRequest {
            service: req.service.clone(),
            release,
            pipeline: pipeline.clone(),
            emergency: req.emergency,
            reason,
            seed: req.seed,
            revert: false,
            pipeline_name,
            queue: req.queue,
            actor: op.name.clone(),
            change,
            break_glass: glass,
        })
        .await?;
    Ok(match started {
        Started::Rollout(record) => Json(view(&record, &app.fleet.read())).into_response(),
        Started::Queued(q, superseded) => {
            let queued =
                QueuedView { service: req.service, release: q.release, behind: q.behind, at: q.at, superseded };
            (StatusCode::ACCEPTED, Json(StartAnswer::Queued { queued })).into_response()
        }
    })
}

/// The policy's refusal: 400 for what the change record lacks, 403 for a side door.
fn policy_refusal(service: &str, refusal: StartRefusal) -> HttpError {
    let message = format!("cannot start a rollout of {service}: {refusal}");
    match refusal {
        StartRefusal::Refused(_) | StartRefusal::NothingToBreak => HttpError::bad_request(message),
        StartRefusal::NeedsBreakGlass(_) => HttpError::forbidden(message),
    }
}

/// Refuse (400, each problem located in the current spec) a pipeline that cannot work on the
/// live fleet as it is now: the fleet may have changed since the spec was applied. Gives the
/// live fleet back.
async fn check_fleet(app: &App, spec: &AppliedSpec, pipeline: &str, service: &str) -> HttpResult<Vec<FleetTarget>> {
    let targets = live_fleet(app).await?;
    let interval = report_interval(app);
    let fleet = LiveFleet { targets: &targets, report_interval: interval };
    let found = check_rollout_against_fleet(&spec.spec, Some(&spec.text), pipeline, service, fleet);
    if found.problems.is_empty() {
        return Ok(targets);
    }
    let lines = located(&format!("spec v{}", spec.version), &found.problems);
    Err(HttpError::bad_request(format!(
        "cannot start a rollout of {service}: pipeline {pipeline} cannot work on the live fleet ({} targets, report interval {interval}):\n{}",
        targets.len(),
        lines.join("\n")
    ))
    .with_details(json!({ "problems": lines })))
}

/// A release of `service` by full id or by a unique prefix of its hex digest.
async fn resolve_release(store: &dyn Store, service: &str, given: &str) -> HttpResult<ReleaseId> {
    let given = given.trim();
    let releases = store.list_releases(service).await?;
    if let Some(r) = releases.iter().find(|r| r.id.0 == given) {
        return Ok(r.id.clone());
    }
    let prefix = given.strip_prefix("sha256:").unwrap_or(given);
    if prefix.len() < MIN_PREFIX || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HttpError::not_found(format!(
            "release {given:?} of {service} not found (give the id or at least {MIN_PREFIX} hex digits of it)"
        )));
    }
    let prefix = prefix.to_ascii_lowercase();
    let matches: Vec<&ReleaseId> = releases
        .iter()
        .map(|r| &r.id)
        .filter(|id| id.0.strip_prefix("sha256:").unwrap_or(&id.0).starts_with(&prefix))
        .collect();
    match matches.as_slice() {
        [] => Err(HttpError::not_found(format!("no release of {service} starts with {prefix}"))),
        [one] => Ok((*one).clone()),
        many => Err(HttpError::bad_request(format!(
            "{prefix} is ambiguous: {} releases of {service} start with it ({})",
            many.len(),
            many.iter().take(5).map(|id| id.0.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    active: Option<bool>,
}

pub async fn list(
    _: Operator,
    State(app): State<SharedApp>,
    QueryParams(q): QueryParams<ListQuery>,
) -> HttpResult<Json<Vec<RolloutView>>> {
    let filter = if q.active == Some(true) { RolloutFilter::active() } else { RolloutFilter::all() };
    let stored = app.store.list_rollouts(&filter).await?;
    let mut records: Vec<RolloutRecord> = Vec::with_capacity(stored.len());
    for rec in stored {
        // Active rollouts: the driver's copy has the latest gate evaluations.
        let fresh = app.driver.active(&rec.rollout.id).filter(|a| a.version >= rec.version);
        records.push(fresh.map_or(rec, |a| (*a).clone()));
    }
    let fleet = app.fleet.read();
    Ok(Json(records.iter().map(|r| view(r, &fleet)).collect()))
}

pub async fn get(
    _: Operator,
    State(app): State<SharedApp>,
    PathParams(id): PathParams<String>,
) -> HttpResult<Json<RolloutView>> {
    let record = record(&app, &id).await?;
    Ok(Json(view(&record, &app.fleet.read())))
}

/// `GET /v1/rollouts/{id}/targets`: the rollout's targets, stage by stage.
pub async fn targets(
    _: Operator,
    State(app): State<SharedApp>,
    PathParams(id): PathParams<String>,
) -> HttpResult<Json<RolloutTargetsView>> {
    let record = record(&app, &id).await?;
    Ok(Json(targets_view(&record)))
}

/// The rollout `given` names (its id or a unique prefix of it): the driver's copy while it is
/// active (fresher gate evaluations), else the stored one.
async fn record(app: &App, given: &str) -> HttpResult<std::sync::Arc<RolloutRecord>> {
    let id = resolve_rollout(app, given).await?;
    if let Some(r) = app.driver.active(&id) {
        return Ok(r);
    }
    Ok(std::sync::Arc::new(app.store.get_rollout(&id).await?))
}

/// A rollout id from the id or a unique prefix of it (at least [`MIN_PREFIX`] characters).
pub(super) async fn resolve_rollout(app: &App, given: &str) -> HttpResult<String> {
    let given = given.trim();
    if app.driver.active(given).is_some() {
        return Ok(given.to_string());
    }
    if given.chars().count() < MIN_PREFIX {
        // Too short to be a prefix: the id itself or nothing.
        return Ok(app.store.get_rollout(given).await?.rollout.id);
    }
    let found = app.store.rollouts_with_prefix(given, 6).await?;
    if let Some(exact) = found.iter().find(|r| r.rollout.id == given) {
        return Ok(exact.rollout.id.clone());
    }
    match found.as_slice() {
        [] => Err(HttpError::not_found(format!("no rollout id is or starts with {given:?}"))),
        [one] => Ok(one.rollout.id.clone()),
        many => Err(HttpError::bad_request(format!(
            "{given} is ambiguous: {}{} rollouts start with it ({}); give more of the id",
            many.len(),
            if many.len() >= 6 { " or more" } else { "" },
            many.iter().map(|r| r.rollout.id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

pub async fn command(
    op: Operator,
    State(app): State<SharedApp>,
    PathParams((id, command)): PathParams<(String, String)>,
    JsonOrEmpty(body): JsonOrEmpty<RolloutCommand>,
) -> HttpResult<Json<RolloutView>> {
    let by = op.name.clone();
    // Every `--reason` is recorded in the event the command causes.
    let reason = body.reason.filter(|r| !r.trim().is_empty());
    let cmd = match command.as_str() {
        "pause" => Command::Pause { by, reason },
        "resume" => Command::Resume { by, reason },
        "abort" => Command::Abort { by, reason },
        "approve" => Command::Approve { by, reason, role: Some(op.role) },
        "withdraw" => Command::Withdraw { by, reason },
        "rollback" => {
            let Some(reason) = reason else {
                return Err(HttpError::bad_request("a rollback needs a reason (`reason`)"));
            };
            Command::Rollback { by, reason }
        }
        other => {
            return Err(HttpError::not_found(format!(
                "no rollout command {other:?} (pause, resume, abort, rollback, approve, withdraw)"
            )));
        }
    };
    let id = resolve_rollout(&app, &id).await?;
    let service = record(&app, &id).await?.rollout.service.clone();
    let what = format!("{command} rollout {id} of {service}");
    match &cmd {
        Command::Approve { .. } | Command::Withdraw { .. } => op.may_approve(&service, &what)?,
        _ => op.may_steer(&service, &what)?,
    }
    let record = app.driver.command(&id, cmd).await?;
    Ok(Json(view(&record, &app.fleet.read())))
}
