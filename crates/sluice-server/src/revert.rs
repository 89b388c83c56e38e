//! `rollout revert`: the one fast path that needs no new release. The service goes back to its
//! previous known-good through its pipeline's emergency profile (waves and gates, no approvals,
//! no probation: that release finished one already), audited with who and why.

use sluice_core::release::ReleaseId;

use crate::app::App;
use crate::driver::StartRequest;
use crate::http_error::{HttpError, HttpResult};

/// The start request of a revert of `service`. With `completed`, only when that release is the
/// service's known-good now (a newer rollout completed since: revert that one instead).
pub async fn request(
    app: &App,
    service: &str,
    completed: Option<&ReleaseId>,
    reason: &str,
    actor: &str,
) -> HttpResult<StartRequest> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(HttpError::bad_request("a revert needs a reason (`reason`)"));
    }
    let Some(spec) = app.spec.get() else {
        return Err(HttpError::not_found(format!("service {service} is unknown: no spec has been applied yet")));
    };
    let Some(svc) = spec.spec.services.get(service) else {
        return Err(HttpError::not_found(format!(
            "service {service} is not in the current spec (version {})",
            spec.version
        )));
    };
    let Some(pipeline) = spec.spec.pipelines.get(&svc.pipeline) else {
        return Err(HttpError::not_found(format!("pipeline {} of {service} is not in the current spec", svc.pipeline)));
    };
    let state = app.store.get_service_state(service).await?;
    if let Some(done) = completed
        && state.known_good.as_ref() != Some(done)
    {
        return Err(HttpError::conflict(format!(
            "cannot roll back: {done} is no longer {service}'s known-good ({}); revert the service instead",
            state.known_good.as_ref().map_or("none".to_string(), ToString::to_string)
        )));
    }
    let Some(to) = state.revert_target().cloned() else {
        return Err(HttpError::conflict(format!(
            "cannot revert {service}: it has no earlier known-good release to return to"
        )));
    };
    Ok(StartRequest {
        service: service.to_string(),
        release: to,
        pipeline: pipeline.clone(),
        emergency: true,
        reason: Some(format!("revert by {actor}: {reason}")),
        seed: None,
        revert: true,
        pipeline_name: svc.pipeline.clone(),
        queue: false,
        actor: actor.to_string(),
        change: sluice_core::change::ChangeRecord {
            message: Some(format!("revert {service} to its previous known-good")),
            ..Default::default()
        },
        break_glass: None,
    })
}
