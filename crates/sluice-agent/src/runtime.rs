//! The agent's runtime (`sluice agent --config agent.yaml`): enroll, long-poll desired state,
//! download, apply through the [`ReleaseStore`], and report health scraped from each service's
//! Prometheus endpoint.
//!
//! Two loops share one task: the poller (`poller.rs`: long-poll, decide with the pure
//! [`plan`], get the service's spec once per digest (`spec_cache.rs`), apply on the blocking
//! pool) and the reporter (`reporter.rs`: scrape, sample, report every interval and soon after
//! each apply or rollback, `report_jitter.rs`). Both talk to the server through the session's
//! one pooled HTTP client. Beside them run the health sources on their own timers
//! (`sources.rs`: synthetic probes, a command) and, with `metrics_listen`, the agent's own
//! `/metrics` (`exporter.rs`). Idle, all wait on a socket or a timer: no CPU, no threads beyond
//! the runtime's. When the server is unreachable the node keeps serving what is applied and
//! retries with jittered exponential backoff (250 ms to 5 s). Nothing is ever applied that the server did not name.
//!
//! In-process (tests, the demo, benchmarks):
//!
//! ```no_run
//! # async fn demo(config: sluice_agent::AgentConfig) -> Result<(), sluice_agent::runtime::AgentError> {
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let agent = tokio::spawn(sluice_agent::runtime::run(config, async { let _ = stopped.await; }));
//! // ... drive the server ...
//! let _ = stop.send(());
//! agent.await.ok();
//! # Ok(()) }
//! ```
//!
//! On disk: `<state_dir>/credential` (mode 0600) and, per service, its directory
//! ([`AgentConfig::service_dir`]: the configured `path`, else `<state_dir>/services/<name>`)
//! holding `current -> releases/<hex>`, `releases/` and `state.json`.

mod exporter;
mod link;
pub mod plan;
mod poller;
mod report_jitter;
mod reporter;
mod scraper;
mod session;
mod sources;
mod spec_cache;
mod stop;

pub use exporter::ADDR_FILE as METRICS_ADDR_FILE;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sluice_api::{ApplyReport, ClientError};
use sluice_core::release::{ReleaseId, TargetId};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::backoff;
use crate::clock::{Clock, SystemClock};
use crate::config::AgentConfig;
use crate::facts;
use crate::outcome::ApplyError;
use crate::releases::{ReleaseStore, StoreConfig};
use crate::telemetry::Telemetry;
use poller::Poller;
use reporter::Reporter;
use session::Session;
use sources::Sources;
use stop::Stop;

/// How long one long-poll for desired state waits on the server.
pub const LONG_POLL: Duration = Duration::from_secs(30);

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("no `id` is configured and the hostname is unknown: set `id`")]
    NoId,
    #[error("not enrolled: there is no credential in {} and no `enrollment_token` or `enrollment_token_file` is configured", file.display())]
    NotEnrolled { file: PathBuf },
    #[error("the credential in {} belongs to target `{saved}`, but this agent is `{configured}`: configure an enrollment token to enroll as `{configured}`, or set `id: {saved}`", file.display())]
    CredentialMismatch { file: PathBuf, saved: TargetId, configured: TargetId },
    #[error("cannot read the saved credential: {0}")]
    Credential(#[source] std::io::Error),
    #[error("cannot create the state directory {}: {source}", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("service `{service}`: cannot {source}")]
    Store {
        service: String,
        #[source]
        source: Box<ApplyError>,
    },
    #[error("service `{service}`: bad metrics matcher: {source}")]
    Metrics {
        service: String,
        #[source]
        source: regex::Error,
    },
    #[error("cannot make an HTTP client: {0}")]
    Client(#[source] ClientError),
    #[error("cannot make an HTTP client: {0}")]
    Http(#[source] reqwest::Error),
    #[error("cannot serve metrics on {addr}: {source}")]
    MetricsListen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl AgentError {
    /// True when the configuration (or the state it points at) must change: a usage error
    /// (`metrics_listen` that cannot be bound included).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            AgentError::NoId
                | AgentError::NotEnrolled { .. }
                | AgentError::CredentialMismatch { .. }
                | AgentError::MetricsListen { .. }
        )
    }
}

/// What [`run_with`] may change besides the configuration.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The clock of apply results, samples and history (default: the system clock).
    pub clock: Arc<dyn Clock>,
    /// Hook timeout and probe retry delay of the apply path; `keep` comes from
    /// `keep_releases` (default [`StoreConfig::default`]).
    pub store: StoreConfig,
    /// How long a long-poll waits (default [`LONG_POLL`]).
    pub long_poll: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { clock: Arc::new(SystemClock), store: StoreConfig::default(), long_poll: LONG_POLL }
    }
}

