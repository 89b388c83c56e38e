//! Propagation benchmark: how long from a rollout decision until every agent has the new
//! desired release, with N agents long-polling one server on loopback; plus the server's RSS
//! and CPU, the time to start an N-target rollout and the store bytes written per transition.
//! Targets (issue 10): sluice p99 ≤ 1.5 × the floor's at 10,000 agents and ≤ 2 × at 1,000;
//! server RSS ≤ the floor's + 10 KB per agent.
//!
//! For each N the floor runs first ([`sluice_testkit::floor`]: a minimal axum long-poll server
//! and clients of the fake agents' shape, same N, rounds and report interval), then sluice, so
//! the figure that counts is `sluice p99 / floor p99`, which survives a noisy machine. Besides
//! the JSON, each N prints:
//! ```text
//! N agents: sluice p99 X ms, floor p99 Y ms, ratio R x
//! N agents: server RSS A MB idle / B MB peak; floor RSS C MB idle; budget (floor + 10 KB/agent) D MB
//! N agents: start rollout S ms (request), store T ms over K commits; store writes W KB per transition …
//! N agents: data per transition (sluice_store_transition_bytes): start P KB (the plan, written once), every later transition Q KB …
//! ```
//! `store writes` is the server's `write_bytes` (page-granular: WAL frames, checkpoints, the
//! heartbeat batches and the folding of finished rollouts included) over the commits; `data
//! per transition` is what each transition itself wrote (state, events, service state).
//! and the load average (`/proc/loadavg`) at the start and the end.
//!
//! The server runs as a separate process (this executable re-run with `SLUICE_BENCH_ROLE=server`,
//! the floor's with `SLUICE_BENCH_ROLE=floor`) so its RSS and CPU are its own. The agents are fake agents ([`sluice_testkit::fake_agent`])
//! speaking the real protocol from this process; they apply instantly, so the figure is the
//! control plane's: commit of the wave's desired state → long-poll answer at the agent.
//!
//! ```text
//! cargo bench -p sluice-testkit --bench propagation                  # 1,000 and 10,000 agents
//! SLUICE_BENCH_AGENTS=1000 SLUICE_BENCH_ROUNDS=3 cargo bench -p sluice-testkit --bench propagation
//! ```
//! The open-files limit must allow one connection per agent (the bench raises its soft limit
//! to the hard limit; 10,000 agents need about 10,100 descriptors in each process).

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use sluice_api::{ApplySpec, CommandKind, NewEnrollmentTokens, RolloutCommand, StartRollout};
use sluice_core::release::{ReleaseFiles, ReleaseId};
use sluice_testkit::fake_agent::{FakeAgent, FakeAgentSpec, Receipt};
use sluice_testkit::percentile::summarize;
use sluice_testkit::server_process::{ServerProcess, free_port};
use sluice_testkit::{clock, proc_stats, prometheus_text};
use tokio::sync::mpsc;

#[path = "propagation/floor_run.rs"]
mod floor_run;

const SPEC: &str = r#"
version: 1
services:
  bench:
    pipeline: flat
pipelines:
  flat:
    stages:
      - name: all
        selector: { env: bench }
        waves: ["100%"]
        bake: 1s
        gates:
          - threshold: { name: http-5xx, metric: error_rate, max: 0.05, window: 10s, min_samples: 1 }
"#;

const REPORT_INTERVAL: Duration = Duration::from_secs(5);

