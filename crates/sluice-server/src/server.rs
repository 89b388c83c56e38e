//! Starting and stopping a server: open the store, make or reuse the admin token, load the
//! in-memory mirrors from the store, bind, and run the HTTP API, the rollout driver and the
//! health-source poller until [`RunningServer::shutdown`] (or drop, which stops them without
//! waiting).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use sluice_store::{SqliteStore, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin_token::{self, ADMIN_TOKEN_FILE};
use crate::app::App;
use crate::auth::Credentials;
use crate::bundle_cache::{self, BundleCache};
use crate::config::ServerConfig;
use crate::current_spec::CurrentSpec;
use crate::data_dir_lock::{self, DataDirLock};
use crate::desired::DesiredBoard;
use crate::driver::{self, Driver};
use crate::fleet::Fleet;
use crate::listener;
use crate::metrics::Metrics;
use crate::routes;
use crate::service_states::ServiceStates;
use crate::source_status::SourceStatus;
use crate::{folding, health_poller, heartbeats};

/// A server that is running. Stop it with [`RunningServer::shutdown`].
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    data_dir: PathBuf,
    shutdown: watch::Sender<bool>,
    http: Option<JoinHandle<std::io::Result<()>>>,
    driver: Option<JoinHandle<()>>,
    poller: Option<JoinHandle<()>>,
    heartbeats: Option<JoinHandle<()>>,
    folding: Option<JoinHandle<()>>,
    store: Arc<SqliteStore>,
    /// This server's hold on its data directory (released on drop).
    _lock: DataDirLock,
}

impl RunningServer {
    /// The address it listens on (the real port when the config asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The file the admin token was written to at the first start.
    pub fn admin_token_path(&self) -> PathBuf {
        self.data_dir.join(ADMIN_TOKEN_FILE)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stop accepting requests, answer pending long-polls, let in-flight requests and the
    /// driver's current step finish, and close the store.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let mut result = Ok(());
        if let Some(http) = self.http.take() {
            match http.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(anyhow::Error::new(e).context("the HTTP server failed")),
                Err(e) => result = Err(anyhow::Error::new(e).context("the HTTP server task failed")),
            }
        }
        if let Some(driver) = self.driver.take()
            && let Err(e) = driver.await
        {
            result = Err(anyhow::Error::new(e).context("the rollout driver task failed"));
        }
        if let Some(poller) = self.poller.take()
            && let Err(e) = poller.await
        {
            result = Err(anyhow::Error::new(e).context("the health-source poller task failed"));
        }
        if let Some(writer) = self.heartbeats.take()
            && let Err(e) = writer.await
        {
            result = Err(anyhow::Error::new(e).context("the heartbeat writer task failed"));
        }
        if let Some(folding) = self.folding.take()
            && let Err(e) = folding.await
        {
            result = Err(anyhow::Error::new(e).context("the desired-state folding task failed"));
        }
        self.store.close().await;
        tracing::info!(addr = %self.addr, "server stopped");
        result
    }
}

impl Drop for RunningServer {
    /// Without `shutdown`: stop both tasks where they are, as a crash would (the store's
    /// transactions make that safe).
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(h) = self.http.take() {
            h.abort();
        }
        if let Some(d) = self.driver.take() {
            d.abort();
        }
        if let Some(p) = self.poller.take() {
            p.abort();
        }
        if let Some(w) = self.heartbeats.take() {
            w.abort();
        }
        if let Some(f) = self.folding.take() {
            f.abort();
        }
    }
}

/// Start a server on the current tokio runtime.
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    config.check().context("invalid server configuration")?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("create the data directory {}", config.data_dir.display()))?;
    let lock = data_dir_lock::acquire(&config.data_dir)?;
    let store = Arc::new(
        SqliteStore::open(&config.data_dir)
            .await
            .with_context(|| format!("open the store in {}", config.data_dir.display()))?,
    );
    let admin_hash = admin_token::ensure(store.as_ref(), &config.data_dir).await?;
    let spec = CurrentSpec::load(store.current_spec().await.context("read the current spec")?)?;
    let services = ServiceStates::load(store.list_service_states().await.context("read the service states")?);
    let desired = DesiredBoard::load(store.all_desired().await.context("read the desired state")?);
    let fleet = Fleet::load(&store.list_targets().await.context("read the targets")?);
    let driver = Driver::load(store.as_ref()).await.context("read the active rollouts")?;
    let listener = listener::bind(config.listen).with_context(|| format!("listen on {}", config.listen))?;
    let addr = listener.local_addr().context("read the listening address")?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let data_dir = config.data_dir.clone();
    let dyn_store: Arc<dyn Store> = store.clone();
    let app = Arc::new(App {
        store: dyn_store,
        config,
        credentials: Credentials::new(admin_hash),
        spec,
        services,
        desired,
        fleet,
        heartbeats: Default::default(),
        bundles: BundleCache::new(bundle_cache::DEFAULT_BUDGET),
        driver,
        source_status: SourceStatus::default(),
        metrics: Metrics::new(),
        shutdown: shutdown_rx.clone(),
        watching_since: crate::clock::now(),
    });
    crate::sample_retention::update(&app);
    let router = routes::router(app.clone());
    let mut stop = shutdown_rx;
    let http = tokio::spawn(async move {
        // `into_make_service`: each connection shares the one router (an `Arc`). Serving the
        // `Router` itself re-derives its route table per connection (axum calls
        // `with_state(())` on a clone for each), about 11 KB held per connected agent.
        axum::serve(listener, router.into_make_service())
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
    });
    let poller = tokio::spawn(health_poller::run(app.clone()));
    let heartbeats = tokio::spawn(heartbeats::run(app.clone()));
    let folding = tokio::spawn(folding::run(app.clone()));
    let driver = tokio::spawn(driver::run(app));
    tracing::info!(%addr, data_dir = %data_dir.display(), "sluice server listening");
    Ok(RunningServer {
        addr,
        data_dir,
        shutdown: shutdown_tx,
        http: Some(http),
        driver: Some(driver),
        poller: Some(poller),
        heartbeats: Some(heartbeats),
        folding: Some(folding),
        store,
        _lock: lock,
    })
}
