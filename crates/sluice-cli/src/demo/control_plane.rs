//! The demo's control plane: a real `sluice-server` in this process, on a free loopback port,
//! with its data in the demo's directory and agents reporting every second.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sluice_server::{RunningServer, ServerConfig};

/// How often the demo's agents report (the server's minimum: verdicts come fast).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// A running server and how to reach it.
pub struct ControlPlane {
    server: RunningServer,
    base_url: String,
    admin_token_path: PathBuf,
}

impl ControlPlane {
    pub async fn start(data_dir: &Path) -> anyhow::Result<ControlPlane> {
        let listen = "127.0.0.1:0".parse().context("loopback address")?;
        let config = ServerConfig::new(listen, data_dir).with_report_interval(REPORT_INTERVAL);
        let server = sluice_server::start(config).await.context("failed to start the control plane")?;
        Ok(ControlPlane { base_url: server.base_url(), admin_token_path: server.admin_token_path(), server })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn admin_token_path(&self) -> &Path {
        &self.admin_token_path
    }

    /// Stop the server, letting in-flight requests finish.
    pub async fn shutdown(self) {
        if let Err(e) = self.server.shutdown().await {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "warning: the control plane did not stop cleanly: {e:#}");
        }
    }
}