fn main() -> anyhow::Result<()> {
    raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match std::env::var("SLUICE_BENCH_ROLE").as_deref() {
        Ok("server") => return rt.block_on(serve()),
        Ok("floor") => return rt.block_on(floor_run::serve(REPORT_INTERVAL)),
        _ => {}
    }
    // `cargo bench` passes `--bench`; ignore arguments.
    let sizes: Vec<usize> = std::env::var("SLUICE_BENCH_AGENTS")
        .unwrap_or_else(|_| "1000,10000".to_string())
        .split(',')
        .map(|s| s.trim().parse::<usize>().with_context(|| format!("SLUICE_BENCH_AGENTS: bad number {s:?}")))
        .collect::<anyhow::Result<_>>()?;
    let rounds: usize = std::env::var("SLUICE_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    println!("load average at start: {}", loadavg());
    let mut results = Vec::new();
    for n in sizes {
        let load_start = loadavg();
        let floor = rt.block_on(floor_run::run(n, rounds, REPORT_INTERVAL))?;
        eprintln!("[{n}] floor p99 {} ms; now sluice", floor.propagation_ms.p99);
        let sluice = rt.block_on(bench(n, rounds))?;
        let r = Result::new(n, rounds, sluice, floor, load_start, loadavg());
        r.print_lines();
        results.push(r);
    }
    println!("{}", serde_json::to_string_pretty(&results)?);
    println!("load average at end: {}", loadavg());
    Ok(())
}

/// (idle − base) MB over `n` agents, in KB.
fn per_agent_kb(idle_mb: f64, base_mb: f64, n: usize) -> f64 {
    (idle_mb - base_mb) * 1024.0 / n.max(1) as f64
}

fn loadavg() -> String {
    proc_stats::loadavg().unwrap_or_else(|| "unknown".to_string())
}

/// The server role: run until killed.
async fn serve() -> anyhow::Result<()> {
    let listen = std::env::var("SLUICE_BENCH_LISTEN").context("SLUICE_BENCH_LISTEN")?.parse()?;
    let data_dir = PathBuf::from(std::env::var("SLUICE_BENCH_DATA").context("SLUICE_BENCH_DATA")?);
    let config = sluice_server::ServerConfig::new(listen, data_dir).with_report_interval(REPORT_INTERVAL);
    let _server = sluice_server::start(config).await?;
    std::future::pending::<()>().await;
    Ok(())
}

/// One N: the floor's and sluice's halves and what compares them.
#[derive(Debug, serde::Serialize)]
struct Result {
    agents: usize,
    rounds: usize,
    /// sluice p99 / floor p99 (the floor's p99 taken as at least 1 ms).
    ratio_p99: f64,
    /// Issue 10's memory budget: the floor's idle RSS + 10 KB per agent.
    rss_budget_mb: f64,
    load_start: String,
    load_end: String,
    sluice: Sluice,
    floor: floor_run::FloorResult,
}

impl Result {
    fn new(
        agents: usize,
        rounds: usize,
        sluice: Sluice,
        floor: floor_run::FloorResult,
        load_start: String,
        load_end: String,
    ) -> Result {
        Result {
            agents,
            rounds,
            ratio_p99: sluice.propagation_ms.p99 as f64 / floor.propagation_ms.p99.max(1) as f64,
            rss_budget_mb: floor.rss_idle_mb + agents as f64 * 10.0 / 1024.0,
            load_start,
            load_end,
            sluice,
            floor,
        }
    }

    fn print_lines(&self) {
        let (n, s, f) = (self.agents, &self.sluice, &self.floor);
        println!(
            "{n} agents: sluice p99 {} ms, floor p99 {} ms, ratio {:.2} x",
            s.propagation_ms.p99, f.propagation_ms.p99, self.ratio_p99
        );
        println!(
            "{n} agents: server RSS {:.1} MB idle / {:.1} MB peak; floor RSS {:.1} MB idle; budget (floor + 10 KB/agent) {:.1} MB",
            s.server_rss_idle_mb, s.server_rss_peak_mb, f.rss_idle_mb, self.rss_budget_mb
        );
        println!(
            "{n} agents: RSS per agent (idle less before any agent) sluice {:.1} KB, floor {:.1} KB; before any agent sluice {:.1} MB, floor {:.1} MB",
            per_agent_kb(s.server_rss_idle_mb, s.server_rss_base_mb, n),
            per_agent_kb(f.rss_idle_mb, f.rss_base_mb, n),
            s.server_rss_base_mb,
            f.rss_base_mb,
        );
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        };
        println!(
            "{n} agents: start rollout {:.0} ms (request, median of {}), store {:.1} ms over {:.0} commits; store writes {:.1} KB per transition ({:.1} KB net of idle writes; server write_bytes / commits)",
            median(&s.start_rollout_ms),
            s.start_rollout_ms.len(),
            median(&s.start_store_ms),
            median(&s.start_commits),
            s.write_kb_per_transition,
            s.write_kb_per_transition_net,
        );
        println!(
            "{n} agents: data per transition (sluice_store_transition_bytes): start {:.1} KB (the plan, written once), every later transition {:.2} KB on average over {:.0}",
            median(&s.start_data_kb),
            s.later_data_kb_per_transition,
            s.later_transitions,
        );
        if !s.failed_rounds.is_empty() {
            println!("{n} agents: {} round(s) did not complete: {}", s.failed_rounds.len(), s.failed_rounds.join("; "));
        }
        println!("{n} agents: load average {} at start, {} at end", self.load_start, self.load_end);
    }
}