/// Runs the agent until `shutdown` completes, then stops cleanly: an apply in progress runs to
/// its end, waits are cut short. Errors only when it cannot start (see [`AgentError`]); once
/// running it never gives up on the server.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    run_with(config, RunOptions::default(), shutdown).await
}

/// [`run`] with [`RunOptions`].
pub async fn run_with(
    config: AgentConfig,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut stop = Stop::new(stop_rx);
    let mut shutdown = std::pin::pin!(shutdown);
    let config = Arc::new(config);
    let target = TargetId(config.id.clone().or_else(facts::hostname).ok_or(AgentError::NoId)?);
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|source| AgentError::StateDir { path: config.state_dir.clone(), source })?;
    let mut store_config = options.store.clone();
    store_config.keep = config.keep_releases;
    let mut stores = BTreeMap::new();
    for name in config.services.keys() {
        let store = open_store(&config, name, &store_config, &options.clock)
            .map_err(|e| AgentError::Store { service: name.clone(), source: Box::new(e) })?;
        stores.insert(name.clone(), store);
    }
    let telemetry = Arc::new(Telemetry::new(&target.0, options.clock.clone()));
    for (name, store) in &stores {
        telemetry.running(name, store.state().current.as_ref());
    }
    // Health sources and the metrics endpoint run from the start, enrolled or not; dropping
    // these sets (any return from here) stops them.
    let mut background = JoinSet::new();
    if let Some(addr) = config.metrics_listen {
        let (listener, _) = exporter::bind(addr, &config.state_dir)
            .await
            .map_err(|source| AgentError::MetricsListen { addr, source })?;
        background.spawn(exporter::serve(listener, telemetry.clone()));
    }
    let (sources, health) = Sources::start(&config, &telemetry).map_err(AgentError::Http)?;
    // The target id too: agents in containers often share a pid, and may start in the same
    // millisecond.
    let seed = options.clock.now().0 ^ (u64::from(std::process::id()) << 32) ^ backoff::seed_of(target.0.as_bytes());
    let facts = facts::gather(&config.facts);
    tracing::info!(target = %target, server = %config.server, services = stores.len(), "sluice agent starting");
    let session = tokio::select! {
        session = Session::start(&config, target, facts, seed, &mut stop) => session?,
        () = &mut shutdown => return Ok(()),
    };
    let Some(session) = session else { return Ok(()) };
    let mut views = BTreeMap::new();
    for (name, store) in &stores {
        let state = store.state();
        views.insert(
            name.clone(),
            ServiceView {
                running: state.current.clone(),
                known_good: state.known_good.clone(),
                last_apply: None,
                switches: 0,
            },
        );
    }
    let shared = Arc::new(Shared {
        session,
        clock: options.clock.clone(),
        views: Mutex::new(views),
        held: Mutex::new(None),
        acked: AtomicU64::new(0),
        interval_ms: AtomicU64::new(config.report_interval.0),
        default_interval_ms: config.report_interval.0,
        poll_now: Notify::new(),
        report_now: Notify::new(),
        telemetry,
    });
    let stores = stores.into_iter().map(|(k, v)| (k, Some(v))).collect();
    let poller = Poller::new(shared.clone(), config.clone(), store_config, options.long_poll, stores, seed);
    let reporter = Reporter::new(shared.clone(), &config, health, seed.rotate_left(17))?;
    let loops = async {
        tokio::join!(poller.run(stop.clone()), reporter.run(stop.clone()));
    };
    let mut loops = std::pin::pin!(loops);
    tokio::select! {
        () = &mut loops => {}
        () = &mut shutdown => {
            tracing::info!("stopping");
            let _ = stop_tx.send(true);
            loops.await;
        }
    }
    // Stopped for good before returning (the listener's port is free again).
    background.shutdown().await;
    sources.shutdown().await;
    tracing::info!("sluice agent stopped");
    Ok(())
}

/// Opens the store of service `name` in its configured directory.
pub(crate) fn open_store(
    config: &AgentConfig,
    name: &str,
    store: &StoreConfig,
    clock: &Arc<dyn Clock>,
) -> Result<ReleaseStore, ApplyError> {
    ReleaseStore::open_dir_with_clock(
        &config.service_dir(name),
        name,
        store.clone(),
        Box::new(SharedClock(clock.clone())),
    )
}

/// An `Arc<dyn Clock>` as the boxed clock a store takes.
#[derive(Debug)]
struct SharedClock(Arc<dyn Clock>);

impl Clock for SharedClock {
    fn now(&self) -> sluice_core::time::Millis {
        self.0.now()
    }
}

