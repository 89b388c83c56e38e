//! A server process and agent processes in one temp dir, and waits with deadlines.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sluice_api::{ApplySpec, Client, NewEnrollmentTokens, RolloutView, StartRollout, TargetView};
use sluice_core::engine::Event;
use sluice_core::release::{ReleaseFiles, ReleaseId};
use sluice_testkit::server_process::{ServerProcess, free_port};

pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// Poll `f` every 50 ms until it gives `Some`, or fail after `within` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An agent process, killed when dropped.
#[derive(Debug)]
pub struct AgentProc {
    pub id: String,
    pub dir: PathBuf,
    child: Child,
}

impl AgentProc {
    /// The live release directory of `service` on this agent.
    pub fn current(&self, service: &str) -> PathBuf {
        self.dir.join("services").join(service).join("current")
    }

    /// Where `current` points now (`None`: nothing applied).
    pub fn current_target(&self, service: &str) -> Option<PathBuf> {
        std::fs::read_link(self.current(service)).ok()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGSTOP: the process stays, holds its connections, and sends nothing — a hung host.
    /// It is continued when the guard drops, whatever path the test takes.
    pub fn freeze(&self) -> Frozen {
        let pid = self.pid();
        rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
        Frozen { pid: Some(pid) }
    }

    /// SIGKILL and reap: the host died, no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn pid(&self) -> rustix::process::Pid {
        rustix::process::Pid::from_raw(i32::try_from(self.child.id()).unwrap()).unwrap()
    }
}

/// A stopped agent process (see [`AgentProc::freeze`]); SIGCONT when dropped or thawed.
#[derive(Debug)]
#[must_use = "the agent is continued when this guard drops"]
pub struct Frozen {
    pid: Option<rustix::process::Pid>,
}

impl Frozen {
    pub fn thaw(mut self) {
        self.cont();
    }

