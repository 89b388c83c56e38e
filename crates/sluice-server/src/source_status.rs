//! The standing of every health source the poller reads, in memory: per service and source
//! (`HealthSource::key`) the error of the latest read, or none after a read that gave values.
//! The driver's observations read it so a gate short of data says why; the poller writes it.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

/// `(service, source key)` → the latest read's error (`None`: the latest read gave values).
pub type SourceErrors = HashMap<(String, String), Option<String>>;

#[derive(Debug, Default)]
pub struct SourceStatus {
    inner: RwLock<SourceErrors>,
}

impl SourceStatus {
    /// Record the outcome of a read; returns true when the error changed (new, different,
    /// or cleared).
    pub fn set(&self, service: &str, key: &str, error: Option<String>) -> bool {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let slot = map.entry((service.to_string(), key.to_string())).or_default();
        if *slot == error {
            return false;
        }
        *slot = error;
        true
    }

    /// Forget a source nobody reads any more.
    pub fn remove(&self, service: &str, key: &str) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(&(service.to_string(), key.to_string()));
    }

    /// Read every source's standing (never hold it across an await).
    pub fn read(&self) -> RwLockReadGuard<'_, SourceErrors> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
}
