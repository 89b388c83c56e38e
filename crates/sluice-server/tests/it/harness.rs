//! Fixtures: a server in a temp dir, the test spec, bundles, and polling with a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sluice_api::{ApplySpec, Client, EventView, NewEnrollmentTokens};
use sluice_core::release::ReleaseFiles;
use sluice_server::{RunningServer, ServerConfig};

/// Two stages with short bakes (`default`), a pipeline whose prod bake is long enough to stop
/// the server in it (`restart`), and one that bakes for an hour (`slow`).
pub const SPEC: &str = r#"version: 1
services:
  web:
    pipeline: default
    pipelines: [restart, slow]
    max_bundle_bytes: 20000
    validators:
      - max_items: { files: features.json, path: /features, max: 3 }
pipelines:
  default:
    stages:
      - name: staging
        selector: { env: staging }
        bake: 300ms
        gates:
          - threshold: { name: errors, metric: error_rate, max: 0.05, window: 2s, min_samples: 2 }
      - name: prod
        selector: { env: prod }
        waves: [1, "100%"]
        bake: 300ms
        gates:
          - threshold: { name: errors, metric: error_rate, max: 0.05, window: 2s, min_samples: 2 }
  restart:
    stages:
      - name: staging
        selector: { env: staging }
        bake: 200ms
        gates:
          - threshold: { name: errors, metric: error_rate, max: 0.05, window: 2s, min_samples: 2 }
      - name: prod
        selector: { env: prod }
        waves: [1, "100%"]
        bake: 3s
        gates:
          - threshold: { name: errors, metric: error_rate, max: 0.05, window: 5s, min_samples: 2 }
  slow:
    # All of prod at once, deliberately (the bake is what these tests need).
    max_blast: 100%
    stages:
      - name: everything
        selector: {}
        bake: 1h
        gates:
          - threshold: { name: errors, metric: error_rate, max: 0.05 }
"#;

pub fn config(dir: &Path) -> ServerConfig {
    ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir).with_report_interval(Duration::from_secs(1))
}

/// Start a server in `dir`; its admin client.
pub async fn start_in(dir: &Path) -> (RunningServer, Client) {
    start_with(config(dir)).await
}

pub async fn start_with(config: ServerConfig) -> (RunningServer, Client) {
    let server = sluice_server::start(config).await.unwrap();
    let token = std::fs::read_to_string(server.admin_token_path()).unwrap().trim().to_string();
    let admin = Client::new(&server.base_url(), Some(token)).unwrap();
    (server, admin)
}

/// A server in a fresh temp dir with [`SPEC`] applied.
pub struct TestServer {
    pub server: RunningServer,
    pub admin: Client,
    pub dir: tempfile::TempDir,
}

pub async fn with_spec() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start_in(dir.path()).await;
    admin.apply_spec(&ApplySpec { text: SPEC.to_string(), file: None, force: false }).await.unwrap();
    TestServer { server, admin, dir }
}

pub fn files(list: &[(&str, &str)]) -> ReleaseFiles {
    list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
}

/// A valid `web` release, told apart by `n`.
pub fn web_bundle(n: u32) -> Vec<u8> {
    let features = format!(r#"{{"features": [{{"name": "a"}}, {{"name": "v{n}"}}]}}"#);
    sluice_bundle::pack(&files(&[("features.json", &features)])).unwrap()
}

pub async fn enrollment_token(admin: &Client) -> String {
    admin.enrollment_tokens(&NewEnrollmentTokens { count: 1, ttl_ms: None }).await.unwrap().tokens.remove(0)
}

/// Every event in the log.
pub async fn all_events(admin: &Client) -> Vec<EventView> {
    admin.events(0, 10_000, None).await.unwrap()
}

/// Poll `f` every 20 ms until it gives `Some`, failing after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
