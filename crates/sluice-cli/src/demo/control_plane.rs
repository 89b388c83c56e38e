//! The demo's control plane: a real `sluice-server` in this process, on a free loopback port,
//! with its data in the demo's directory and agents reporting every second.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A running server and how to reach it.
pub struct ControlPlane {
    base_url: String,
    admin_token_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the control plane (sluice-server) is not built yet")]
    NotBuilt,
}

impl ControlPlane {
    pub async fn start(_data_dir: &Path) -> Result<ControlPlane, StartError> {
        let _: Option<SocketAddr> = None;
        Err(StartError::NotBuilt)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn admin_token_path(&self) -> &Path {
        &self.admin_token_path
    }

    pub async fn shutdown(self) {}
}
