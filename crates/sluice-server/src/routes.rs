//! The HTTP surface: the route table of `sluice_api` (see its crate docs), each route's handler
//! in a module named after what it serves. Unknown paths and methods answer in the API's
//! error shape too.

mod agent;
mod bundles;
mod enrollment;
mod events;
mod metrics;
mod releases;
mod rollouts;
mod services;
mod specs;
mod targets;
mod tokens;

use axum::Router;
use axum::routing::{get, post};

use crate::app::SharedApp;
use crate::http_error::HttpError;

pub fn router(app: SharedApp) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::get))
        .route("/v1/specs", post(specs::apply))
        .route("/v1/specs/current", get(specs::current))
        .route("/v1/services/{service}/releases", post(releases::create).get(releases::list))
        .route("/v1/services", get(services::list))
        .route("/v1/services/{service}/clear-hold", post(services::clear_hold))
        .route("/v1/services/{service}/revert", post(services::revert))
        .route("/v1/rollouts", post(rollouts::start).get(rollouts::list))
        .route("/v1/rollouts/{id}", get(rollouts::get))
        .route("/v1/rollouts/{id}/targets", get(rollouts::targets))
        .route("/v1/rollouts/{id}/{command}", post(rollouts::command))
        .route("/v1/targets", get(targets::list))
        .route("/v1/events", get(events::list))
        .route("/v1/enrollment-tokens", post(enrollment::create))
        .route("/v1/tokens", post(tokens::create).get(tokens::list))
        .route("/v1/tokens/{name}/revoke", post(tokens::revoke))
        .route("/v1/agent/enroll", post(agent::enroll))
        .route("/v1/agent/desired", get(agent::desired))
        .route("/v1/agent/services/{service}/spec", get(agent::service_spec))
        .route("/v1/agent/report", post(agent::report))
        .route("/v1/bundles/{digest}", get(bundles::get))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn not_found(uri: axum::http::Uri) -> HttpError {
    HttpError::not_found(format!("no route {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> HttpError {
    HttpError::new(sluice_api::ErrorCode::NotFound, format!("no route {method} {}", uri.path()))
}
