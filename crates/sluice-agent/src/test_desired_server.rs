//! A fake sluice server for tests of the poller, speaking HTTP/1.1 with keep-alive (so tests
//! can count connections): enrolls anyone; answers long-polls from a desired state the test
//! sets (at once when its version is past `after`, else when it changes); serves the specs and
//! bundles the test puts in, counting spec fetches; keeps every report.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_api::{DesiredService, DesiredView, Report};
use sluice_core::release::{ReleaseId, TargetId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug)]
pub(crate) struct Fake {
    desired: watch::Sender<DesiredView>,
    /// What `GET /v1/agent/services/{service}/spec` answers, by service (404 when absent).
    pub(crate) specs: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Bundles by digest.
    pub(crate) bundles: Mutex<BTreeMap<String, Vec<u8>>>,
    pub(crate) spec_fetches: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) reports: Mutex<Vec<Report>>,
}

impl Fake {
    /// Makes `services` the desired state, as the next version.
    pub(crate) fn set(&self, services: Vec<DesiredService>) {
        self.desired.send_modify(|d| {
            d.version += 1;
            d.services = services;
        });
    }

    /// What the latest report says runs for `service`.
    pub(crate) fn running(&self, service: &str) -> Option<ReleaseId> {
        let reports = self.reports.lock().unwrap();
        let last = reports.last()?;
        last.services.iter().find(|s| s.service == service).and_then(|s| s.running.clone())
    }
}

pub(crate) struct DesiredServer {
    pub(crate) addr: SocketAddr,
    pub(crate) fake: Arc<Fake>,
    task: JoinHandle<()>,
}

impl Drop for DesiredServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DesiredServer {
    pub(crate) async fn start() -> DesiredServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = Arc::new(Fake {
            desired: watch::Sender::new(DesiredView {
                target: TargetId::from("t"),
                version: 0,
                services: vec![],
                report_interval_ms: 1000,
            }),
            specs: Mutex::new(BTreeMap::new()),
            bundles: Mutex::new(BTreeMap::new()),
            spec_fetches: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            reports: Mutex::new(Vec::new()),
        });
        let shared = fake.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                conns.spawn(serve(stream, shared.clone()));
            }
        });
        DesiredServer { addr, fake, task }
    }
}

/// Serves requests on one connection until the client closes it.
async fn serve(mut stream: TcpStream, fake: Arc<Fake>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let (head_len, body_len) = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (i + 4, len);
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        while buf.len() < head_len + body_len {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let request: Vec<u8> = buf.drain(..head_len + body_len).collect();
        fake.requests.fetch_add(1, Ordering::SeqCst);
        let line = String::from_utf8_lossy(&request).lines().next().unwrap_or("").to_string();
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        let (status, content_type, body) = answer(&fake, &path, &request[head_len..]).await;
        let head =
            format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n", body.len());
        if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(&body).await.is_err() {
            return;
        }
    }
}

async fn answer(fake: &Fake, path: &str, body: &[u8]) -> (&'static str, &'static str, Vec<u8>) {
    const JSON: &str = "application/json";
    let not_found = || ("404 Not Found", JSON, br#"{"code":"not_found","message":"no such thing"}"#.to_vec());
    if path == "/v1/agent/enroll" {
        let enroll: sluice_api::Enroll = serde_json::from_slice(body).unwrap();
        return ("200 OK", JSON, serde_json::json!({"target": enroll.target, "credential": "cred"}).to_string().into());
    }
    if let Some(query) = path.strip_prefix("/v1/agent/desired") {
        let param = |name: &str| {
            query
                .trim_start_matches('?')
                .split('&')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let mut rx = fake.desired.subscribe();
        if let (Some(after), Some(wait_ms)) = (param("after"), param("wait_ms")) {
            let _ = tokio::time::timeout(Duration::from_millis(wait_ms), rx.wait_for(|d| d.version > after)).await;
        }
        let view = rx.borrow().clone();
        return ("200 OK", JSON, serde_json::to_vec(&view).unwrap());
    }
    if let Some(service) = path.strip_prefix("/v1/agent/services/").and_then(|p| p.strip_suffix("/spec")) {
        fake.spec_fetches.fetch_add(1, Ordering::SeqCst);
        return match fake.specs.lock().unwrap().get(service) {
            Some(bytes) => ("200 OK", JSON, bytes.clone()),
            None => not_found(),
        };
    }
    if let Some(digest) = path.strip_prefix("/v1/bundles/") {
        return match fake.bundles.lock().unwrap().get(digest) {
            Some(bytes) => ("200 OK", "application/octet-stream", bytes.clone()),
            None => not_found(),
        };
    }
    if path == "/v1/agent/report" {
        fake.reports.lock().unwrap().push(serde_json::from_slice(body).unwrap());
        let version = fake.desired.borrow().version;
        return ("200 OK", JSON, serde_json::json!({"desired_version": version}).to_string().into());
    }
    not_found()
}