/// sluice's half of one N.
#[derive(Debug, serde::Serialize)]
struct Sluice {
    /// Decision (wave_started event) → agent got the new desired release, every agent of every round.
    propagation_ms: sluice_testkit::percentile::Summary,
    /// Decision → the last agent of the round, per round.
    all_applied_ms: Vec<u64>,
    enroll_s: f64,
    /// Right after start, before any agent enrolled: what the RSS per agent is measured from.
    server_rss_base_mb: f64,
    server_rss_idle_mb: f64,
    server_rss_peak_mb: f64,
    /// DESIGN.md's budget: 50 MB + 10 KB per agent.
    server_rss_design_budget_mb: f64,
    /// Server CPU while agents idle (long-polling, reporting every 5 s), share of one core.
    server_cpu_idle_pct: f64,
    /// Server CPU over the rounds, share of one core.
    server_cpu_rounds_pct: f64,
    agent_errors: u64,
    /// Rounds whose rollout did not complete (the engine failed it closed), with why.
    failed_rounds: Vec<String>,
    /// `POST /v1/rollouts` → its answer, per round (ms).
    start_rollout_ms: Vec<f64>,
    /// `sluice_store_commit_seconds` sum and count deltas around the start, per round (the
    /// start's own commit, and any other transition committed meanwhile).
    start_store_ms: Vec<f64>,
    start_commits: Vec<f64>,
    /// Server `write_bytes` (`/proc/<pid>/io`: bytes sent to storage, page-granular) over the
    /// rounds, and transitions committed (`sluice_store_commit_seconds_count` delta).
    rounds_write_bytes: u64,
    transitions: f64,
    /// Server `write_bytes` per second while idle (heartbeats: last-seen commits).
    idle_write_bytes_per_s: f64,
    /// `rounds_write_bytes / transitions`, heartbeats during the rounds included.
    write_kb_per_transition: f64,
    /// The same less the idle write rate over the rounds' duration (still counts the extra
    /// reports an apply triggers).
    write_kb_per_transition_net: f64,
    /// Data the start's transition wrote (`sluice_store_transition_bytes`: state, events, the
    /// plan), per round (KB).
    start_data_kb: Vec<f64>,
    /// Data every transition after the start wrote, on average (KB), and how many there were.
    later_data_kb_per_transition: f64,
    later_transitions: f64,
}

/// This executable, or under the wrapper `SLUICE_BENCH_SERVER_WRAP` names (words split on
/// spaces, e.g. `heaptrack -o /tmp/sluice-server` for a heap profile; the RSS and CPU figures
/// are then the wrapper's and mean nothing).
fn server_command() -> anyhow::Result<Command> {
    let exe = std::env::current_exe()?;
    let wrap = std::env::var("SLUICE_BENCH_SERVER_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    Ok(match words.next() {
        None => Command::new(exe),
        Some(program) => {
            let mut cmd = Command::new(program);
            cmd.args(words).arg(exe);
            cmd
        }
    })
}

