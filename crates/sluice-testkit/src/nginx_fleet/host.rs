//! One host of the nginx fleet: its nginx instance (prefix, logs, the host-local files that
//! differ per variant, the site directory whose `current` link the agent switches), started
//! as a child process, and the loopback ports the run hands out.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use super::procs::Proc;
use crate::server_process::free_port;

const HOST_NGINX_CONF: &str = include_str!("../../../../examples/nginx-fleet/host/nginx.conf");
const SIDECAR_A: &str = include_str!("../../../../examples/nginx-fleet/host/api-sidecar.a.conf");
const SIDECAR_B: &str = include_str!("../../../../examples/nginx-fleet/host/api-sidecar.b.conf");

pub(super) struct Host {
    pub(super) id: String,
    pub(super) env: String,
    pub(super) variant: String,
    pub(super) port: u16,
    pub(super) prefix: PathBuf,
    pub(super) site: PathBuf,
    pub(super) state_dir: PathBuf,
    pub(super) nginx: Proc,
    pub(super) agent: Option<Proc>,
}

impl Host {
    pub(super) fn current(&self) -> Option<String> {
        std::fs::read_link(self.site.join("current"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    }
}

/// Starts one nginx instance and waits until it accepts connections.
pub(super) async fn start_nginx(
    dir: &Path,
    nginx: &Path,
    id: &str,
    env: &str,
    variant: &str,
    ports: &mut Ports,
) -> anyhow::Result<Host> {
    let prefix = dir.join("hosts").join(id);
    let site = prefix.join("site");
    for d in ["logs", "tmp", "host.d", "site"] {
        std::fs::create_dir_all(prefix.join(d))?;
    }
    set_mode(&prefix, 0o755)?;
    let port = ports.take()?;
    let p = prefix.display().to_string();
    let s = site.display().to_string();
    let conf = fill(HOST_NGINX_CONF, &[("@PREFIX@", &p), ("@PORT@", &port.to_string()), ("@SITE@", &s)]);
    let check = conf.replace(&format!("{s}/current/"), &format!("{p}/candidate/"));
    if check == conf {
        bail!("host/nginx.conf does not include @SITE@/current/: check.conf could not be derived");
    }
    std::fs::write(prefix.join("nginx.conf"), &conf)?;
    std::fs::write(prefix.join("check.conf"), &check)?;
    let sidecar = if variant == "b" {
        fill(SIDECAR_B, &[("@PREFIX@", &p)])
    } else {
        fill(SIDECAR_A, &[("@API_PORT@", &ports.take()?.to_string())])
    };
    std::fs::write(prefix.join("host.d").join("api-sidecar.conf"), sidecar)?;
    let mut cmd = Command::new(nginx);
    cmd.arg("-p").arg(format!("{p}/")).arg("-c").arg(prefix.join("nginx.conf")).args(["-g", "daemon off;"]);
    let mut proc = Proc::spawn(&format!("nginx {id}"), &mut cmd, &prefix.join("logs").join("stderr.log"), true)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        if let Some(status) = proc.exited() {
            let log = std::fs::read_to_string(prefix.join("logs").join("error.log")).unwrap_or_default();
            bail!("nginx {id} exited ({status}) before it listened on {port}:\n{}{log}", proc.log_tail(10));
        }
        if Instant::now() >= deadline {
            bail!("nginx {id} does not accept connections on 127.0.0.1:{port} after 10s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Host {
        id: id.into(),
        env: env.into(),
        variant: variant.into(),
        port,
        state_dir: dir.join("agents").join(id),
        prefix,
        site,
        nginx: proc,
        agent: None,
    })
}

/// Loopback ports, never the same twice in one run.
#[derive(Default)]
pub(super) struct Ports(HashSet<u16>);

impl Ports {
    pub(super) fn take(&mut self) -> anyhow::Result<u16> {
        for _ in 0..100 {
            let p = free_port()?.port();
            if self.0.insert(p) {
                return Ok(p);
            }
        }
        bail!("no free loopback port")
    }
}

pub(super) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_string(), |t, (k, v)| t.replace(k, v))
}

pub(super) fn set_mode(p: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).with_context(|| format!("chmod {}", p.display()))
}
