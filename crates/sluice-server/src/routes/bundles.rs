//! `GET /v1/bundles/{digest}`: a release's bundle bytes by digest, for agents (and operators),
//! served from the hot-bundle cache.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::app::SharedApp;
use crate::auth::AnyCaller;
use crate::body::PathParams;
use crate::http_error::{HttpError, HttpResult};

pub async fn get(
    _: AnyCaller,
    State(app): State<SharedApp>,
    PathParams(digest): PathParams<String>,
) -> HttpResult<impl IntoResponse> {
    sluice_bundle::digest_hex(&digest).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let bytes: Bytes = app.bundles.get(app.store.as_ref(), &digest).await?;
    Ok(([(CONTENT_TYPE, "application/octet-stream")], bytes))
}
