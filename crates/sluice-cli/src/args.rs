//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use sluice_core::change::Risk;

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
    /// Start a server and a local fleet of real agents and run the 5 Dec / 18 Nov story.
    Demo(DemoArgs),
    /// Run the control plane: HTTP API, agent protocol, rollout driver.
    Server(ServerArgs),
    /// Run the agent on a node: enroll, watch desired state, apply, report.
    Agent(AgentArgs),
    /// Apply a spec file (services, validators, pipelines) to the server.
    Apply(ApplyArgs),
    /// Create and list releases.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Start, watch and steer rollouts.
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// List services with their known-good release, active rollout and hold; clear a hold.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Approve a rollout waiting at a stage.
    Approve(ApproveArgs),
    /// List targets with their labels and what they run.
    Targets(TargetsArgs),
    /// Print the audit log.
    Events(EventsArgs),
    /// Make one-time enrollment tokens for new agents.
    EnrollmentToken(EnrollmentTokenArgs),
    /// Create, list and revoke operators' named API tokens (admin only).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The demo's edge service (part of `sluice demo`, not for production).
    #[command(hide = true)]
    DemoEdge(DemoEdgeArgs),
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

/// How to reach the server and who we are. Shared by every command that talks to a server.
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// The server's URL.
    #[arg(long, env = "SLUICE_SERVER", default_value = "http://127.0.0.1:7070", global = true)]
    pub server: String,
    /// The bearer token (the admin token from the server's data dir, `admin.token`).
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Read the bearer token from this file instead.
    #[arg(long, env = "SLUICE_TOKEN_FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run the story once without pausing between steps, then stop everything and exit.
    #[arg(long)]
    pub once: bool,
    /// Print the result as JSON (implies no progress bars).
    #[arg(long)]
    pub json: bool,
    /// Keep the demo's data dir (server database, agent state, logs) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub listen: String,
    /// Where the database and the admin token live.
    #[arg(long, default_value = "sluice-data")]
    pub data_dir: PathBuf,
    /// How often agents report health (e.g. `5s`, at least `1s`).
    #[arg(long, default_value = "5s")]
    pub report_interval: String,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The agent's configuration file.
    #[arg(long, short = 'c')]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The spec file (services, validators, pipelines).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Apply even though the spec drops services targets still run (recorded in the audit log).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Validate a release directory locally, upload it, and print the release id.
    Create(ReleaseCreateArgs),
    /// List a service's releases, newest first.
    List(ReleaseListArgs),
}

#[derive(Debug, Args)]
pub struct ReleaseCreateArgs {
    pub service: String,
    /// The release's directory.
    pub dir: PathBuf,
    /// What changed and why (the change record).
    #[arg(short = 'm', long = "message", default_value = "")]
    pub message: String,
    /// The spec file to validate against locally before upload (the server validates again
    /// against its applied spec).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct ReleaseListArgs {
    pub service: String,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Start moving a release through its pipeline.
    Start(RolloutStartArgs),
    /// Show rollouts (all active ones, or one) with their stages, waves and gates.
    Status(RolloutStatusArgs),
    /// Stop promoting; gates keep judging and a failure still rolls back.
    Pause(RolloutIdArgs),
    /// Continue a paused rollout (the current bake starts over).
    Resume(RolloutIdArgs),
    /// Stop and return every touched target to known-good; the service is not held.
    Abort(RolloutIdArgs),
    /// Return every touched target to known-good now and hold the service. On a completed
    /// rollout: revert its service to the known-good before it.
    Rollback(RolloutIdArgs),
    /// Take back your approval of the stage a rollout waits at (before it starts).
    Withdraw(RolloutIdArgs),
    /// Return a service to its previous known-good through the pipeline's emergency profile
    /// (waves and gates, no approvals): the fast path that needs no new release.
    Revert(RolloutRevertArgs),
}

