//! One error vocabulary for the whole API: each [`ErrorCode`] has one HTTP status and one
//! stable `code` string; every error body is an [`ApiError`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What went wrong, as clients branch on it. The `code` strings are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed request: bad JSON, bad YAML, a spec with problems, a bad parameter.
    BadRequest,
    /// No token, or a token the server does not know.
    Unauthorized,
    /// A known token that may not do this (an agent asking for another target's state).
    Forbidden,
    NotFound,
    /// The request contradicts current state: a second rollout of a service, a command the
    /// rollout's phase does not allow, a used enrollment token, a stale version.
    Conflict,
    /// A body or bundle over the limit.
    PayloadTooLarge,
    /// A release that failed its validators.
    ValidationFailed,
    /// The server is shutting down or its store is unavailable.
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::ValidationFailed,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::ValidationFailed => 422,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The stable string in error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The code for an HTTP status without a body we understand.
    pub fn from_status(status: u16) -> ErrorCode {
        ErrorCode::ALL.into_iter().find(|c| c.http_status() == status).unwrap_or(ErrorCode::Internal)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error body: `{"code": "conflict", "message": "...", "details": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Structured detail: the validation report, the spec's problems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), details: None }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_round_trip() {
        let mut strs: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        strs.sort_unstable();
        strs.dedup();
        assert_eq!(strs.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, Value::String(code.as_str().to_string()));
            assert_eq!(ErrorCode::from_status(code.http_status()), code);
        }
    }

    #[test]
    fn error_body_shape() {
        let e = ApiError::new(ErrorCode::Conflict, "service edge already has rollout r-1");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "conflict");
        assert!(v.get("details").is_none());
    }
}
