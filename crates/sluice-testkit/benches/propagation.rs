//! Propagation benchmark: how long from a rollout decision until every agent has the new
//! desired release, with N agents long-polling one server on loopback; plus the server's RSS
//! and CPU. DESIGN.md targets: p99 ≤ 1 s at 10,000 agents; server ≤ 50 MB + 10 KB per agent.
//!
//! The server runs as a separate process (this executable re-run with `SLUICE_BENCH_ROLE=server`)
//! so its RSS and CPU are its own. The agents are fake agents ([`sluice_testkit::fake_agent`])
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
use sluice_testkit::{clock, proc_stats};
use tokio::sync::mpsc;

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
    if std::env::var("SLUICE_BENCH_ROLE").as_deref() == Ok("server") {
        return rt.block_on(serve());
    }
    // `cargo bench` passes `--bench`; ignore arguments.
    let sizes: Vec<usize> = std::env::var("SLUICE_BENCH_AGENTS")
        .unwrap_or_else(|_| "1000,10000".to_string())
        .split(',')
        .map(|s| s.trim().parse::<usize>().with_context(|| format!("SLUICE_BENCH_AGENTS: bad number {s:?}")))
        .collect::<anyhow::Result<_>>()?;
    let rounds: usize = std::env::var("SLUICE_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut results = Vec::new();
    for n in sizes {
        results.push(rt.block_on(bench(n, rounds))?);
    }
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(())
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

#[derive(Debug, serde::Serialize)]
struct Result {
    agents: usize,
    rounds: usize,
    /// Decision (wave_started event) → agent got the new desired release, every agent of every round.
    propagation_ms: sluice_testkit::percentile::Summary,
    /// Decision → the last agent of the round, per round.
    all_applied_ms: Vec<u64>,
    enroll_s: f64,
    server_rss_idle_mb: f64,
    server_rss_peak_mb: f64,
    /// Target from DESIGN.md: 50 MB + 10 KB per agent.
    server_rss_budget_mb: f64,
    /// Server CPU while agents idle (long-polling, reporting every 5 s), share of one core.
    server_cpu_idle_pct: f64,
    /// Server CPU over the rounds, share of one core.
    server_cpu_rounds_pct: f64,
    agent_errors: u64,
}

async fn bench(n: usize, rounds: usize) -> anyhow::Result<Result> {
    let dir = tempfile::tempdir()?;
    let addr = free_port()?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env("SLUICE_BENCH_ROLE", "server")
        .env("SLUICE_BENCH_LISTEN", addr.to_string())
        .env("SLUICE_BENCH_DATA", dir.path());
    let server = ServerProcess::start(cmd, addr, dir.path(), Duration::from_secs(30)).await?;
    let admin = server.admin()?;
    admin.apply_spec(&ApplySpec { text: SPEC.to_string(), file: Some("bench.yaml".into()) }).await?;

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
    let idle_from = proc_stats::read(server.pid()).context("server stats")?;
    tokio::time::sleep(REPORT_INTERVAL * 2).await;
    let idle_to = proc_stats::read(server.pid()).context("server stats")?;
    let idle_wall_ms = (REPORT_INTERVAL * 2).as_millis() as f64;

    let mut all = Vec::new();
    let mut all_applied_ms = Vec::new();
    let rounds_from = proc_stats::read(server.pid()).context("server stats")?;
    let rounds_t0 = clock::now();
    for round in 0..rounds {
        let files = ReleaseFiles::from([("round.txt".to_string(), format!("round {round}\n").into_bytes())]);
        let bundle = sluice_bundle::pack(&files)?;
        let created = admin.create_release("bench", bundle, &format!("round {round}")).await?;
        let release: ReleaseId = created.release.id.clone();
        let view = admin
            .start_rollout(&StartRollout {
                service: "bench".into(),
                release: release.0.clone(),
                pipeline: None,
                emergency: false,
                reason: None,
                seed: Some(round as u64),
            })
            .await?;
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
            if v.outcome.is_some() {
                break;
            }
            if tokio::time::Instant::now() >= finish_by {
                admin.command(&view.id, CommandKind::Abort, &RolloutCommand::default()).await?;
                bail!("round {round}: rollout {} did not finish within 60 s (phase {})", view.id, v.phase);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!("[{n}] round {round}: all {n} agents had it {} ms after the decision", all_applied_ms[round]);
    }
    let rounds_to = proc_stats::read(server.pid()).context("server stats")?;
    let rounds_wall_ms = clock::now().0.saturating_sub(rounds_t0.0).max(1) as f64;
    let agent_errors = agents.iter().map(|a| a.errors.load(std::sync::atomic::Ordering::Relaxed)).sum();
    for a in agents {
        a.stop().await;
    }
    server.kill9()?;
    let mb = |b: u64| b as f64 / 1_048_576.0;
    Ok(Result {
        agents: n,
        rounds,
        propagation_ms: summarize(&mut all).context("no receipts")?,
        all_applied_ms,
        enroll_s,
        server_rss_idle_mb: mb(idle_to.rss_bytes),
        server_rss_peak_mb: mb(rounds_to.peak_rss_bytes),
        server_rss_budget_mb: 50.0 + n as f64 * 10.0 / 1024.0,
        server_cpu_idle_pct: 100.0 * idle_to.cpu_ms.saturating_sub(idle_from.cpu_ms) as f64 / idle_wall_ms,
        server_cpu_rounds_pct: 100.0 * rounds_to.cpu_ms.saturating_sub(rounds_from.cpu_ms) as f64 / rounds_wall_ms,
        agent_errors,
    })
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
