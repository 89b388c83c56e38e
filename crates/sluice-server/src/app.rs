//! The state every handler and the driver share: the store (the truth) and the in-memory
//! mirrors that keep hot paths off it (credentials, the current spec, service standings, the
//! desired-state board, the fleet's reports, hot bundles, health sources' standing), the
//! driver, the server's metrics, and the shutdown signal.

use std::sync::Arc;

use sluice_store::Store;
use tokio::sync::watch;

use crate::auth::Credentials;
use crate::bundle_cache::BundleCache;
use crate::config::ServerConfig;
use crate::current_spec::CurrentSpec;
use crate::desired::DesiredBoard;
use crate::driver::Driver;
use crate::fleet::Fleet;
use crate::metrics::Metrics;
use crate::service_states::ServiceStates;
use crate::source_status::SourceStatus;

#[derive(Debug)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub config: ServerConfig,
    pub credentials: Credentials,
    pub spec: CurrentSpec,
    pub services: ServiceStates,
    pub desired: DesiredBoard,
    pub fleet: Fleet,
    /// Last-seen times and facts waiting to be written in the next batch.
    pub heartbeats: crate::heartbeats::Heartbeats,
    pub bundles: BundleCache,
    pub driver: Driver,
    /// The latest read of each gate health source the poller reads.
    pub source_status: SourceStatus,
    /// The server's own metrics (`/metrics`).
    pub metrics: Metrics,
    /// Becomes true when the server shuts down: long-polls answer at once.
    pub shutdown: watch::Receiver<bool>,
    /// When this server process started watching the fleet: a wave member is never called
    /// silent, nor a bake observed, for time before it.
    pub watching_since: sluice_core::time::Millis,
}

pub type SharedApp = Arc<App>;
