//! A sluice server in a child process: started from a command the caller builds (the `sluice`
//! binary in end-to-end tests, the benchmark's own executable in benchmarks), waited for until
//! `/healthz` answers, and stopped with SIGKILL — the crash a test wants to survive.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use sluice_api::Client;

/// A free loopback port: bound, read, released. Another process could take it in between;
/// callers that start a server on it retry on "address in use".
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// A running server process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Its `/proc` files, opened at start (readable even once this process is out of descriptors).
    proc: Option<crate::proc_stats::ProcFiles>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
}

impl ServerProcess {
    /// Runs `cmd` (which must make the server listen on `addr` with data in `data_dir`) and
    /// waits up to `ready_within` for `/healthz`. The child's stderr goes to `data_dir/server.log`.
    pub async fn start(
        mut cmd: Command,
        addr: SocketAddr,
        data_dir: &Path,
        ready_within: Duration,
    ) -> anyhow::Result<ServerProcess> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("create {}", data_dir.display()))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .with_context(|| format!("open {}", data_dir.join("server.log").display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .context("spawn the server")?;
        let proc = crate::proc_stats::ProcFiles::open(child.id()).ok();
        let mut sp = ServerProcess { child, proc, addr, data_dir: data_dir.to_path_buf() };
        let client = Client::new(&sp.base_url(), None)?;
        let deadline = tokio::time::Instant::now() + ready_within;
        loop {
            if client.healthy().await {
                return Ok(sp);
            }
            if let Some(status) = sp.child.try_wait()? {
                bail!(
                    "server exited with {status} before it answered; see {}",
                    sp.data_dir.join("server.log").display()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = sp.child.kill();
                bail!("server did not answer /healthz within {ready_within:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The admin token the server wrote at first start.
    pub fn admin_token(&self) -> anyhow::Result<String> {
        let path = self.data_dir.join("admin.token");
        let t = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        Ok(t.trim().to_string())
    }

    /// An admin client.
    pub fn admin(&self) -> anyhow::Result<Client> {
        Ok(Client::new(&self.base_url(), Some(self.admin_token()?))?)
    }

    /// The server's resident memory and CPU now; when it is gone, an error that says how it
    /// ended and what its log said last.
    pub fn stats(&mut self) -> anyhow::Result<crate::proc_stats::ProcStats> {
        let read = match self.proc.as_mut() {
            Some(files) => files.stats().map_err(|e| e.to_string()),
            None => crate::proc_stats::read(self.pid()).ok_or_else(|| "/proc/<pid> cannot be read".to_string()),
        };
        read.or_else(|e| self.gone(&e))
    }

    /// Bytes the server caused to be written to storage so far (`/proc/<pid>/io`).
    pub fn write_bytes(&mut self) -> anyhow::Result<u64> {
        let read = match self.proc.as_mut() {
            Some(files) => files.write_bytes().map_err(|e| e.to_string()),
            None => crate::proc_stats::write_bytes(self.pid()).ok_or_else(|| "/proc/<pid>/io cannot be read".into()),
        };
        read.or_else(|e| self.gone(&e))
    }

    fn gone<T>(&mut self, error: &str) -> anyhow::Result<T> {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => format!("it exited with {status}"),
            Ok(None) => format!("it runs but its /proc files cannot be read: {error}"),
            Err(e) => format!("its status cannot be read: {e}"),
        };
        let log = std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
        bail!("no stats of the server (pid {}): {status}; the end of its log:\n{}", self.pid(), tail.join("\n"))
    }

    /// Wait up to `within` for the server to exit on its own; its exit status.
    pub async fn wait_exit(&mut self, within: std::time::Duration) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().context("wait for the server")? {
                return Ok(status);
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("the server (pid {}) did not exit within {within:?}", self.child.id());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL and reap: no shutdown code runs.
    pub fn kill9(mut self) -> anyhow::Result<()> {
        self.child.kill().context("kill -9 the server")?;
        self.child.wait().context("reap the server")?;
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
