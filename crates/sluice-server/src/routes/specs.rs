//! `POST /v1/specs` and `GET /v1/specs/current`: parse and check a spec (every problem located
//! as `file:line:col: at field: ...`), check it against the live fleet and the report interval
//! (`sluice_core::spec::fleet_check`), store it, and make it current. A spec that drops a
//! service targets still run is refused unless forced; a forced drop is in the audit log.

use axum::Json;
use axum::extract::State;
use serde_json::json;
use sluice_api::{ApplySpec, SpecApplied, SpecView};
use sluice_core::spec::Spec;
use sluice_core::spec::check::check_spec;
use sluice_core::spec::fleet_check::{LiveFleet, check_against_fleet, dropped_services};
use sluice_core::spec::parse::from_yaml;
use sluice_store::{DroppedService, NewSpec};

use crate::app::SharedApp;
use crate::auth::{Admin, Operator};
use crate::body::JsonBody;
use crate::clock;
use crate::current_spec::AppliedSpec;
use crate::fleet_checks::{live_fleet, located, report_interval};
use crate::http_error::{HttpError, HttpResult};

const DEFAULT_FILE: &str = "sluice.yaml";

pub async fn apply(
    Admin(op): Admin,
    State(app): State<SharedApp>,
    JsonBody(req): JsonBody<ApplySpec>,
) -> HttpResult<Json<SpecApplied>> {
    let file = req.file.as_deref().filter(|f| !f.is_empty()).unwrap_or(DEFAULT_FILE);
    let spec: Spec = from_yaml(file, &req.text)
        .map_err(|e| HttpError::bad_request(e.to_string()).with_details(json!({ "problems": [e.to_string()] })))?;
    let problems = check_spec(&spec, Some(&req.text));
    if !problems.is_empty() {
        return Err(refused(format!("the spec has {} problem(s)", problems.len()), located(file, &problems)));
    }
    let targets = live_fleet(&app).await?;
    let interval = report_interval(&app);
    let fleet = LiveFleet { targets: &targets, report_interval: interval };
    let found = check_against_fleet(&spec, Some(&req.text), fleet);
    let dropped = dropped_services(&spec, &targets);
    let mut problems = found.problems;
    let mut warnings = located(file, &found.warnings);
    if !req.force {
        problems.extend(dropped.iter().map(|d| d.problem(Some(&req.text))));
    }
    let forced = |recorded: &str| -> Vec<String> {
        dropped
            .iter()
            .map(|d| {
                format!(
                    "forced: service {:?} dropped while {} target(s) still run it ({recorded})",
                    d.service,
                    d.targets.len()
                )
            })
            .collect()
    };
    if !problems.is_empty() {
        let what = format!(
            "the spec cannot work on the live fleet ({} targets, report interval {interval}): {} problem(s)",
            targets.len(),
            problems.len()
        );
        return Err(refused(what, located(file, &problems)));
    }
    let services: Vec<String> = spec.services.keys().cloned().collect();
    let pipelines: Vec<String> = spec.pipelines.keys().cloned().collect();
    let applied = |version, changed, warnings| SpecApplied {
        version,
        changed,
        services: services.clone(),
        pipelines: pipelines.clone(),
        warnings,
        report_interval_ms: interval.0,
        targets: targets.len(),
    };
    if let Some(current) = app.spec.get()
        && current.text == req.text
    {
        warnings.extend(forced("the spec is unchanged: nothing recorded"));
        return Ok(Json(applied(current.version, false, warnings)));
    }
    warnings.extend(forced("recorded in the audit log"));
    let parsed = serde_json::to_value(&spec).map_err(|e| HttpError::internal("encode the spec", e))?;
    // Each service's digest is computed here, once per spec, not on every long-poll answer
    // (and before the store has the spec, so what is stored can be served).
    let mut applied_spec = AppliedSpec::new(0, req.text.clone(), spec)
        .map_err(|e| HttpError::internal("encode the spec for agents", e))?;
    let now = clock::now();
    let dropped: Vec<DroppedService> =
        dropped.into_iter().map(|d| DroppedService { service: d.service, targets: d.targets }).collect();
    let version = app
        .store
        .put_spec(&NewSpec { text: req.text, parsed, applied_by: op.name.clone(), applied_at: now, dropped })
        .await?;
    applied_spec.version = version;
    app.spec.set(applied_spec);
    crate::sample_retention::update(&app);
    tracing::info!(version, warnings = warnings.len(), "spec applied");
    Ok(Json(applied(version, true, warnings)))
}

/// 400 with `message` and each located problem on its own line, and the list in `details`.
fn refused(message: String, lines: Vec<String>) -> HttpError {
    HttpError::bad_request(format!("{message}:\n{}", lines.join("\n"))).with_details(json!({ "problems": lines }))
}

pub async fn current(_: Operator, State(app): State<SharedApp>) -> HttpResult<Json<SpecView>> {
    let Some(rec) = app.store.current_spec().await? else {
        return Err(HttpError::not_found("no spec has been applied yet"));
    };
    Ok(Json(SpecView { version: rec.version, text: rec.text, applied_by: rec.applied_by, applied_at: rec.applied_at }))
}
