#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! Integration tests: real servers on port 0 with real SQLite in temp dirs, driven through
//! `sluice_api::Client`, with in-test fake agents.

mod agents;
mod auth;
mod fake_agent;
mod fake_prometheus;
mod fleet_checks;
mod harness;
mod metrics;
mod policy;
mod prometheus_gates;
mod real_prometheus;
mod releases;
mod restart;
mod rollouts;
mod service_specs;
mod specs;
mod tokens;
