//! `POST /v1/enrollment-tokens`: one-time tokens for new agents, random, shown once, stored by
//! hash, all in one transaction.

use axum::Json;
use axum::extract::State;
use sluice_api::{EnrollmentTokens, NewEnrollmentTokens};
use sluice_core::time::Dur;
use sluice_store::NewEnrollmentToken;

use crate::app::SharedApp;
use crate::auth::Admin;
use crate::body::JsonBody;
use crate::clock;
use crate::http_error::{HttpError, HttpResult};
use crate::secret;

/// Most tokens one request makes.
pub const MAX_COUNT: u32 = 10_000;

pub async fn create(
    Admin(op): Admin,
    State(app): State<SharedApp>,
    JsonBody(req): JsonBody<NewEnrollmentTokens>,
) -> HttpResult<Json<EnrollmentTokens>> {
    if req.count == 0 || req.count > MAX_COUNT {
        return Err(HttpError::bad_request(format!("count must be 1..={MAX_COUNT}, got {}", req.count)));
    }
    if req.ttl_ms == Some(0) {
        return Err(HttpError::bad_request("ttl_ms must be more than 0 (omit it for no expiry)"));
    }
    let now = clock::now();
    let expires_at = req.ttl_ms.map(|ttl| now + Dur(ttl));
    let tokens: Vec<String> = (0..req.count).map(|_| secret::new_token(secret::ENROLL_PREFIX)).collect();
    let records: Vec<NewEnrollmentToken> = tokens
        .iter()
        .map(|t| NewEnrollmentToken {
            token_hash: secret::hash(t),
            created_by: op.name.clone(),
            created_at: now,
            expires_at,
        })
        .collect();
    app.store.create_enrollment_tokens(&records).await?;
    tracing::info!(count = req.count, "enrollment tokens created");
    Ok(Json(EnrollmentTokens { tokens }))
}
