//! `/v1/services`: each service's standing (known-good, active rollout, hold), and clearing the
//! hold a failed rollout left — the deliberate human step before the service ships again — and
//! reverting to the previous known-good.

use axum::Json;
use axum::extract::State;
use sluice_api::{ClearHold, HoldView, QueuedView, Revert, RolloutView, ServiceView};
use sluice_core::engine::ServiceState;

use crate::app::SharedApp;
use crate::auth::Operator;
use crate::body::{JsonBody, PathParams};
use crate::http_error::{HttpError, HttpResult};

pub async fn list(_: Operator, State(app): State<SharedApp>) -> HttpResult<Json<Vec<ServiceView>>> {
    let mut states = app.store.list_service_states().await?;
    // Services of the spec that never had a rollout are listed too.
    if let Some(spec) = app.spec.get() {
        for name in spec.spec.services.keys() {
            if !states.iter().any(|(n, _)| n == name) {
                states.push((name.clone(), ServiceState::default()));
            }
        }
    }
    states.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Json(states.into_iter().map(|(name, state)| view(name, state)).collect()))
}

pub async fn clear_hold(
    op: Operator,
    State(app): State<SharedApp>,
    PathParams(service): PathParams<String>,
    JsonBody(req): JsonBody<ClearHold>,
) -> HttpResult<Json<ServiceView>> {
    if req.reason.trim().is_empty() {
        return Err(HttpError::bad_request("clearing a hold needs a reason (`reason`)"));
    }
    op.may_approve(&service, &format!("clear the hold of {service}"))?;
    let state = app.driver.clear_hold(&service, req.reason.trim(), &op.name).await?;
    Ok(Json(view(service, state)))
}

/// Return the service to its previous known-good (see [`crate::revert`]).
pub async fn revert(
    op: Operator,
    State(app): State<SharedApp>,
    PathParams(service): PathParams<String>,
    JsonBody(req): JsonBody<Revert>,
) -> HttpResult<Json<RolloutView>> {
    op.may_deploy(&service, &format!("revert {service}"))?;
    let start = crate::revert::request(&app, &service, None, &req.reason, &op.name).await?;
    let record = app.driver.start_now(start).await?;
    Ok(Json(crate::rollout_view::view(&record, &app.fleet.read())))
}

fn view(service: String, state: ServiceState) -> ServiceView {
    ServiceView {
        service: service.clone(),
        known_good: state.known_good,
        active: state.active,
        queued: state.queued.map(|q| QueuedView {
            service: service.clone(),
            release: q.release,
            behind: q.behind,
            at: q.at,
            superseded: None,
        }),
        hold: state.hold.map(|h| HoldView { release: h.release, rollout: h.rollout, why: h.why, at: h.at }),
    }
}