#[derive(Debug, Args)]
pub struct RolloutRevertArgs {
    pub service: String,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: String,
    /// Wait until the revert finishes, showing progress; exit 4 if it did not complete.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct RolloutStartArgs {
    pub service: String,
    /// The release id (or a unique prefix of its hex).
    pub release: String,
    /// The pipeline (default: the service's).
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Emergency profile: shorter bakes, fewer waves, every stage's first wave and gates still
    /// judged. Needs --reason.
    #[arg(long)]
    pub emergency: bool,
    /// Why (an emergency's or broken glass's; recorded in the start event).
    #[arg(long)]
    pub reason: Option<String>,
    /// The change record: what the change does and why.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Where the change is tracked (a URL or an id).
    #[arg(long)]
    pub ticket: Option<String>,
    /// How risky the change is: low, medium or high (not stated: judged high).
    #[arg(long, value_parser = parse_risk)]
    pub risk: Option<Risk>,
    /// The rollback plan in words, beside the automatic one (back to known-good).
    #[arg(long)]
    pub rollback_plan: Option<String>,
    /// Start past what the policy refuses (a pipeline the service does not list, more of prod
    /// at once than max_blast). Needs --reason; nothing moves until a second person approves
    /// (`sluice approve ID`) within 15 minutes.
    #[arg(long)]
    pub break_glass: bool,
    /// Wait until the rollout finishes, showing progress; exit 4 if it did not complete.
    #[arg(long)]
    pub wait: bool,
    /// Refuse (exit with the conflict) instead of queueing behind an active rollout of the
    /// service; by default the release waits behind it (the latest queued release wins).
    #[arg(long)]
    pub no_queue: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct RolloutStatusArgs {
    /// The rollout (default: every active one).
    pub id: Option<String>,
    /// Keep showing live progress until the rollout finishes.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct RolloutIdArgs {
    pub id: String,
    /// Why (recorded in the audit log; required for rollback).
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The rollout awaiting approval.
    pub id: String,
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct TargetsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this rollout's events.
    #[arg(long)]
    pub rollout: Option<String>,
    /// Events after this sequence number.
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// At most this many.
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
    /// Keep printing new events as they come (with --json: one JSON object per line).
    #[arg(long)]
    pub follow: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a named token with a role; its secret is printed once, on stdout.
    Create(TokenCreateArgs),
    /// Every token: name, role, services, who made it and when, revoked or not.
    List(TokenListArgs),
    /// Revoke a token: refused from its next request on.
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Who holds it (letters, digits, `.`, `_`, `@`, `-`): the actor of every event it causes.
    pub name: String,
    /// viewer (reads), deployer (releases and rollouts), approver (approvals and holds) or admin.
    #[arg(long)]
    pub role: String,
    /// Limit a deployer or approver to this service (repeat for several; default: every service).
    #[arg(long = "service")]
    pub services: Vec<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct TokenListArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    pub name: String,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct EnrollmentTokenArgs {
    /// How many one-time tokens to make.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Valid for this long (e.g. `1h`); default: until used.
    #[arg(long)]
    pub ttl: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct DemoEdgeArgs {
    /// Address to serve on.
    #[arg(long)]
    pub listen: String,
    /// The service directory's `current` link (rules.json, flags.json, features.json).
    #[arg(long)]
    pub dir: PathBuf,
    /// Which proxy this edge plays: fl1 (Lua-like) or fl2 (Rust-like).
    #[arg(long)]
    pub proxy: String,
    /// Which ruleset it serves: managed or none.
    #[arg(long)]
    pub ruleset: String,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Every service: known-good release, rollout in progress, hold.
    List(ServiceListArgs),
    /// Clear the hold a failed rollout left, so the service can ship again.
    ClearHold(ClearHoldArgs),
}

#[derive(Debug, Args)]
pub struct ServiceListArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct ClearHoldArgs {
    pub service: String,
    /// Why it is safe to ship again (recorded in the audit log).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub conn: ConnArgs,
}

fn parse_risk(s: &str) -> Result<Risk, String> {
    s.parse()
}
