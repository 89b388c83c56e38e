//! `POST /v1/specs` and `GET /v1/specs/current`: parse and check a spec (every problem located
//! as `file:line:col: at field: ...`), store it, and make it current.

use axum::Json;
use axum::extract::State;
use serde_json::json;
use sluice_api::{ApplySpec, SpecApplied, SpecView};
use sluice_core::spec::Spec;
use sluice_core::spec::check::check_spec;
use sluice_core::spec::parse::from_yaml;
use sluice_store::NewSpec;

use crate::app::SharedApp;
use crate::auth::Admin;
use crate::body::JsonBody;
use crate::clock;
use crate::current_spec::AppliedSpec;
use crate::driver::ADMIN_ACTOR;
use crate::http_error::{HttpError, HttpResult};

const DEFAULT_FILE: &str = "sluice.yaml";

pub async fn apply(
    _: Admin,
    State(app): State<SharedApp>,
    JsonBody(req): JsonBody<ApplySpec>,
) -> HttpResult<Json<SpecApplied>> {
    let file = req.file.as_deref().filter(|f| !f.is_empty()).unwrap_or(DEFAULT_FILE);
    let spec: Spec = from_yaml(file, &req.text)
        .map_err(|e| HttpError::bad_request(e.to_string()).with_details(json!({ "problems": [e.to_string()] })))?;
    let problems = check_spec(&spec, Some(&req.text));
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|p| format!("{file}:{p}")).collect();
        let message = format!("the spec has {} problem(s):\n{}", lines.len(), lines.join("\n"));
        return Err(HttpError::bad_request(message).with_details(json!({ "problems": lines })));
    }
    let services: Vec<String> = spec.services.keys().cloned().collect();
    let pipelines: Vec<String> = spec.pipelines.keys().cloned().collect();
    if let Some(current) = app.spec.get()
        && current.text == req.text
    {
        return Ok(Json(SpecApplied {
            version: current.version,
            changed: false,
            services,
            pipelines,
            warnings: vec![],
        }));
    }
    let parsed = serde_json::to_value(&spec).map_err(|e| HttpError::internal("encode the spec", e))?;
    let now = clock::now();
    let version = app
        .store
        .put_spec(&NewSpec { text: req.text.clone(), parsed, applied_by: ADMIN_ACTOR.into(), applied_at: now })
        .await?;
    app.spec.set(AppliedSpec { version, text: req.text, spec });
    tracing::info!(version, "spec applied");
    Ok(Json(SpecApplied { version, changed: true, services, pipelines, warnings: vec![] }))
}

pub async fn current(_: Admin, State(app): State<SharedApp>) -> HttpResult<Json<SpecView>> {
    let Some(rec) = app.store.current_spec().await? else {
        return Err(HttpError::not_found("no spec has been applied yet"));
    };
    Ok(Json(SpecView { version: rec.version, text: rec.text, applied_by: rec.applied_by, applied_at: rec.applied_at }))
}
