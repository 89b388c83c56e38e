//! Why a server-facing command failed, and the documented exit code for it (`exit.rs`).
//!
//! A server that said no prints its stable error code and message (and its details: the spec's
//! located problems, a release's violations); a server that did not answer names the URL.

use serde_json::Value;
use sluice_api::{ApiError, ClientError, ErrorCode};
use sluice_core::validate::ValidationReport;

use crate::connect::ConnError;
use crate::exit;

/// The exit code for a client error: the server refused the request as bad, unauthorized,
/// forbidden, not found, conflicting or too large → usage (2); it rejected a release's
/// validation → 3; it was not reachable or is unavailable → 5; it failed or answered
/// something unreadable → internal (1).
pub fn exit_code(e: &ClientError) -> u8 {
    match e {
        ClientError::Api(api) => match api.code {
            ErrorCode::BadRequest
            | ErrorCode::Unauthorized
            | ErrorCode::Forbidden
            | ErrorCode::NotFound
            | ErrorCode::Conflict
            | ErrorCode::PayloadTooLarge => exit::USAGE,
            ErrorCode::ValidationFailed => exit::REJECTED,
            ErrorCode::Unavailable => exit::UNREACHABLE,
            ErrorCode::Internal => exit::INTERNAL,
        },
        ClientError::Unreachable { .. } => exit::UNREACHABLE,
        ClientError::BadResponse { .. } => exit::INTERNAL,
    }
}

/// The text printed on stderr for a client error (without the `error: ` prefix), with the
/// error's details one per line.
pub fn describe(e: &ClientError) -> String {
    match e {
        ClientError::Api(api) => describe_api(api),
        ClientError::Unreachable { url, message } => {
            format!("could not reach the server at {url}: {message} (is `sluice server` running? see --server)")
        }
        ClientError::BadResponse { url, message } => {
            format!("unreadable answer from {url}: {message} (a CLI and server of different versions?)")
        }
    }
}

fn describe_api(api: &ApiError) -> String {
    let mut out = format!("the server refused ({}): {}", api.code, api.message);
    let Some(details) = &api.details else { return out };
    let report = serde_json::from_value::<ValidationReport>(details.clone())
        .ok()
        .or_else(|| details.get("validation").and_then(|v| serde_json::from_value(v.clone()).ok()));
    if let Some(report) = report.filter(|r| !r.violations.is_empty()) {
        out.push_str(&violations(&report));
        return out;
    }
    let mut lines = Vec::new();
    detail_lines(details, &mut lines);
    for l in lines {
        out.push_str("\n  ");
        out.push_str(&l);
    }
    out
}

/// One line per violation: `validator  file[:path]  message`.
pub fn violations(report: &ValidationReport) -> String {
    let mut out = String::new();
    for v in &report.violations {
        let place = match &v.path {
            Some(p) if !p.is_empty() => format!("{}:{p}", v.file),
            _ => v.file.clone(),
        };
        out.push_str(&format!("\n  {} (validator #{}) {place}: {}", v.validator, v.index, v.message));
    }
    out
}

/// Flatten error details into readable lines: strings as they are, problems as
/// `file:line:column: at `path`: message` when they carry those fields, the rest as JSON.
fn detail_lines(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Null => {}
        Value::String(s) => out.extend(s.lines().map(str::to_string)),
        Value::Array(items) => items.iter().for_each(|i| detail_lines(i, out)),
        Value::Object(map) => {
            if let Some(msg) = map.get("message").and_then(Value::as_str) {
                let mut place = String::new();
                if let Some(f) = map.get("file").and_then(Value::as_str) {
                    place.push_str(f);
                }
                for k in ["line", "column"] {
                    if let Some(n) = map.get(k).and_then(Value::as_u64) {
                        place.push_str(&format!(":{n}"));
                    }
                }
                if let Some(p) = map.get("path").and_then(Value::as_str).filter(|p| !p.is_empty()) {
                    place.push_str(&format!("{}at `{p}`", if place.is_empty() { "" } else { ": " }));
                }
                out.push(if place.is_empty() { msg.to_string() } else { format!("{place}: {msg}") });
            } else if map.len() == 1
                && let Some((k, inner)) = map.iter().next()
                && (inner.is_array() || inner.is_object())
            {
                // `{"problems": [...]}`: the list is the detail.
                let before = out.len();
                detail_lines(inner, out);
                if out.len() == before {
                    out.push(format!("{k}: {inner}"));
                }
            } else {
                out.push(v.to_string());
            }
        }
        other => out.push(other.to_string()),
    }
}

/// Why a server-facing command stopped.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or configuration found before talking to the server.
    Usage(String),
    /// A local check rejected the release (the violations were printed already).
    Rejected(String),
    /// The server said no, or could not be reached.
    Client(ClientError),
    /// Something that should not happen.
    Internal(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => exit::USAGE,
            Failure::Rejected(_) => exit::REJECTED,
            Failure::Client(e) => exit_code(e),
            Failure::Internal(_) => exit::INTERNAL,
        }
    }

    /// Print the failure (stderr; with `json`, a server's error body also goes to stdout as
    /// JSON) and return its exit code.
    pub fn report(&self, json: bool) -> u8 {
        match self {
            Failure::Usage(m) | Failure::Rejected(m) | Failure::Internal(m) => eprintln!("error: {m}"),
            Failure::Client(e) => {
                if json
                    && let ClientError::Api(api) = e
                    && let Ok(s) = serde_json::to_string_pretty(&serde_json::json!({ "error": api }))
                {
                    println!("{s}");
                }
                eprintln!("error: {}", describe(e));
            }
        }
        self.exit_code()
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure::Client(e)
    }
}

impl From<ConnError> for Failure {
    fn from(e: ConnError) -> Failure {
        match e {
            ConnError::Runtime(_) => Failure::Internal(e.to_string()),
            other => Failure::Usage(other.to_string()),
        }
    }
}
