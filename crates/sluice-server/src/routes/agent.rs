//! The agent protocol: enroll with a one-time token for a credential; long-poll desired state
//! (answered from the in-memory board, woken by its watch channel; each service's spec goes by
//! digest, fetched once per digest from `GET /v1/agent/services/{service}/spec`); report what
//! runs, apply results, health and facts. The target is always the one the credential belongs
//! to.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Deserialize;
use sluice_api::{DesiredService, DesiredView, Enroll, Enrolled, Report, ReportAck};
use sluice_core::labels::Labels;
use sluice_core::release::TargetId;
use sluice_store::{Enrollment, StoreError, TargetUpsert};

use crate::app::{App, SharedApp};
use crate::auth::Agent;
use crate::body::{JsonBody, PathParams, QueryParams};
use crate::clock;
use crate::desired::TargetDesired;
use crate::fleet::ReportError;
use crate::http_error::{HttpError, HttpResult};
use crate::secret;

/// Longest long-poll.
pub const MAX_WAIT_MS: u64 = 60_000;
/// Longest target id.
pub const MAX_TARGET_ID: usize = 128;
/// Most labels (or facts) a target may have, and longest key or value.
pub const MAX_LABELS: usize = 64;
pub const MAX_LABEL_LEN: usize = 256;

pub async fn enroll(State(app): State<SharedApp>, JsonBody(req): JsonBody<Enroll>) -> HttpResult<Json<Enrolled>> {
    check_target_id(&req.target)?;
    check_labels("labels", &req.labels)?;
    check_labels("facts", &req.facts)?;
    let credential = secret::new_token(secret::AGENT_PREFIX);
    let credential_hash = secret::hash(&credential);
    let enrollment = Enrollment {
        enrollment_token_hash: secret::hash(req.enrollment_token.trim()),
        target: TargetUpsert { id: req.target.clone(), labels: req.labels, facts: req.facts, seen_at: clock::now() },
        credential_hash: credential_hash.clone(),
    };
    let record = app.store.enroll(&enrollment).await.map_err(|e| match e {
        StoreError::NotFound { .. } => HttpError::unauthorized("unknown enrollment token"),
        StoreError::Conflict { found, .. } => {
            HttpError::conflict(format!("the enrollment token cannot be used: {found}"))
        }
        other => other.into(),
    })?;
    app.credentials.agent_credential_set(&record.id, credential_hash);
    app.fleet.enrolled(&record);
    app.desired.ensure(&record.id, record.desired_version);
    tracing::info!(target = %record.id, "target enrolled");
    Ok(Json(Enrolled { target: record.id, credential }))
}

fn check_target_id(id: &TargetId) -> HttpResult<()> {
    let s = id.0.as_str();
    if s.is_empty() || s.len() > MAX_TARGET_ID {
        return Err(HttpError::bad_request(format!("target id must be 1..={MAX_TARGET_ID} characters")));
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')) {
        return Err(HttpError::bad_request(format!("target id {s:?} may only use letters, digits and - _ . :")));
    }
    Ok(())
}

fn check_labels(what: &str, labels: &Labels) -> HttpResult<()> {
    if labels.len() > MAX_LABELS {
        return Err(HttpError::bad_request(format!("{what}: {} entries, more than {MAX_LABELS}", labels.len())));
    }
    if let Some((k, _)) =
        labels.iter().find(|(k, v)| k.is_empty() || k.len() > MAX_LABEL_LEN || v.len() > MAX_LABEL_LEN)
    {
        return Err(HttpError::bad_request(format!(
            "{what}: key {k:?} or its value is empty or longer than {MAX_LABEL_LEN} bytes"
        )));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct DesiredQuery {
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    wait_ms: Option<u64>,
}

pub async fn desired(
    Agent(target): Agent,
    State(app): State<SharedApp>,
    QueryParams(q): QueryParams<DesiredQuery>,
) -> HttpResult<Json<DesiredView>> {
    let wait_ms = q.wait_ms.unwrap_or(0);
    if wait_ms > MAX_WAIT_MS {
        return Err(HttpError::bad_request(format!("wait_ms {wait_ms} is over the maximum of {MAX_WAIT_MS}")));
    }
    let mut rx = match app.desired.watch(&target) {
        Some(rx) => rx,
        None => {
            let rec = app.store.get_target(&target).await?;
            app.desired.ensure(&target, rec.desired_version);
            app.desired.watch(&target).ok_or_else(|| HttpError::internal("desired state", "target has no slot"))?
        }
    };
    if let Some(after) = q.after
        && rx.borrow().version <= after
        && wait_ms > 0
    {
        let mut shutdown = app.shutdown.clone();
        tokio::select! {
            _ = rx.wait_for(|d| d.version > after) => {}
            () = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
            _ = shutdown.wait_for(|s| *s) => {}
        }
    }
    let state = rx.borrow().clone();
    Ok(Json(desired_view(&app, &target, &state)))
}

fn desired_view(app: &App, target: &TargetId, state: &TargetDesired) -> DesiredView {
    let spec = app.spec.get();
    let services = state
        .services
        .iter()
        .map(|(name, d)| DesiredService {
            service: name.clone(),
            release: d.release.clone(),
            bundle: d.release.as_ref().map(|r| r.0.clone()),
            rollout: d.rollout.clone(),
            spec_digest: spec.as_ref().and_then(|s| s.service_json(name)).map(|j| j.digest.clone()),
            spec: None,
            known_good: app.services.known_good(name),
        })
        .collect();
    DesiredView {
        target: target.clone(),
        version: state.version,
        services,
        report_interval_ms: app.config.report_interval_ms(),
    }
}

/// `GET /v1/agent/services/{service}/spec`: the canonical JSON whose digest the long-poll
/// answers carry, as computed when the spec was applied. Only a service the caller's desired
/// state names (404 otherwise, as for a service the spec lacks).
pub async fn service_spec(
    Agent(target): Agent,
    State(app): State<SharedApp>,
    PathParams(service): PathParams<String>,
) -> HttpResult<impl IntoResponse> {
    let named = app.desired.get(&target).is_some_and(|d| d.services.contains_key(&service));
    if !named {
        return Err(HttpError::not_found(format!("target {target} has no desired state for service {service:?}")));
    }
    let spec = app.spec.get();
    let Some(json) = spec.as_ref().and_then(|s| s.service_json(&service)) else {
        return Err(HttpError::not_found(format!("the current spec has no service {service:?}")));
    };
    let bytes: Bytes = json.json.clone();
    Ok(([(CONTENT_TYPE, "application/json")], bytes))
}

pub async fn report(
    Agent(target): Agent,
    State(app): State<SharedApp>,
    JsonBody(report): JsonBody<Report>,
) -> HttpResult<Json<ReportAck>> {
    let now = clock::now();
    let recorded = match app.fleet.record(&target, &report, now) {
        Err(ReportError::UnknownTarget(_)) => {
            let rec = app.store.get_target(&target).await?;
            app.fleet.enrolled(&rec);
            app.fleet.record(&target, &report, now)
        }
        other => other,
    }
    .map_err(|e| HttpError::bad_request(e.to_string()))?;
    app.driver.wake();
    for s in &report.services {
        app.metrics.reported_running(&target, &s.service, s.running.as_ref(), now);
    }
    for reason in &recorded.new_failures {
        app.metrics.apply_failed(reason);
    }
    if let Some(upsert) = recorded.upsert {
        // Written with the next batch: a report never waits on the store.
        app.heartbeats.note(upsert);
    }
    let desired_version = app.desired.get(&target).map_or(0, |d| d.version);
    Ok(Json(ReportAck { desired_version }))
}
