//! Everything the story runs on: the demo directory, the control plane, 48 demo edges with an
//! agent each, and steady traffic to every edge. Built in order, each part waited for with a
//! bound; stopped in reverse order (dropping it also kills every child).

use std::cell::Cell;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use sluice_api::{Client, NewEnrollmentTokens};

use super::agent_config::{self, AgentSetup};
use super::bundled;
use super::children::Children;
use super::control_plane::ControlPlane;
use super::fleet::{self, Member};
use super::progress::Progress;
use super::traffic::{Endpoint, Traffic};
use super::wait;
use crate::cmd::demo_edge::LIFELINE_ENV;

/// Requests per second each edge gets from the load generator.
const REQUESTS_PER_SECOND: u32 = 10;
/// How long every edge gets to answer its health check after starting.
const EDGES_UP: Duration = Duration::from_secs(30);
/// How long every agent gets to enroll and report.
const AGENTS_UP: Duration = Duration::from_secs(60);

pub struct Rig {
    /// The demo's directory (server data, releases, edges, agents, logs).
    pub dir: PathBuf,
    /// Deletes `dir` on drop, unless the demo keeps it.
    tmp: Option<tempfile::TempDir>,
    pub server: Option<ControlPlane>,
    pub client: Client,
    pub members: Vec<Member>,
    /// Where the bundled releases were written.
    pub releases: PathBuf,
    pub traffic: Option<Traffic>,
    children: Children,
}

impl Rig {
    /// Build the whole rig, narrating on `progress`.
    pub async fn build(keep: bool, progress: &Progress) -> anyhow::Result<Rig> {
        let tmp =
            tempfile::Builder::new().prefix("sluice-demo-").tempdir().context("failed to create the demo directory")?;
        let (dir, tmp) = if keep { (tmp.keep(), None) } else { (tmp.path().to_path_buf(), Some(tmp)) };
        progress.say(&format!("demo directory: {}", dir.display()));
        let releases = bundled::write(&dir).context("failed to write the demo's spec and releases")?;
        for sub in ["logs", "edges", "agents"] {
            std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("failed to create {sub}/"))?;
        }

        let server = ControlPlane::start(&dir.join("server")).await?;
        let token = std::fs::read_to_string(server.admin_token_path())
            .with_context(|| format!("failed to read the admin token {}", server.admin_token_path().display()))?;
        let client = Client::new(server.base_url(), Some(token.trim().to_string()))?;
        progress.say(&format!("control plane: {}", server.base_url()));

