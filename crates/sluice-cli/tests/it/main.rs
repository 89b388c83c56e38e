//! The `sluice` binary end to end: real process, real files, exit codes and messages.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a test binary: failing loudly is the point

mod against_mock;
mod check;
mod connect;
mod demo;
mod e2e;
mod failure;
mod fixtures;
mod mock_server;
mod nginx_fleet;
mod operator;
mod render;
mod sim;

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).args(args).current_dir(repo()).output().expect("run sluice")
}

pub fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}
