//! `sluice-cli` owns the one `sluice` binary: argument parsing, the subcommands, how results are
//! printed (text or `--json`) and the documented exit codes. It holds no rollout logic of its
//! own: that lives in `sluice-core` (engine, validators) and `sluice-sim`.

mod args;
pub mod clock;
mod cmd;
pub mod connect;
mod demo;
pub mod exit;
pub mod failure;
mod output;
pub mod render;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

/// Run the CLI with these arguments (the first is the program name).
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let code = match cli.command {
        Command::Check(a) => cmd::check::run(&a),
        Command::Sim(a) => cmd::sim::run(&a),
        Command::Schema => cmd::schema::run(),
        Command::Demo(a) => cmd::demo::run(&a),
        Command::Server(a) => cmd::server::run(&a),
        Command::Agent(a) => cmd::agent::run(&a),
        Command::Apply(a) => cmd::apply::run(&a),
        Command::Release(c) => cmd::release::run(&c),
        Command::Rollout(c) => cmd::rollout::run(&c),
        Command::Service(c) => cmd::service::run(&c),
        Command::Approve(a) => cmd::approve::run(&a),
        Command::Targets(a) => cmd::targets::run(&a),
        Command::Events(a) => cmd::events::run(&a),
        Command::EnrollmentToken(a) => cmd::enrollment_token::run(&a),
        Command::Token(c) => cmd::token::run(&c),
        Command::DemoEdge(a) => cmd::demo_edge::run(&a),
    };
    ExitCode::from(code)
}
