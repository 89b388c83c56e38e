//! The contract between sluice's parts: the HTTP/JSON types of the operator API and of the
//! agent protocol, the error codes every error body carries, the route paths, and a typed
//! [`Client`] used by the CLI, the agent and the benchmarks.
//!
//! Routes (all under `/v1`, JSON unless noted; every route but `/healthz` needs
//! `Authorization: Bearer <token>`):
//!
//! | method | path | who | body → answer |
//! |---|---|---|---|
//! | POST | `/v1/specs` | admin | [`ApplySpec`] → [`SpecApplied`] |
//! | GET | `/v1/specs/current` | admin | → [`SpecView`] |
//! | POST | `/v1/services/{service}/releases?message=M` | admin | bundle bytes → [`ReleaseCreated`] |
//! | GET | `/v1/services/{service}/releases` | admin | → `Vec<`[`ReleaseView`]`>` |
//! | GET | `/v1/services` | admin | → `Vec<`[`ServiceView`]`>` |
//! | POST | `/v1/services/{service}/clear-hold` | admin | [`ClearHold`] → [`ServiceView`] |
//! | POST | `/v1/services/{service}/revert` | admin | [`Revert`] → [`RolloutView`] |
//! | POST | `/v1/rollouts` | admin | [`StartRollout`] → [`RolloutView`]; with `queue: true` → [`StartAnswer`] (202 when queued) |
//! | GET | `/v1/rollouts?active=true` | admin | → `Vec<`[`RolloutView`]`>` |
//! | GET | `/v1/rollouts/{id}` | admin | → [`RolloutView`] (`id`: the id or a unique prefix of it) |
//! | GET | `/v1/rollouts/{id}/targets` | admin | → [`RolloutTargetsView`] |
//! | POST | `/v1/rollouts/{id}/{pause,resume,abort,rollback,approve}` | admin | [`RolloutCommand`] → [`RolloutView`] |
//! | GET | `/v1/targets` | admin | → `Vec<`[`TargetView`]`>` |
//! | GET | `/v1/events?after=N&limit=L&rollout=ID` | admin | → `Vec<`[`EventView`]`>` |
//! | POST | `/v1/enrollment-tokens` | admin | [`NewEnrollmentTokens`] → [`EnrollmentTokens`] |
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
    ApplySpec, ClearHold, CommandKind, EventView, HoldView, Position, QueuedView, ReleaseCreated, ReleaseView, Revert,
    RolloutCommand, RolloutTargetsView, RolloutView, ServiceView, SpecApplied, SpecView, StageGateView,
    StageTargetsView, StageView, StartAnswer, StartRollout, TargetServiceView, TargetView, WaveView,
};

/// The header an agent or operator token travels in (`Authorization: Bearer <token>`).
pub const AUTHORIZATION: &str = "authorization";

/// Largest JSON request body the server accepts (specs, reports, commands).
pub const MAX_JSON_BYTES: usize = 4 * 1024 * 1024;
