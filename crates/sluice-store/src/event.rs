//! The event log's records. Every change the store makes appends at least one event in the
//! same transaction: the engine's own events for rollout transitions, and the store's events
//! ([`kind`]) for specs, releases, service states, targets and credentials. Events get a global
//! sequence number in commit order and are never updated or deleted.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_core::engine::Event;
use sluice_core::time::Millis;

use crate::error::{Result, StoreError};

/// The position of an event in the log: assigned in commit order, increasing, never reused.
/// A reader that has seen `n` never later sees a new event numbered `n` or below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventSeq(pub u64);

impl EventSeq {
    /// Before the first event: `events_since(EventSeq::ZERO, ..)` reads from the start.
    pub const ZERO: EventSeq = EventSeq(0);
}

impl std::fmt::Display for EventSeq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The kinds of the events the store appends by itself. Engine events use the engine's tag
/// (`started`, `wave_started`, `gate`, `finished`, ...) as their kind.
pub mod kind {
    /// A spec was applied. Body: `{version}`.
    pub const SPEC_APPLIED: &str = "spec_applied";
    /// A spec was applied with `force` although it drops a service targets still run; one per
    /// dropped service. Body: `{version, service, targets, forced}`.
    pub const SERVICE_DROPPED: &str = "service_dropped";
    /// A release was stored. Body: `{release, service, parent, size, message}`.
    pub const RELEASE_CREATED: &str = "release_created";
    /// A service's known-good, active rollout or hold changed. Body: `{before, after, reason?}`.
    pub const SERVICE_STATE_CHANGED: &str = "service_state_changed";
    /// A target reported for the first time. Body: `{target, labels, facts}`.
    pub const TARGET_REGISTERED: &str = "target_registered";
    /// A target's labels or facts changed. Body: `{target, before, after}`.
    pub const TARGET_CHANGED: &str = "target_changed";
    /// A target's agent credential was set or replaced. Body: `{target, reason?}`.
    pub const AGENT_CREDENTIAL_SET: &str = "agent_credential_set";
    /// An enrollment token was created. Body: `{expires_at}`.
    pub const ENROLLMENT_TOKEN_CREATED: &str = "enrollment_token_created";
    /// An agent spent an enrollment token and got a credential. Body: `{target}`.
    pub const TARGET_ENROLLED: &str = "target_enrolled";
    /// The admin token was set (first start) or replaced. Body: `{replaced, reason?}`.
    pub const ADMIN_TOKEN_SET: &str = "admin_token_set";
    /// An operator's API token was created. Body: `{name, role, services}`.
    pub const API_TOKEN_CREATED: &str = "api_token_created";
    /// An operator's API token was revoked. Body: `{name, reason?}`.
    pub const API_TOKEN_REVOKED: &str = "api_token_revoked";
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub at: Millis,
    pub actor: String,
    pub kind: String,
    /// The rollout it concerns, which must exist.
    pub rollout: Option<String>,
    pub service: Option<String>,
    pub body: Value,
}

impl NewEvent {
    pub fn new(kind: impl Into<String>, actor: impl Into<String>, at: Millis, body: Value) -> NewEvent {
        NewEvent { at, actor: actor.into(), kind: kind.into(), rollout: None, service: None, body }
    }

    pub fn rollout(mut self, rollout: impl Into<String>) -> NewEvent {
        self.rollout = Some(rollout.into());
        self
    }

    pub fn service(mut self, service: impl Into<String>) -> NewEvent {
        self.service = Some(service.into());
        self
    }

    /// An engine event as stored: the kind is the engine's tag and the body the whole event.
    pub fn from_engine(event: &Event, service: &str, actor: &str) -> Result<NewEvent> {
        let body = serde_json::to_value(event).map_err(|e| StoreError::Invalid {
            what: "event",
            id: event.rollout.clone(),
            why: format!("does not serialize: {e}"),
        })?;
        let kind = body.get("event").and_then(Value::as_str).unwrap_or("unknown").to_string();
        Ok(NewEvent {
            at: event.at,
            actor: actor.to_string(),
            kind,
            rollout: Some(event.rollout.clone()),
            service: Some(service.to_string()),
            body,
        })
    }
}

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub seq: EventSeq,
    pub at: Millis,
    pub actor: String,
    pub kind: String,
    pub rollout: Option<String>,
    pub service: Option<String>,
    pub body: Value,
}

impl StoredEvent {
    /// The engine event, if this is one (its body carries the engine's tag equal to `kind`).
    pub fn engine_event(&self) -> Result<Option<Event>> {
        if self.body.get("event").and_then(Value::as_str) != Some(self.kind.as_str()) {
            return Ok(None);
        }
        serde_json::from_value(self.body.clone()).map(Some).map_err(|e| StoreError::Corrupt {
            what: "event",
            id: self.seq.to_string(),
            why: format!("engine event does not deserialize: {e}"),
        })
    }
}
