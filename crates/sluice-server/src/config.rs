//! How a server is set up: where it listens, where it keeps its data, how often agents report,
//! and the largest release bundle it accepts. [`ServerConfig::check`] refuses settings the
//! server cannot honour before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The report interval agents are asked for unless set.
pub const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// The shortest report interval the server accepts.
pub const MIN_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// The largest release bundle accepted unless set (64 MiB, the spec's default too).
pub const DEFAULT_MAX_BUNDLE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port ([`crate::RunningServer::addr`] tells it).
    pub listen: SocketAddr,
    /// Holds `sluice.db` and `admin.token`; created if missing.
    pub data_dir: PathBuf,
    /// How often agents should report (at least [`MIN_REPORT_INTERVAL`]). A target is
    /// connected while it reported within three intervals.
    pub report_interval: Duration,
    /// Largest release upload, in bytes (a service's own `max_bundle_bytes` may be smaller).
    pub max_bundle_bytes: u64,
}

/// A setting the server cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("report interval {got:?} is shorter than the minimum of {min:?}")]
    ReportIntervalTooShort { got: Duration, min: Duration },
    #[error("max bundle size must be at least 1 byte")]
    ZeroBundleLimit,
    #[error("data directory must not be empty")]
    EmptyDataDir,
}

impl ServerConfig {
    /// Defaults for everything but where to listen and where the data lives.
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            listen,
            data_dir: data_dir.into(),
            report_interval: DEFAULT_REPORT_INTERVAL,
            max_bundle_bytes: DEFAULT_MAX_BUNDLE_BYTES,
        }
    }

    pub fn with_report_interval(mut self, interval: Duration) -> ServerConfig {
        self.report_interval = interval;
        self
    }

    pub fn with_max_bundle_bytes(mut self, bytes: u64) -> ServerConfig {
        self.max_bundle_bytes = bytes;
        self
    }

    /// Refuse settings the server cannot honour.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.report_interval < MIN_REPORT_INTERVAL {
            return Err(ConfigError::ReportIntervalTooShort { got: self.report_interval, min: MIN_REPORT_INTERVAL });
        }
        if self.max_bundle_bytes == 0 {
            return Err(ConfigError::ZeroBundleLimit);
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::EmptyDataDir);
        }
        Ok(())
    }

    /// The report interval in milliseconds, as agents are told.
    pub fn report_interval_ms(&self) -> u64 {
        u64::try_from(self.report_interval.as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_report_interval_under_one_second() {
        let c = ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), "d")
            .with_report_interval(Duration::from_millis(999));
        assert!(matches!(c.check(), Err(ConfigError::ReportIntervalTooShort { .. })));
        assert!(c.with_report_interval(Duration::from_secs(1)).check().is_ok());
    }
}