        let mut rig = Rig {
            dir,
            tmp,
            server: Some(server),
            client,
            members: fleet::members(),
            releases,
            traffic: None,
            children: Children::default(),
        };
        let ports = rig.start_edges().await?;
        rig.start_agents(&ports).await?;
        progress.say(&format!("fleet: {}; {} processes started", describe(&rig.members), rig.children.len()));
        let endpoints: Vec<Endpoint> = rig
            .members
            .iter()
            .zip(&ports)
            .map(|(m, port)| Endpoint { target: m.id.clone(), url: format!("http://127.0.0.1:{port}/") })
            .collect();
        rig.traffic = Some(Traffic::start(&endpoints, REQUESTS_PER_SECOND));
        rig.wait_for_agents(progress).await?;
        Ok(rig)
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }

    /// Start one demo edge per member; returns their ports once every one answers `/healthz`.
    async fn start_edges(&mut self) -> anyhow::Result<Vec<u16>> {
        let exe = std::env::current_exe().context("failed to find the sluice binary")?;
        let mut ports = Vec::new();
        for m in self.members.clone() {
            let port = free_port()?;
            let service_dir = self.dir.join("edges").join(&m.id);
            std::fs::create_dir_all(&service_dir)?;
            let args = [
                "demo-edge".to_string(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
                "--dir".into(),
                service_dir.join("current").display().to_string(),
                "--proxy".into(),
                m.proxy.to_string(),
                "--ruleset".into(),
                m.ruleset.to_string(),
            ];
            let log = self.log(&format!("{}.edge", m.id));
            self.children.spawn(&format!("edge {}", m.id), &exe, &args, &[(LIFELINE_ENV, "1")], &log, true)?;
            ports.push(port);
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        for (m, port) in self.members.clone().iter().zip(&ports) {
            let url = format!("http://127.0.0.1:{port}/healthz");
            wait::until(&format!("edge {} to answer {url}", m.id), EDGES_UP, Duration::from_millis(50), || {
                let exited = self.children.exited();
                let http = http.clone();
                let url = url.clone();
                async move {
                    if !exited.is_empty() {
                        return Err(format!("exited: {}", exited.join(", ")));
                    }
                    match http.get(&url).send().await {
                        Ok(r) if r.status().is_success() => Ok(()),
                        Ok(r) => Err(format!("HTTP {}", r.status())),
                        Err(e) => Err(e.to_string()),
                    }
                }
            })
            .await?;
        }
        Ok(ports)
    }

    /// Write each member's `agent.yaml` and start its agent.
    async fn start_agents(&mut self, ports: &[u16]) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("failed to find the sluice binary")?;
        let count = u32::try_from(self.members.len())?;
        let tokens = self.client.enrollment_tokens(&NewEnrollmentTokens { count, ttl_ms: None }).await?.tokens;
        if tokens.len() != self.members.len() {
            bail!("asked for {count} enrollment tokens, got {}", tokens.len());
        }
        let base = self.client.base().to_string();
        for ((m, port), token) in self.members.clone().iter().zip(ports).zip(&tokens) {
            let agent_dir = self.dir.join("agents").join(&m.id);
            let state_dir = agent_dir.join("state");
            std::fs::create_dir_all(&state_dir)?;
            let config = agent_config::render(&AgentSetup {
                server: &base,
                member: m,
                enrollment_token: token,
                state_dir: &state_dir,
                service_dir: &self.dir.join("edges").join(&m.id),
                edge_port: *port,
                service: bundled::SERVICE,
            });
            let path = agent_dir.join("agent.yaml");
            std::fs::write(&path, config).with_context(|| format!("failed to write {}", path.display()))?;
            let args = ["agent".to_string(), "--config".into(), path.display().to_string()];
            let log = self.log(&format!("{}.agent", m.id));
            self.children.spawn(&format!("agent {}", m.id), &exe, &args, &[], &log, false)?;
        }
        Ok(())
    }

    /// Every member enrolled and reporting.
    async fn wait_for_agents(&mut self, progress: &Progress) -> anyhow::Result<()> {
        let want = self.members.len();
        let client = self.client.clone();
        let shown = Cell::new(usize::MAX);
        wait::until(&format!("all {want} agents to report"), AGENTS_UP, Duration::from_millis(250), || {
            let exited = self.children.exited();
            let client = client.clone();
            let shown = &shown;
            async move {
                if !exited.is_empty() {
                    return Err(format!("exited: {}", exited.join(", ")));
                }
                let targets = client.targets().await.map_err(|e| e.to_string())?;
                let connected = targets.iter().filter(|t| t.connected).count();
                if connected != shown.replace(connected) {
                    progress.say(&format!("agents reporting: {connected}/{want}"));
                }
                if connected >= want { Ok(()) } else { Err(format!("{connected} of {want} agents reporting")) }
            }
        })
        .await
        .with_context(|| format!("see the logs in {}", self.dir.join("logs").display()))?;
        Ok(())
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Whether the demo directory is kept after the rig stops.
    pub fn kept(&self) -> bool {
        self.tmp.is_none()
    }

    /// Stop the traffic, the agents, the edges, then the server.
    pub async fn stop(mut self) {
        self.traffic = None;
        self.children.stop(Duration::from_secs(5)).await;
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// `dev 2, test 2, staging 4 (1 fl1+managed), prod 40 (11 fl1+managed)`.
fn describe(members: &[Member]) -> String {
    fleet::STAGES
        .iter()
        .map(|env| {
            let n = members.iter().filter(|m| m.env == *env).count();
            let hit = members.iter().filter(|m| m.env == *env && m.is_fl1_managed()).count();
            if hit > 0 { format!("{env} {n} ({hit} fl1+managed)") } else { format!("{env} {n}") }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A free loopback port (bound and released; the edge binds it right after).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("failed to find a free port")?;
    Ok(l.local_addr()?.port())
}
