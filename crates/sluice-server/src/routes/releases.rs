//! `POST /v1/services/{service}/releases` and `GET` of the same: a release is accepted only if
//! its bundle passes every check of `sluice-bundle` (400 naming the refusal, 413 over the size
//! limit) and the service's validators against the known-good release (422 with the report);
//! otherwise nothing is stored. Both bundles are read in memory, never unpacked to disk.
//! Consumer `check` commands are left to agents (they stay in the report's `checks`).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_api::{ErrorCode, ReleaseCreated, ReleaseView};
use sluice_bundle::{Bundle, BundleError, Limits, read_in_memory, verify_in_memory};
use sluice_core::release::{ReleaseFiles, ReleaseId};
use sluice_core::validate::validate_release;
use sluice_store::Release;

use crate::app::SharedApp;
use crate::auth::Operator;
use crate::body::{PathParams, QueryParams, read_limited};
use crate::clock;
use crate::http_error::{HttpError, HttpResult};

#[derive(Debug, Deserialize)]
pub struct CreateQuery {
    #[serde(default)]
    message: Option<String>,
}

pub async fn create(
    op: Operator,
    State(app): State<SharedApp>,
    PathParams(service): PathParams<String>,
    QueryParams(q): QueryParams<CreateQuery>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult<Json<ReleaseCreated>> {
    op.may_deploy(&service, &format!("create releases of {service}"))?;
    let Some(spec) = app.spec.get() else {
        return Err(HttpError::not_found(format!("service {service} is unknown: no spec has been applied yet")));
    };
    let Some(svc) = spec.spec.services.get(&service) else {
        return Err(HttpError::not_found(format!(
            "service {service} is not in the current spec (version {})",
            spec.version
        )));
    };
    let limit = app.config.max_bundle_bytes.min(svc.max_bundle_bytes);
    let bytes = read_limited(&headers, body, limit, &format!("the bundle for {service}")).await?;
    if bytes.is_empty() {
        return Err(HttpError::bad_request("the request body is empty: send the bundle bytes"));
    }
    let known_good = app.store.get_service_state(&service).await?.known_good;
    let parent_bytes = match &known_good {
        Some(kg) => Some(app.bundles.get(app.store.as_ref(), &kg.0).await?),
        None => None,
    };
    let limits = Limits { max_bundle_bytes: limit, ..Limits::default() };
    let (bundle, parent) = {
        let bytes = bytes.clone();
        let kg = known_good.clone();
        tokio::task::spawn_blocking(move || read_both(&bytes, &limits, kg.zip(parent_bytes)))
            .await
            .map_err(|e| HttpError::internal("read the bundle", e))??
    };
    let digest = bundle.id;
    let report = validate_release(&svc.validators, &bundle.files, parent.as_ref());
    let details = serde_json::to_value(&report).map_err(|e| HttpError::internal("encode the report", e))?;
    if !report.is_ok() {
        let message = format!(
            "release of {service} failed validation ({} violation(s)); nothing was stored:\n{report}",
            report.violations.len()
        );
        return Err(HttpError::new(ErrorCode::ValidationFailed, message).with_details(details));
    }
    let manifest = serde_json::to_value(&bundle.manifest).map_err(|e| HttpError::internal("encode the manifest", e))?;
    let now = clock::now();
    app.store.put_bundle(&digest, &bytes, now).await?;
    let release = Release {
        id: ReleaseId(digest.clone()),
        service: service.clone(),
        parent: known_good,
        created_at: now,
        message: q.message.unwrap_or_default(),
        created_by: op.name.clone(),
        manifest,
        size: bytes.len() as u64,
    };
    let created = app.store.put_release(&release).await?;
    let stored = if created { release } else { app.store.get_release(&release.id).await? };
    if created {
        tracing::info!(release = %stored.id, service = %service, "release created");
    }
    Ok(Json(ReleaseCreated { release: view(&stored), created, validation: report }))
}

/// Reads the upload and (when there is one) the known-good parent, verified against its id,
/// in memory. A refused upload is 400 (413 when over a size limit).
fn read_both(
    bytes: &Bytes,
    limits: &Limits,
    parent: Option<(ReleaseId, Bytes)>,
) -> HttpResult<(Bundle, Option<ReleaseFiles>)> {
    let bundle = read_in_memory(bytes, limits).map_err(refused)?;
    let parent = match parent {
        Some((id, pbytes)) => {
            let big = Limits { max_bundle_bytes: u64::MAX, ..*limits };
            let parent = verify_in_memory(&pbytes, &id.0, &big)
                .map_err(|e| HttpError::internal(&format!("read the known-good release {id}"), e))?;
            Some(parent.files)
        }
        None => None,
    };
    Ok((bundle, parent))
}

fn refused(e: BundleError) -> HttpError {
    let details = json!({ "reason": e.reason() });
    let message = format!("bundle refused: {e}");
    if e.reason() == "too_large" {
        HttpError::too_large(message).with_details(details)
    } else if e.reason() == "io" {
        HttpError::internal("read the bundle", e)
    } else {
        HttpError::bad_request(message).with_details(details)
    }
}

pub async fn list(
    _: Operator,
    State(app): State<SharedApp>,
    PathParams(service): PathParams<String>,
) -> HttpResult<Json<Vec<ReleaseView>>> {
    Ok(Json(app.store.list_releases(&service).await?.iter().map(view).collect()))
}

pub fn view(r: &Release) -> ReleaseView {
    let files = r
        .manifest
        .get("files")
        .and_then(Value::as_array)
        .map(|fs| fs.iter().filter_map(|f| f.get("path").and_then(Value::as_str).map(str::to_string)).collect())
        .unwrap_or_default();
    ReleaseView {
        id: r.id.clone(),
        service: r.service.clone(),
        parent: r.parent.clone(),
        created_at: r.created_at,
        created_by: r.created_by.clone(),
        message: r.message.clone(),
        size: r.size,
        files,
    }
}