async fn bench(n: usize, rounds: usize) -> anyhow::Result<Sluice> {
    let dir = tempfile::tempdir()?;
    let addr = free_port()?;
    let mut cmd = server_command()?;
    cmd.env("SLUICE_BENCH_ROLE", "server")
        .env("SLUICE_BENCH_LISTEN", addr.to_string())
        .env("SLUICE_BENCH_DATA", dir.path());
    let mut server = ServerProcess::start(cmd, addr, dir.path(), Duration::from_secs(30)).await?;
    let admin = server.admin()?;
    admin.apply_spec(&ApplySpec { text: SPEC.to_string(), file: Some("bench.yaml".into()), force: false }).await?;

    let base = server.stats().context("server stats")?;
    eprintln!("[{n}] enrolling {n} agents");
    let t0 = clock::now();
    let mut tokens = Vec::with_capacity(n);
    while tokens.len() < n {
        let count = u32::try_from((n - tokens.len()).min(10_000))?;
        tokens.extend(admin.enrollment_tokens(&NewEnrollmentTokens { count, ttl_ms: None }).await?.tokens);
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Receipt>();
    let mut agents = Vec::with_capacity(n);
    let mut pending = tokio::task::JoinSet::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let spec = FakeAgentSpec {
            id: format!("bench-{i:05}"),
            labels: BTreeMap::from([("env".to_string(), "bench".to_string())]),
            services: vec!["bench".to_string()],
            report_interval: REPORT_INTERVAL,
            requests_per_report: 100,
            bad_release: None,
            bad_error_rate: 0.0,
        };
        let (c, tx) = (admin.with_token(None), tx.clone());
        pending.spawn(async move { FakeAgent::start(&c, token, spec, tx).await });
        if pending.len() >= 64
            && let Some(r) = pending.join_next().await
        {
            agents.push(r??);
        }
    }
    while let Some(r) = pending.join_next().await {
        agents.push(r??);
    }
    let enroll_s = clock::now().0.saturating_sub(t0.0) as f64 / 1000.0;
    eprintln!("[{n}] enrolled in {enroll_s:.1} s; idling two report intervals");
    tokio::time::sleep(REPORT_INTERVAL * 2).await;
    let idle_from = server.stats().context("server stats")?;
    let idle_written_from = server.write_bytes()?;
    tokio::time::sleep(REPORT_INTERVAL * 2).await;
    let idle_to = server.stats().context("server stats")?;
    let idle_written = server.write_bytes()?.saturating_sub(idle_written_from);
    let idle_wall_ms = (REPORT_INTERVAL * 2).as_millis() as f64;
    let metrics = Metrics::new(&server.base_url())?;

    let mut all = Vec::new();
    let mut all_applied_ms = Vec::new();
    let (mut start_rollout_ms, mut start_store_ms, mut start_commits) = (Vec::new(), Vec::new(), Vec::new());
    let (mut start_data_kb, mut later_bytes, mut later_transitions) = (Vec::new(), 0.0, 0.0);
    let mut failed_rounds: Vec<String> = Vec::new();
    // From each start to its rollout's end (the release upload before it is left out).
    let (mut rounds_write_bytes, mut transitions, mut transition_wall_ms) = (0u64, 0.0, 0.0);
    let rounds_from = server.stats().context("server stats")?;
    let rounds_t0 = clock::now();
    for round in 0..rounds {
        let files = ReleaseFiles::from([("round.txt".to_string(), format!("round {round}\n").into_bytes())]);
        let bundle = sluice_bundle::pack(&files)?;
        let created = admin.create_release("bench", bundle, &format!("round {round}")).await?;
        let release: ReleaseId = created.release.id.clone();
        let (store_s0, commits0) = metrics.store_commits().await?;
        let (bytes0, _) = metrics.transition_bytes().await?;
        let written0 = server.write_bytes()?;
        let started = tokio::time::Instant::now();
        let view = admin
            .start_rollout(&StartRollout {
                service: "bench".into(),
                release: release.0.clone(),
                pipeline: None,
                emergency: false,
                reason: None,
                seed: Some(round as u64),
                queue: false,
                ..StartRollout::default()
            })
            .await?;
        start_rollout_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let (store_s1, commits1) = metrics.store_commits().await?;
        start_store_ms.push((store_s1 - store_s0) * 1000.0);
        start_commits.push(commits1 - commits0);
        let (bytes1, count1) = metrics.transition_bytes().await?;
        start_data_kb.push((bytes1 - bytes0) / 1024.0);
        let mut receipts = Vec::with_capacity(n);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while receipts.len() < n {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) if r.release.as_ref() == Some(&release) => receipts.push(r),
                Ok(Some(_)) => {}
                Ok(None) => bail!("receipt channel closed"),
                Err(_) => bail!("round {round}: only {} of {n} agents got the release within 120 s", receipts.len()),
            }
        }
        let events = admin.events(0, 10_000, Some(&view.id)).await?;
        let decision =
            events.iter().find(|e| e.kind == "wave_started").map(|e| e.at).context("no wave_started event")?;
        let mut lat: Vec<u64> = receipts.iter().map(|r| r.at.0.saturating_sub(decision.0)).collect();
        all_applied_ms.push(lat.iter().copied().max().unwrap_or(0));
        all.append(&mut lat);
        // Let the rollout finish (bake + gate) before the next round; abort if it lingers.
        let finish_by = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let v = admin.rollout(&view.id).await?;
            if let Some(outcome) = v.outcome {
                if outcome != sluice_core::engine::Outcome::Completed {
                    // The engine failed the round closed (a gate, silence): a finding, not a
                    // crash of the bench. Say why, clear the hold, go on.
                    let why = v.reason.clone().unwrap_or_default();
                    eprintln!("[{n}] round {round}: the rollout ended {outcome:?}: {why}");
                    failed_rounds.push(format!("round {round}: {}: {why}", v.phase));
                    let clear = sluice_api::ClearHold { reason: "propagation bench: next round".into() };
                    admin.clear_hold("bench", &clear).await?;
                }
                break;
            }
            if tokio::time::Instant::now() >= finish_by {
                admin.command(&view.id, CommandKind::Abort, &RolloutCommand::default()).await?;
                bail!("round {round}: rollout {} did not finish within 60 s (phase {})", view.id, v.phase);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        rounds_write_bytes += server.write_bytes()?.saturating_sub(written0);
        let (bytes2, count2) = metrics.transition_bytes().await?;
        later_bytes += bytes2 - bytes1;
        later_transitions += count2 - count1;
        transitions += metrics.store_commits().await?.1 - commits0;
        transition_wall_ms += started.elapsed().as_secs_f64() * 1000.0;
        eprintln!("[{n}] round {round}: all {n} agents had it {} ms after the decision", all_applied_ms[round]);
    }
    let rounds_to = server.stats().context("server stats")?;
    let rounds_wall_ms = clock::now().0.saturating_sub(rounds_t0.0).max(1) as f64;
    let agent_errors = agents.iter().map(|a| a.errors.load(std::sync::atomic::Ordering::Relaxed)).sum();
    for a in agents {
        a.stop().await;
    }
    server.kill9()?;
    let mb = |b: u64| b as f64 / 1_048_576.0;
    let idle_write_bytes_per_s = idle_written as f64 * 1000.0 / idle_wall_ms;
    let per_transition_kb = |bytes: f64| bytes / transitions.max(1.0) / 1024.0;
    Ok(Sluice {
        propagation_ms: summarize(&mut all).context("no receipts")?,
        all_applied_ms,
        enroll_s,
        server_rss_base_mb: mb(base.rss_bytes),
        server_rss_idle_mb: mb(idle_to.rss_bytes),
        server_rss_peak_mb: mb(rounds_to.peak_rss_bytes),
        server_rss_design_budget_mb: 50.0 + n as f64 * 10.0 / 1024.0,
        server_cpu_idle_pct: 100.0 * idle_to.cpu_ms.saturating_sub(idle_from.cpu_ms) as f64 / idle_wall_ms,
        server_cpu_rounds_pct: 100.0 * rounds_to.cpu_ms.saturating_sub(rounds_from.cpu_ms) as f64 / rounds_wall_ms,
        agent_errors,
        failed_rounds,
        start_rollout_ms,
        start_store_ms,
        start_commits,
        rounds_write_bytes,
        transitions,
        idle_write_bytes_per_s,
        write_kb_per_transition: per_transition_kb(rounds_write_bytes as f64),
        write_kb_per_transition_net: per_transition_kb(
            (rounds_write_bytes as f64 - idle_write_bytes_per_s * transition_wall_ms / 1000.0).max(0.0),
        ),
        start_data_kb,
        later_data_kb_per_transition: later_bytes / f64::max(later_transitions, 1.0) / 1024.0,
        later_transitions,
    })
}

