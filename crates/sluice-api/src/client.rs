//! A typed client for the whole API. Errors separate "the server said no" ([`ClientError::Api`],
//! with its stable code) from "could not talk to it" ([`ClientError::Unreachable`]), because
//! callers act differently on each (the CLI's exit codes; the agent's backoff).

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::agent::{DesiredView, Enroll, Enrolled, EnrollmentTokens, NewEnrollmentTokens, Report, ReportAck};
use crate::error::{ApiError, ErrorCode};
use crate::operator::{
    ApiTokenCreated, ApiTokenView, ApplySpec, ClearHold, CommandKind, EventView, NewApiToken, ReleaseCreated,
    ReleaseView, Revert, RevokeApiToken, RolloutCommand, RolloutTargetsView, RolloutView, ServiceView, SpecApplied,
    SpecView, StartAnswer, StartRollout, TargetView,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{0}")]
    Api(ApiError),
    /// No answer: connection refused, timeout, reset.
    #[error("server {url} unreachable: {message}")]
    Unreachable { url: String, message: String },
    /// An answer we could not read.
    #[error("bad answer from {url}: {message}")]
    BadResponse { url: String, message: String },
}

impl ClientError {
    /// The API error code, when the server answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api(e) => Some(e.code),
            _ => None,
        }
    }
}

