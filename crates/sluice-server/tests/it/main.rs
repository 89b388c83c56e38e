//! Integration tests of the server: real HTTP on port 0, real SQLite in a temp dir.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