/// What a report says about one service, as the poller last saw it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceView {
    pub(crate) running: Option<ReleaseId>,
    pub(crate) known_good: Option<ReleaseId>,
    pub(crate) last_apply: Option<ApplyReport>,
    /// Switches of `current` so far (the reporter re-baselines its counters on a change).
    pub(crate) switches: u64,
}

/// What the poller and the reporter share. Locks are never held across an await.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) session: Session,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) views: Mutex<BTreeMap<String, ServiceView>>,
    /// The desired version the poller has dealt with.
    pub(crate) held: Mutex<Option<u64>>,
    /// The highest desired version a report's acknowledgement named.
    pub(crate) acked: AtomicU64,
    interval_ms: AtomicU64,
    default_interval_ms: u64,
    /// Wakes the poller (a report acknowledged a newer desired version).
    pub(crate) poll_now: Notify,
    /// Wakes the reporter (an apply or rollback finished).
    pub(crate) report_now: Notify,
    /// The agent's own metrics.
    pub(crate) telemetry: Arc<Telemetry>,
}

impl Shared {
    /// The report interval: the server's wish when it has one (1 s to 1 h), else the
    /// configuration's.
    pub(crate) fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn set_interval(&self, server_ms: u64) {
        let ms = if server_ms == 0 { self.default_interval_ms } else { server_ms.clamp(1_000, 3_600_000) };
        self.interval_ms.store(ms, Ordering::Relaxed);
    }
}

/// Locks `m`, taking the data even if a panic poisoned it (the data are plain values).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod health_tests;
#[cfg(test)]
mod spec_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn the_run_future_is_send_so_it_can_be_spawned() {
        let config = AgentConfig::parse("a.yaml", "server: http://127.0.0.1:1\nstate_dir: /nonexistent\n").unwrap();
        let fut = run(config, std::future::pending());
        assert_send(&fut);
    }

    #[tokio::test]
    async fn without_credential_or_token_it_says_how_to_enroll() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("server: http://127.0.0.1:1\nid: t1\nstate_dir: {}\n", dir.path().display());
        let config = AgentConfig::parse("a.yaml", &text).unwrap();
        let err = run(config, std::future::pending()).await.unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains("no `enrollment_token`"), "{err}");
    }

    #[tokio::test]
    async fn a_credential_of_another_target_is_refused_without_a_token() {
        let dir = tempfile::tempdir().unwrap();
        crate::credential::Credential {
            server: "http://127.0.0.1:1".into(),
            target: "other".into(),
            credential: "c".into(),
        }
        .save(dir.path())
        .unwrap();
        let text = format!("server: http://127.0.0.1:1\nid: t1\nstate_dir: {}\n", dir.path().display());
        let config = AgentConfig::parse("a.yaml", &text).unwrap();
        let err = run(config, std::future::pending()).await.unwrap_err();
        assert!(matches!(err, AgentError::CredentialMismatch { .. }), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_during_enrollment_does_not_stop_a_clean_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "server: http://127.0.0.1:1\nid: t1\nenrollment_token: tok\nstate_dir: {}\nservices: {{edge: {{}}}}\n",
            dir.path().display()
        );
        let config = AgentConfig::parse("a.yaml", &text).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(run(config, async {
            let _ = rx.await;
        }));
        tx.send(()).unwrap();
        agent.await.unwrap().unwrap();
        // The service's store was opened at its default directory.
        assert!(dir.path().join("services/edge/releases").is_dir());
    }

    #[test]
    fn the_server_interval_wins_within_bounds() {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let shared = Shared {
            session: session_for_tests(),
            clock,
            views: Mutex::new(BTreeMap::new()),
            held: Mutex::new(None),
            acked: AtomicU64::new(0),
            interval_ms: AtomicU64::new(5000),
            default_interval_ms: 5000,
            poll_now: Notify::new(),
            report_now: Notify::new(),
            telemetry: Arc::new(Telemetry::new("t1", Arc::new(SystemClock))),
        };
        shared.set_interval(2000);
        assert_eq!(shared.interval(), Duration::from_secs(2));
        shared.set_interval(10);
        assert_eq!(shared.interval(), Duration::from_secs(1));
        shared.set_interval(0);
        assert_eq!(shared.interval(), Duration::from_secs(5));
    }

    fn session_for_tests() -> Session {
        let dir = std::env::temp_dir();
        let text = format!("server: http://127.0.0.1:1\nid: t1\nenrollment_token: x\nstate_dir: {}\n", dir.display());
        let config = AgentConfig::parse("a.yaml", &text).unwrap();
        Session::for_tests(&config)
    }
}
