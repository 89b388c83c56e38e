//! Every refusal the HTTP layer gives: an [`ApiError`] body with the status of its code. Store
//! errors map onto codes here (not found → 404, conflict → 409, invalid → 400, anything else →
//! 503/500 and a log line).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sluice_api::{ApiError, ErrorCode};
use sluice_store::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl HttpError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> HttpError {
        HttpError(ApiError::new(code, message))
    }

    pub fn bad_request(message: impl Into<String>) -> HttpError {
        HttpError::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> HttpError {
        HttpError::new(ErrorCode::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> HttpError {
        HttpError::new(ErrorCode::Conflict, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> HttpError {
        HttpError::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> HttpError {
        HttpError::new(ErrorCode::Forbidden, message)
    }

    pub fn unavailable(message: impl Into<String>) -> HttpError {
        HttpError::new(ErrorCode::Unavailable, message)
    }

    pub fn too_large(message: impl Into<String>) -> HttpError {
        HttpError::new(ErrorCode::PayloadTooLarge, message)
    }

    /// A failure that is ours, not the caller's: logged, answered as `internal`.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> HttpError {
        tracing::error!(error = %err, "{context}");
        HttpError::new(ErrorCode::Internal, format!("{context}: {err}"))
    }

    pub fn with_details(mut self, details: Value) -> HttpError {
        self.0.details = Some(details);
        self
    }
}

impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> HttpError {
        match &e {
            StoreError::NotFound { .. } => HttpError::not_found(e.to_string()),
            StoreError::Conflict { .. } => HttpError::conflict(e.to_string()),
            StoreError::Invalid { .. } => HttpError::bad_request(e.to_string()),
            StoreError::Database(_) | StoreError::Io { .. } => {
                tracing::error!(error = %e, "store unavailable");
                HttpError::new(ErrorCode::Unavailable, format!("store unavailable: {e}"))
            }
            StoreError::Corrupt { .. } | StoreError::Migrate(_) => HttpError::internal("store", &e),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0)).into_response()
    }
}

/// The result type of handlers.
pub type HttpResult<T> = Result<T, HttpError>;