/// A connection to one sluice server with one bearer token. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// `base` is the server's URL (`http://127.0.0.1:7070`); `token` the bearer token.
    pub fn new(base: &str, token: Option<String>) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| ClientError::Unreachable { url: base.to_string(), message: e.to_string() })?;
        Ok(Client { base: base.trim_end_matches('/').to_string(), token, http })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The same server with another token.
    pub fn with_token(&self, token: Option<String>) -> Client {
        Client { base: self.base.clone(), token, http: self.http.clone() }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    async fn send(&self, rb: RequestBuilder, path: &str, timeout: Duration) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{}", self.base, path);
        let resp = rb
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable { url: url.clone(), message: error_chain(&e) })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body =
            resp.bytes().await.map_err(|e| ClientError::Unreachable { url: url.clone(), message: e.to_string() })?;
        Err(ClientError::Api(decode_error(status, &body)))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        rb: RequestBuilder,
        path: &str,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let url = format!("{}{}", self.base, path);
        let resp = self.send(rb, path, timeout).await?;
        let body =
            resp.bytes().await.map_err(|e| ClientError::Unreachable { url: url.clone(), message: e.to_string() })?;
        serde_json::from_slice(&body).map_err(|e| ClientError::BadResponse { url, message: e.to_string() })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(self.request(Method::GET, path), path, DEFAULT_TIMEOUT).await
    }

    async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        self.json(self.request(Method::POST, path).json(body), path, DEFAULT_TIMEOUT).await
    }

    // --- operator ---

    pub async fn apply_spec(&self, spec: &ApplySpec) -> Result<SpecApplied, ClientError> {
        self.post("/v1/specs", spec).await
    }

    pub async fn current_spec(&self) -> Result<SpecView, ClientError> {
        self.get("/v1/specs/current").await
    }

    /// Upload a bundle (made with `sluice_bundle::pack`) as a release of `service`.
    pub async fn create_release(
        &self,
        service: &str,
        bundle: Vec<u8>,
        message: &str,
    ) -> Result<ReleaseCreated, ClientError> {
        let path = format!("/v1/services/{}/releases", segment(service));
        let rb = self
            .request(Method::POST, &path)
            .query(&[("message", message)])
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bundle);
        self.json(rb, &path, UPLOAD_TIMEOUT).await
    }

    pub async fn list_releases(&self, service: &str) -> Result<Vec<ReleaseView>, ClientError> {
        self.get(&format!("/v1/services/{}/releases", segment(service))).await
    }

    pub async fn services(&self) -> Result<Vec<ServiceView>, ClientError> {
        self.get("/v1/services").await
    }

    /// Clear the hold a failed rollout left on `service`.
    pub async fn clear_hold(&self, service: &str, req: &ClearHold) -> Result<ServiceView, ClientError> {
        self.post(&format!("/v1/services/{}/clear-hold", segment(service)), req).await
    }

    /// Return `service` to its previous known-good (emergency profile, no approvals).
    pub async fn revert(&self, service: &str, req: &Revert) -> Result<RolloutView, ClientError> {
        self.post(&format!("/v1/services/{}/revert", segment(service)), req).await
    }

    /// Start a rollout; refused (409) while another rollout of the service is active.
    pub async fn start_rollout(&self, start: &StartRollout) -> Result<RolloutView, ClientError> {
        let start = StartRollout { queue: false, ..start.clone() };
        self.post("/v1/rollouts", &start).await
    }

    /// Start a rollout, or queue it behind the service's active one (latest wins).
    pub async fn start_or_queue(&self, start: &StartRollout) -> Result<StartAnswer, ClientError> {
        let start = StartRollout { queue: true, ..start.clone() };
        self.post("/v1/rollouts", &start).await
    }

    pub async fn rollouts(&self, active_only: bool) -> Result<Vec<RolloutView>, ClientError> {
        self.get(if active_only { "/v1/rollouts?active=true" } else { "/v1/rollouts" }).await
    }

    pub async fn rollout(&self, id: &str) -> Result<RolloutView, ClientError> {
        self.get(&format!("/v1/rollouts/{}", segment(id))).await
    }

    /// Which targets a rollout covers and told to move, stage by stage.
    pub async fn rollout_targets(&self, id: &str) -> Result<RolloutTargetsView, ClientError> {
        self.get(&format!("/v1/rollouts/{}/targets", segment(id))).await
    }

    pub async fn command(&self, id: &str, kind: CommandKind, cmd: &RolloutCommand) -> Result<RolloutView, ClientError> {
        self.post(&format!("/v1/rollouts/{}/{}", segment(id), kind.as_str()), cmd).await
    }

    pub async fn targets(&self) -> Result<Vec<TargetView>, ClientError> {
        self.get("/v1/targets").await
    }

    /// Up to `limit` events after sequence number `after`, optionally of one rollout.
    pub async fn events(&self, after: u64, limit: u32, rollout: Option<&str>) -> Result<Vec<EventView>, ClientError> {
        let mut path = format!("/v1/events?after={after}&limit={limit}");
        if let Some(r) = rollout {
            path.push_str("&rollout=");
            path.push_str(&segment(r));
        }
        self.get(&path).await
    }

    pub async fn enrollment_tokens(&self, req: &NewEnrollmentTokens) -> Result<EnrollmentTokens, ClientError> {
        self.post("/v1/enrollment-tokens", req).await
    }

    pub async fn create_token(&self, req: &NewApiToken) -> Result<ApiTokenCreated, ClientError> {
        self.post("/v1/tokens", req).await
    }

    pub async fn tokens(&self) -> Result<Vec<ApiTokenView>, ClientError> {
        self.get("/v1/tokens").await
    }

    pub async fn revoke_token(&self, name: &str, reason: Option<&str>) -> Result<ApiTokenView, ClientError> {
        let path = format!("/v1/tokens/{}/revoke", segment(name));
        self.post(&path, &RevokeApiToken { reason: reason.map(str::to_string) }).await
    }

    // --- agent ---

    pub async fn enroll(&self, enroll: &Enroll) -> Result<Enrolled, ClientError> {
        self.post("/v1/agent/enroll", enroll).await
    }

    /// Long-poll: returns when the desired version passes `after` or `wait` ends.
    pub async fn desired(&self, after: Option<u64>, wait: Duration) -> Result<DesiredView, ClientError> {
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let path = match after {
            Some(v) => format!("/v1/agent/desired?after={v}&wait_ms={wait_ms}"),
            None => "/v1/agent/desired".to_string(),
        };
        self.json(self.request(Method::GET, &path), &path, wait + DEFAULT_TIMEOUT).await
    }

    pub async fn report(&self, report: &Report) -> Result<ReportAck, ClientError> {
        self.post("/v1/agent/report", report).await
    }

    /// Download a bundle by digest, refusing more than `max_bytes`. The caller verifies the
    /// digest (the agent does, before anything is unpacked).
    pub async fn bundle(&self, digest: &str, max_bytes: u64) -> Result<Vec<u8>, ClientError> {
        let path = format!("/v1/bundles/{}", segment(digest));
        let resp = self.send(self.request(Method::GET, &path), &path, UPLOAD_TIMEOUT).await?;
        self.read_capped(resp, &path, max_bytes, &format!("bundle {digest}")).await
    }

    /// The canonical JSON of `service`'s spec as the agent's server has it now (at most
    /// [`MAX_JSON_BYTES`](crate::MAX_JSON_BYTES)). The caller checks the bytes against the
    /// digest the long-poll named (the spec may have changed since) before parsing them.
    pub async fn service_spec(&self, service: &str) -> Result<Vec<u8>, ClientError> {
        let path = format!("/v1/agent/services/{}/spec", segment(service));
        let resp = self.send(self.request(Method::GET, &path), &path, DEFAULT_TIMEOUT).await?;
        self.read_capped(resp, &path, crate::MAX_JSON_BYTES as u64, &format!("the spec of service {service:?}")).await
    }

    /// The body of `resp`, refused (as too large) past `max_bytes`.
    async fn read_capped(
        &self,
        mut resp: reqwest::Response,
        path: &str,
        max_bytes: u64,
        what: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let too_large = || {
            ClientError::Api(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("{what} is larger than {max_bytes} bytes"),
            ))
        };
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(too_large());
        }
        let url = format!("{}{}", self.base, path);
        let mut out = Vec::new();
        while let Some(chunk) =
            resp.chunk().await.map_err(|e| ClientError::Unreachable { url: url.clone(), message: e.to_string() })?
        {
            out.extend_from_slice(&chunk);
            if out.len() as u64 > max_bytes {
                return Err(too_large());
            }
        }
        Ok(out)
    }

    /// `GET /healthz`: true when the server answers.
    pub async fn healthy(&self) -> bool {
        let path = "/healthz";
        self.send(self.http.get(format!("{}{}", self.base, path)), path, Duration::from_secs(2)).await.is_ok()
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// An error body, or a made-up one naming the status when the body is not ours.
fn decode_error(status: StatusCode, body: &[u8]) -> ApiError {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(e) => e,
        Err(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            ApiError::new(ErrorCode::from_status(status.as_u16()), format!("HTTP {status}: {text}"))
        }
    }
}

/// Percent-encode a path segment.
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error and its sources, `: `-joined (reqwest's own message hides the cause).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        cur = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("sha256:ab/../x"), "sha256:ab%2F..%2Fx");
        assert_eq!(segment("r 1"), "r%201");
    }

    #[test]
    fn foreign_error_bodies_keep_the_status() {
        let e = decode_error(StatusCode::FORBIDDEN, b"<html>nope</html>");
        assert_eq!(e.code, ErrorCode::Forbidden);
        assert!(e.message.contains("nope"));
        let e = decode_error(StatusCode::CONFLICT, br#"{"code":"conflict","message":"busy"}"#);
        assert_eq!(e.message, "busy");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let c = Client::new(&format!("http://{addr}"), None).unwrap();
        assert!(matches!(c.targets().await, Err(ClientError::Unreachable { .. })));
    }
}