    fn cont(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.cont();
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server and its fleet.
#[derive(Debug)]
pub struct Rig {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub server: Option<ServerProcess>,
    pub agents: Vec<AgentProc>,
}

impl Rig {
    /// Starts a server (report interval 1 s) and applies `spec`.
    pub async fn start(spec: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_port().unwrap();
        let mut rig = Rig { dir, addr, server: None, agents: Vec::new() };
        rig.start_server().await;
        rig.apply_spec(spec).await;
        rig
    }

    /// Applies `spec` (it replaces the one applied before).
    pub async fn apply_spec(&self, spec: &str) {
        self.admin()
            .apply_spec(&ApplySpec { text: spec.to_string(), file: Some("e2e.yaml".into()), force: false })
            .await
            .unwrap();
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("server")
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn start_server(&mut self) {
        self.start_server_with(&[]).await;
    }

    /// Start the server with extra environment variables (a failpoint).
    pub async fn start_server_with(&mut self, env: &[(&str, &str)]) {
        let data = self.data_dir();
        let mut cmd = Command::new(BIN);
        cmd.args(["server", "--listen", &self.addr.to_string(), "--report-interval", "1s", "--data-dir"]).arg(&data);
        cmd.envs(env.iter().copied());
        let sp = ServerProcess::start(cmd, self.addr, &data, Duration::from_secs(30)).await.unwrap();
        self.server = Some(sp);
    }

    /// Wait for the server to exit on its own (a failpoint aborted it); its exit status.
    pub async fn wait_server_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut sp = self.server.take().expect("a running server");
        sp.wait_exit(within).await.unwrap()
    }

    /// SIGKILL the server: no shutdown code runs.
    pub fn kill9_server(&mut self) {
        if let Some(sp) = self.server.take() {
            sp.kill9().unwrap();
        }
    }

    pub fn admin(&self) -> Client {
        let token = std::fs::read_to_string(self.data_dir().join("admin.token")).unwrap();
        Client::new(&self.base_url(), Some(token.trim().to_string())).unwrap()
    }

    /// Starts an agent process with `labels` managing `services` (name → extra YAML lines of
    /// its host config, indented for the service's map).
    pub async fn add_agent(&mut self, id: &str, labels: &[(&str, &str)], services: &[(&str, &str)]) {
        let token = self
            .admin()
            .enrollment_tokens(&NewEnrollmentTokens { count: 1, ttl_ms: None })
            .await
            .unwrap()
            .tokens
            .remove(0);
        let dir = self.agent_dir(id);
        std::fs::create_dir_all(&dir).unwrap();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let mut yaml = format!(
            "server: {}\nid: {id}\nenrollment_token: \"{token}\"\nstate_dir: {}\nlabels: {{{}}}\nreport_interval: 1s\nservices:\n",
            self.base_url(),
            dir.display(),
            labels.join(", ")
        );
        for (name, extra) in services {
            yaml.push_str(&format!("  {name}:\n    path: {}\n", dir.join("services").join(name).display()));
            for line in extra.lines().filter(|l| !l.trim().is_empty()) {
                yaml.push_str("    ");
                yaml.push_str(line);
                yaml.push('\n');
            }
        }
        let config = dir.join("agent.yaml");
        std::fs::write(&config, yaml).unwrap();
        let log = std::fs::File::create(dir.join("agent.log")).unwrap();
        let child = Command::new(BIN)
            .args(["agent", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.agents.push(AgentProc { id: id.to_string(), dir, child });
    }

    /// Where agent `id` keeps its state (known before it starts: a test can serve what its
    /// services read from there).
    pub fn agent_dir(&self, id: &str) -> PathBuf {
        self.dir.path().join("agents").join(id)
    }

    /// Waits until every agent reports (connected, with a report for each service).
    pub async fn wait_fleet_ready(&self) -> Vec<TargetView> {
        let admin = self.admin();
        let n = self.agents.len();
        wait_for("every agent to enroll and report", Duration::from_secs(30), || {
            let admin = admin.clone();
            async move {
                let t = admin.targets().await.ok()?;
                (t.len() == n && t.iter().all(|t| t.connected)).then_some(t)
            }
        })
        .await
    }

    /// Packs and uploads a release; returns its id.
    pub async fn release(&self, service: &str, files: &[(&str, &str)]) -> ReleaseId {
        let files: ReleaseFiles = files.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect();
        let bundle = sluice_bundle::pack(&files).unwrap();
        self.admin().create_release(service, bundle, "e2e").await.unwrap().release.id
    }

    pub async fn start_rollout(&self, service: &str, release: &ReleaseId) -> RolloutView {
        self.admin()
            .start_rollout(&StartRollout {
                service: service.into(),
                release: release.0.clone(),
                pipeline: None,
                emergency: false,
                reason: None,
                seed: Some(7),
                queue: false,
                ..StartRollout::default()
            })
            .await
            .unwrap()
    }

    /// Waits until the rollout satisfies `pred`; on timeout, fails with the rollout's last
    /// state, its events and the tail of every log.
    pub async fn wait_rollout(
        &self,
        id: &str,
        what: &str,
        within: Duration,
        pred: impl Fn(&RolloutView) -> bool,
    ) -> RolloutView {
        let admin = self.admin();
        let deadline = tokio::time::Instant::now() + within;
        let mut last = None;
        loop {
            if let Ok(v) = admin.rollout(id).await {
                if pred(&v) {
                    return v;
                }
                last = Some(v);
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let events = admin.events(0, 10_000, Some(id)).await.unwrap_or_default();
        let mut logs = String::new();
        for a in &self.agents {
            let log = std::fs::read_to_string(a.dir.join("agent.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            logs.push_str(&format!("--- agent {} ---\n", a.id));
            for l in tail.into_iter().rev() {
                logs.push_str(l);
                logs.push('\n');
            }
        }
        let server_log = std::fs::read_to_string(self.data_dir().join("server.log")).unwrap_or_default();
        let server_tail: Vec<&str> = server_log.lines().rev().take(20).collect();
        panic!(
            "timed out after {within:?} waiting for {what}\nlast state: {:?}\ngates: {:#?}\nevents: {:#?}\n{logs}--- server ---\n{}",
            last.as_ref().map(|v| (&v.phase, v.position)),
            last.as_ref().map(|v| &v.gates),
            events.iter().map(|e| (&e.kind, &e.body)).collect::<Vec<_>>(),
            server_tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }

    /// Waits until the rollout has an outcome.
    pub async fn wait_finished(&self, id: &str, within: Duration) -> RolloutView {
        self.wait_rollout(id, &format!("rollout {id} to finish"), within, |v| v.outcome.is_some()).await
    }

    pub fn agent(&self, id: &str) -> &AgentProc {
        self.agents.iter().find(|a| a.id == id).unwrap()
    }

    pub fn agent_mut(&mut self, id: &str) -> &mut AgentProc {
        self.agents.iter_mut().find(|a| a.id == id).unwrap()
    }

    /// The engine events of rollout `id`, in order.
    pub async fn engine_events(&self, id: &str) -> Vec<Event> {
        let events = self.admin().events(0, 10_000, Some(id)).await.unwrap();
        events.into_iter().filter_map(|e| serde_json::from_value(e.body).ok()).collect()
    }
}

/// The release directory name an agent keeps for a release id (`sha256:<hex>` → `<hex>`).
pub fn release_dir_name(id: &ReleaseId) -> String {
    id.0.trim_start_matches("sha256:").to_string()
}

/// Does `link` point at the directory of `id`?
pub fn points_at(link: Option<&Path>, id: &ReleaseId) -> bool {
    link.and_then(|p| p.file_name()).is_some_and(|n| n.to_string_lossy() == release_dir_name(id))
}
