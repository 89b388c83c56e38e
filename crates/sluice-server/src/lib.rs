//! `sluice-server`: the control plane. It owns the HTTP API of `sluice_api` (operators and
//! agents, bearer-token auth, size limits), the agent protocol (enrollment, desired-state
//! long-polls, reports, bundle downloads) and the rollout driver that steps
//! `sluice_core::engine` rollouts with what agents report and persists every transition in
//! `sluice_store` before acting on it. Gates may read a health source instead of agents'
//! reports: the health-source poller queries Prometheus for them (see `health_poller`). The
//! server's own metrics are on `GET /metrics`, without a token (see `metrics`).
//!
//! One server per data directory (`data_dir_lock`). It must never act on a decision before the
//! store has it, never let an agent read or report
//! for a target other than its own, never store a release that failed verification or
//! validation, never log a secret, and never panic on input from outside the process.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let config = sluice_server::ServerConfig::new("127.0.0.1:0".parse()?, "/tmp/sluice-data");
//! let server = sluice_server::start(config).await?;
//! println!("{} (admin token in {})", server.base_url(), server.admin_token_path().display());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```

mod admin_token;
mod app;
mod auth;
mod body;
mod bundle_cache;
pub mod clock;
pub mod config;
mod current_spec;
pub mod data_dir_lock;
mod desired;
mod driver;
mod failpoint;
mod fleet;
mod fleet_checks;
mod folding;
mod health_poller;
mod heartbeats;
mod http_error;
mod listener;
mod metrics;
mod observations;
mod prometheus_query;
mod report_log;
mod revert;
mod rollout_view;
mod routes;
mod sample_retention;
mod secret;
mod server;
mod service_states;
mod source_status;
mod spec_digest;

pub use admin_token::ADMIN_TOKEN_FILE;
pub use config::{ConfigError, DEFAULT_MAX_BUNDLE_BYTES, DEFAULT_REPORT_INTERVAL, MIN_REPORT_INTERVAL, ServerConfig};
pub use server::{RunningServer, start};
