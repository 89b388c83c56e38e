//! The floor's server: one version number in a `watch` channel, long-polls waiting on it, a
//! report counter. Served by `axum::serve` on a socket bound like `sluice server`'s (backlog
//! [`BACKLOG`], `SO_REUSEADDR`), on whatever tokio runtime the caller runs.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use sluice_api::{DesiredService, DesiredView, Report};
use sluice_core::release::TargetId;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Released, SERVICE, Stats, release_of};
use crate::clock;

/// Pending connections asked for: the same as `sluice server`'s listener.
pub const BACKLOG: u32 = 16_384;

/// The spec digest every answer carries, so the floor's answer has the shape of sluice's (a
/// digest per service, not the spec).
const FLOOR_SPEC_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The longest wait a poll may ask for, as in `sluice server`.
pub const MAX_WAIT_MS: u64 = 60_000;

/// A floor server running on the current tokio runtime; dropped, it stops accepting.
#[derive(Debug)]
pub struct FloorServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// `None` once [`FloorServer::wait`] took it.
    task: Option<JoinHandle<io::Result<()>>>,
}

#[derive(Debug)]
struct Shared {
    version: watch::Sender<u64>,
    reports: AtomicU64,
    reports_current: AtomicU64,
    report_interval_ms: u64,
}

impl FloorServer {
    /// Binds `addr` (port 0 for any) and serves. `report_interval` is what the desired-state
    /// answer asks clients for, as sluice's does.
    pub async fn start(addr: SocketAddr, report_interval: Duration) -> io::Result<FloorServer> {
        let listener = bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            version: watch::Sender::new(0),
            reports: AtomicU64::new(0),
            reports_current: AtomicU64::new(0),
            report_interval_ms: u64::try_from(report_interval.as_millis()).unwrap_or(u64::MAX),
        });
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/poll", get(poll))
            .route("/report", post(report))
            .route("/release", post(release))
            .route("/stats", get(stats))
            .with_state(shared.clone());
        // One shared router for every connection, as `sluice server` serves (the cheapest way).
        let task = tokio::spawn(async move { axum::serve(listener, router.into_make_service()).await });
        Ok(FloorServer { addr, shared, task: Some(task) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Releases the next version (what `POST /release` does).
    pub fn release(&self) -> Released {
        self.shared.release()
    }

    /// Serves until the server fails (it does not stop on its own).
    pub async fn wait(mut self) -> io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for FloorServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Shared {
    fn stats(&self) -> Stats {
        Stats {
            version: *self.version.borrow(),
            reports: self.reports.load(Ordering::Relaxed),
            reports_current: self.reports_current.load(Ordering::Relaxed),
        }
    }

    fn release(&self) -> Released {
        let decided_at = clock::now();
        self.reports_current.store(0, Ordering::Relaxed);
        let mut version = 0;
        self.version.send_modify(|v| {
            *v += 1;
            version = *v;
        });
        Released { version, decided_at }
    }
}

/// Bind `addr` with [`BACKLOG`], as `sluice server` does.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

#[derive(Debug, Deserialize)]
struct PollQuery {
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    wait_ms: Option<u64>,
}

/// `GET /poll`: the shape of sluice's `GET /v1/agent/desired` without its lookups.
async fn poll(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<PollQuery>,
) -> Result<Json<DesiredView>, (StatusCode, String)> {
    let wait_ms = q.wait_ms.unwrap_or(0);
    if wait_ms > MAX_WAIT_MS {
        return Err((StatusCode::BAD_REQUEST, format!("wait_ms {wait_ms} is over the maximum of {MAX_WAIT_MS}")));
    }
    let mut rx = shared.version.subscribe();
    if let Some(after) = q.after
        && *rx.borrow() <= after
        && wait_ms > 0
    {
        tokio::select! {
            _ = rx.wait_for(|v| *v > after) => {}
            () = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
        }
    }
    let version = *rx.borrow();
    let release = release_of(version);
    let target = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("anonymous");
    Ok(Json(DesiredView {
        target: TargetId(target.to_string()),
        version,
        services: vec![DesiredService {
            service: SERVICE.to_string(),
            bundle: release.as_ref().map(|r| r.0.clone()),
            release,
            rollout: (version > 0).then(|| format!("floor-{version}")),
            spec_digest: Some(FLOOR_SPEC_DIGEST.to_string()),
            spec: None,
            known_good: None,
        }],
        report_interval_ms: shared.report_interval_ms,
    }))
}

/// `POST /report`: parse, count, 204.
async fn report(State(shared): State<Arc<Shared>>, Json(report): Json<Report>) -> StatusCode {
    shared.reports.fetch_add(1, Ordering::Relaxed);
    let current = release_of(*shared.version.borrow());
    if current.is_some() && report.services.iter().any(|s| s.running == current) {
        shared.reports_current.fetch_add(1, Ordering::Relaxed);
    }
    StatusCode::NO_CONTENT
}

async fn release(State(shared): State<Arc<Shared>>) -> Json<Released> {
    Json(shared.release())
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<Stats> {
    Json(shared.stats())
}
