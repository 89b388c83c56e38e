//! `/v1/tokens`: operators' named API tokens (admin only). A token's secret is random, shown
//! once in the answer to its creation and stored as a hash; its name is the actor of every
//! event it causes, so names are checked and never reused; revoking takes effect on the next
//! request.

use axum::Json;
use axum::extract::State;
use sluice_api::{ApiTokenCreated, ApiTokenView, NewApiToken, RevokeApiToken};
use sluice_core::role::Role;
use sluice_store::{ApiTokenRecord, Audit};

use crate::app::SharedApp;
use crate::auth::Admin;
use crate::body::{JsonBody, JsonOrEmpty, PathParams};
use crate::clock;
use crate::driver::{ADMIN_ACTOR, DRIVER_ACTOR};
use crate::http_error::{HttpError, HttpResult};
use crate::secret;

/// Longest token name.
const MAX_NAME: usize = 64;
/// Most services one token may be limited to.
const MAX_SERVICES: usize = 100;

pub async fn create(
    Admin(op): Admin,
    State(app): State<SharedApp>,
    JsonBody(req): JsonBody<NewApiToken>,
) -> HttpResult<Json<ApiTokenCreated>> {
    check_name(&req.name)?;
    let services = check_services(req.role, req.services)?;
    let secret = secret::new_token(secret::API_PREFIX);
    let now = clock::now();
    let record = sluice_store::NewApiToken {
        name: req.name.clone(),
        token_hash: secret::hash(&secret),
        role: req.role,
        services: services.clone(),
        created_by: op.name.clone(),
        created_at: now,
    };
    app.store.create_api_token(&record).await?;
    tracing::info!(name = %req.name, role = %req.role, by = %op.name, "api token created");
    let token = ApiTokenView {
        name: req.name,
        role: req.role,
        services,
        created_by: op.name,
        created_at: now,
        revoked_at: None,
    };
    Ok(Json(ApiTokenCreated { token, secret }))
}

pub async fn list(_: Admin, State(app): State<SharedApp>) -> HttpResult<Json<Vec<ApiTokenView>>> {
    Ok(Json(app.store.list_api_tokens().await?.into_iter().map(view).collect()))
}

pub async fn revoke(
    Admin(op): Admin,
    State(app): State<SharedApp>,
    PathParams(name): PathParams<String>,
    JsonOrEmpty(req): JsonOrEmpty<RevokeApiToken>,
) -> HttpResult<Json<ApiTokenView>> {
    if name == ADMIN_ACTOR {
        return Err(HttpError::bad_request(
            "the first admin token is not an API token: replace it by writing a new one (see the README), not by revoking",
        ));
    }
    let mut audit = Audit::new(op.name.as_str(), clock::now());
    if let Some(reason) = req.reason.filter(|r| !r.trim().is_empty()) {
        audit = audit.because(reason);
    }
    let token = app.store.revoke_api_token(&name, &audit).await?;
    tracing::info!(name = %name, by = %op.name, "api token revoked");
    Ok(Json(view(token)))
}

fn view(t: ApiTokenRecord) -> ApiTokenView {
    ApiTokenView {
        name: t.name,
        role: t.role,
        services: t.services,
        created_by: t.created_by,
        created_at: t.created_at,
        revoked_at: t.revoked_at,
    }
}

/// 1 to [`MAX_NAME`] letters, digits, `.`, `_`, `@`, `-`; not a name the server itself acts
/// under.
fn check_name(name: &str) -> HttpResult<()> {
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(HttpError::bad_request(format!("a token name has 1 to {MAX_NAME} characters, not {:?}", name)));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))) {
        return Err(HttpError::bad_request(format!(
            "token name {name:?}: {c:?} is not allowed (letters, digits, '.', '_', '@', '-')"
        )));
    }
    // Agents act as `agent:<id>`, which no token name can spell (no ':').
    if name == ADMIN_ACTOR || name == DRIVER_ACTOR {
        return Err(HttpError::bad_request(format!(
            "token name {name:?} is reserved: {ADMIN_ACTOR} is the first admin token, {DRIVER_ACTOR} the server itself"
        )));
    }
    Ok(())
}

/// Only deployers and approvers are limited to services (a viewer reads everything, an admin
/// does everything); each named once, none empty.
fn check_services(role: Role, services: Option<Vec<String>>) -> HttpResult<Option<Vec<String>>> {
    let Some(mut list) = services else { return Ok(None) };
    if !matches!(role, Role::Deployer | Role::Approver) {
        return Err(HttpError::bad_request(format!(
            "a {role} token cannot be limited to services: only deployer and approver tokens are"
        )));
    }
    if list.is_empty() || list.len() > MAX_SERVICES {
        return Err(HttpError::bad_request(format!(
            "services: name 1 to {MAX_SERVICES} services, or leave it out for every service"
        )));
    }
    if let Some(bad) = list.iter().find(|s| s.trim().is_empty() || s.trim() != s.as_str()) {
        return Err(HttpError::bad_request(format!("services: {bad:?} is not a service name")));
    }
    list.sort();
    list.dedup();
    Ok(Some(list))
}
