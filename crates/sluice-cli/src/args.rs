//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// sluice: staged, gated rollouts of binaries, config and data files, with automatic rollback.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a spec file and, given SERVICE and DIR, a candidate release offline (for CI).
    Check(CheckArgs),
    /// Replay a scenario: sluice pipelines against a global push, on a simulated fleet.
    Sim(SimArgs),
    /// Print the JSON Schema of the spec file (sluice.yaml).
    Schema,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The spec file.
    #[arg(short = 'f', long = "file", default_value = "sluice.yaml")]
    pub file: PathBuf,
    /// The service whose validators to run.
    pub service: Option<String>,
    /// The candidate release's directory.
    pub dir: Option<PathBuf>,
    /// The parent release's directory (for growth limits).
    #[arg(long)]
    pub parent: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG chart of the share of prod traffic failing over time.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Seed for the simulation (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
}