/// The server's `/metrics` page (it needs no token).
struct Metrics {
    http: reqwest::Client,
    url: String,
}

impl Metrics {
    fn new(base: &str) -> anyhow::Result<Metrics> {
        Ok(Metrics { http: reqwest::Client::builder().build()?, url: format!("{base}/metrics") })
    }

    /// A histogram's `_sum` and `_count` on the server's `/metrics` now.
    async fn histogram(&self, name: &str) -> anyhow::Result<(f64, f64)> {
        let resp = self.http.get(&self.url).timeout(Duration::from_secs(30)).send().await?.error_for_status()?;
        let text = resp.text().await?;
        let get =
            |series: String| prometheus_text::value(&text, &series).with_context(|| format!("no {series} in /metrics"));
        Ok((get(format!("{name}_sum"))?, get(format!("{name}_count"))?))
    }

    /// `sluice_store_transition_bytes` sum (bytes) and count (transitions) so far.
    async fn transition_bytes(&self) -> anyhow::Result<(f64, f64)> {
        self.histogram("sluice_store_transition_bytes").await
    }

    /// `sluice_store_commit_seconds` sum (seconds) and count (transitions committed) so far.
    async fn store_commits(&self) -> anyhow::Result<(f64, f64)> {
        self.histogram("sluice_store_commit_seconds").await
    }
}

/// Raise the soft open-files limit to the hard limit (one socket per agent on each side).
fn raise_nofile() {
    if let Ok(lim) = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum.ok_or(()) {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit { current: Some(lim), maximum: Some(lim) },
        );
    }
}
