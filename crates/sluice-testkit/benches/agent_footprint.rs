//! Agent footprint: a real `sluice agent` process, enrolled with an in-process server, after it
//! applied one release, left idle; its RSS and CPU over the idle window. DESIGN.md target:
//! RSS ≤ 15 MB and ~0 CPU idle.
//!
//! ```text
//! cargo build --release -p sluice-cli && cargo bench -p sluice-testkit --bench agent_footprint
//! SLUICE_BIN=/path/to/sluice SLUICE_IDLE_SECS=30 cargo bench -p sluice-testkit --bench agent_footprint
//! ```

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use sluice_api::{ApplySpec, NewEnrollmentTokens, StartRollout};
use sluice_core::release::ReleaseFiles;
use sluice_testkit::{clock, proc_stats};

const SPEC: &str = r#"
version: 1
services:
  files:
    pipeline: p
pipelines:
  p:
    stages:
      - name: all
        selector: { env: bench }
        bake: 1s
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
"#;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let bin = std::env::var_os("SLUICE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/sluice"));
    if !bin.exists() {
        bail!("{} not found: run `cargo build --release -p sluice-cli` first, or set SLUICE_BIN", bin.display());
    }
    let idle = Duration::from_secs(std::env::var("SLUICE_IDLE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60));
    let dir = tempfile::tempdir()?;
    let server =
        sluice_server::start(sluice_server::ServerConfig::new("127.0.0.1:0".parse()?, dir.path().join("server")))
            .await?;
    let token = std::fs::read_to_string(server.admin_token_path())?;
    let admin = sluice_api::Client::new(&server.base_url(), Some(token.trim().to_string()))?;
    admin.apply_spec(&ApplySpec { text: SPEC.into(), file: None, force: false }).await?;
    let enroll = admin.enrollment_tokens(&NewEnrollmentTokens { count: 1, ttl_ms: None }).await?.tokens;
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir)?;
    let config = agent_dir.join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "server: {}\nid: footprint\nenrollment_token: \"{}\"\nstate_dir: {}\nlabels: {{env: bench}}\nservices:\n  files: {{}}\n",
            server.base_url(),
            enroll[0],
            agent_dir.display()
        ),
    )?;
    let mut child = Command::new(&bin)
        .args(["agent", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let pid = child.id();
    // Wait for it to enroll, then apply one release so the agent has done real work.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while admin.targets().await?.iter().all(|t| !t.connected) {
        if tokio::time::Instant::now() > deadline {
            bail!("the agent did not report within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let files = ReleaseFiles::from([("app.conf".to_string(), vec![b'x'; 64 * 1024])]);
    let release = admin.create_release("files", sluice_bundle::pack(&files)?, "footprint").await?.release.id;
    let r = admin
        .start_rollout(&StartRollout {
            service: "files".into(),
            release: release.0,
            pipeline: None,
            emergency: false,
            reason: None,
            seed: None,
            queue: false,
            ..StartRollout::default()
        })
        .await?;
    while admin.rollout(&r.id).await?.outcome.is_none() {
        if tokio::time::Instant::now() > deadline + Duration::from_secs(30) {
            bail!("the rollout did not finish");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let from = proc_stats::read(pid).context("agent stats")?;
    let t0 = clock::now();
    tokio::time::sleep(idle).await;
    let to = proc_stats::read(pid).context("agent stats")?;
    let wall_ms = clock::now().0.saturating_sub(t0.0).max(1);
    let _ = child.kill();
    let _ = child.wait();
    server.shutdown().await?;
    let mb = |b: u64| b as f64 / 1_048_576.0;
    let result = serde_json::json!({
        "idle_s": wall_ms as f64 / 1000.0,
        "report_interval_s": 5,
        "rss_mb": mb(to.rss_bytes),
        "peak_rss_mb": mb(to.peak_rss_bytes),
        "cpu_ms_idle": to.cpu_ms.saturating_sub(from.cpu_ms),
        "cpu_pct_idle": 100.0 * to.cpu_ms.saturating_sub(from.cpu_ms) as f64 / wall_ms as f64,
        "target": "rss <= 15 MB, ~0 CPU idle",
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
