//! Integration tests of the SQLite store: one binary, modules by concern.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod api_tokens;
mod crash;
mod entities;
mod events;
mod fixtures;
mod reopen;
mod rollouts;
