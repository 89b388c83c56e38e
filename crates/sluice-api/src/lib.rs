//! The contract between sluice's parts: the HTTP/JSON types of the operator API and of the
//! agent protocol, the error codes every error body carries, the route paths, and a typed
//! [`Client`] used by the CLI, the agent and the benchmarks.
//!
//! Routes (all under `/v1`, JSON unless noted; every route but `/healthz` needs
//! `Authorization: Bearer <token>`). Operators' tokens carry a role (`viewer`, `deployer`,
//! `approver`, `admin`: [`Role`]) and deployers and approvers may be limited to services;
//! "any" is any operator token, "deployer"/"approver" also admit `admin`, and "steer" admits
//! deployers and approvers:
//!
//! | method | path | who | body → answer |
//! |---|---|---|---|
//! | POST | `/v1/specs` | admin | [`ApplySpec`] → [`SpecApplied`] |
//! | GET | `/v1/specs/current` | any | → [`SpecView`] |
//! | POST | `/v1/services/{service}/releases?message=M` | deployer | bundle bytes → [`ReleaseCreated`] |
//! | GET | `/v1/services/{service}/releases` | any | → `Vec<`[`ReleaseView`]`>` |
//! | GET | `/v1/services` | any | → `Vec<`[`ServiceView`]`>` |
//! | POST | `/v1/services/{service}/clear-hold` | approver | [`ClearHold`] → [`ServiceView`] |
//! | POST | `/v1/services/{service}/revert` | deployer | [`Revert`] → [`RolloutView`] |
//! | POST | `/v1/rollouts` | deployer | [`StartRollout`] → [`RolloutView`]; with `queue: true` → [`StartAnswer`] (202 when queued) |
//! | GET | `/v1/rollouts?active=true` | any | → `Vec<`[`RolloutView`]`>` |
//! | GET | `/v1/rollouts/{id}` | any | → [`RolloutView`] (`id`: the id or a unique prefix of it) |
//! | GET | `/v1/rollouts/{id}/targets` | any | → [`RolloutTargetsView`] |
//! | POST | `/v1/rollouts/{id}/{pause,resume,abort,rollback}` | steer | [`RolloutCommand`] → [`RolloutView`] |
//! | POST | `/v1/rollouts/{id}/approve` | approver | [`RolloutCommand`] → [`RolloutView`] |
//! | GET | `/v1/targets` | any | → `Vec<`[`TargetView`]`>` |
//! | GET | `/v1/events?after=N&limit=L&rollout=ID` | any | → `Vec<`[`EventView`]`>` |
//! | POST | `/v1/enrollment-tokens` | admin | [`NewEnrollmentTokens`] → [`EnrollmentTokens`] |
//! | POST | `/v1/tokens` | admin | [`NewApiToken`] → [`ApiTokenCreated`] (the secret, shown once) |
//! | GET | `/v1/tokens` | admin | → `Vec<`[`ApiTokenView`]`>` |
//! | POST | `/v1/tokens/{name}/revoke` | admin | [`RevokeApiToken`] → [`ApiTokenView`] |
//! | POST | `/v1/agent/enroll` | enrollment token in body | [`Enroll`] → [`Enrolled`] |
//! | GET | `/v1/agent/desired?after=V&wait_ms=W` | agent | → [`DesiredView`] (long-poll) |
//! | GET | `/v1/agent/services/{service}/spec` | agent | → the service's spec, canonical JSON whose sha256 is [`DesiredService::spec_digest`] (only a service its desired state names) |
//! | POST | `/v1/agent/report` | agent | [`Report`] → [`ReportAck`] |
//! | GET | `/v1/bundles/{digest}` | agent or admin | → bundle bytes |

pub mod agent;
pub mod client;
pub mod error;
pub mod operator;

pub use agent::{
    ApplyReport, DesiredService, DesiredView, Enroll, Enrolled, EnrollmentTokens, NewEnrollmentTokens, Report,
    ReportAck, ServiceReport,
};
pub use client::{Client, ClientError};
pub use error::{ApiError, ErrorCode};
pub use operator::{
    ApiTokenCreated, ApiTokenView, ApplySpec, ClearHold, CommandKind, EventView, HoldView, NewApiToken, Position,
    QueuedView, ReleaseCreated, ReleaseView, Revert, RevokeApiToken, RolloutCommand, RolloutTargetsView, RolloutView,
    ServiceView, SpecApplied, SpecView, StageGateView, StageTargetsView, StageView, StartAnswer, StartRollout,
    TargetServiceView, TargetView, WaveView,
};
pub use sluice_core::role::Role;

/// The header an agent or operator token travels in (`Authorization: Bearer <token>`).
pub const AUTHORIZATION: &str = "authorization";

/// Largest JSON request body the server accepts (specs, reports, commands).
pub const MAX_JSON_BYTES: usize = 4 * 1024 * 1024;
