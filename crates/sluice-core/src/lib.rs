//! `sluice-core` is the pure heart of sluice: the vocabulary (targets, services, releases,
//! pipelines, stages, waves, gates), the spec file format and its parser, the validators a
//! release must pass, the gate statistics and the rollout engine.
//!
//! It must never do I/O, read a clock, or draw randomness it was not handed: the server and the
//! simulator run the very same engine, one on a wall clock and one on a virtual clock, and a
//! seed must reproduce a run exactly. Time comes in as [`time::Millis`], observations through the
//! [`engine::Observations`] trait, and decisions go out as [`engine::Action`]s.

pub mod change;
pub mod engine;
pub mod gate;
pub mod labels;
pub mod policy;
pub mod release;
pub mod role;
pub mod spec;
pub mod time;
pub mod validate;
