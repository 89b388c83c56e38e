//! Each service's standing (known-good, active rollout, hold) in memory, mirrored from the store
//! after every commit that changes it, for desired-state answers and target views.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use sluice_core::engine::ServiceState;
use sluice_core::release::ReleaseId;

#[derive(Debug, Default)]
pub struct ServiceStates {
    inner: RwLock<HashMap<String, ServiceState>>,
}

impl ServiceStates {
    pub fn load(states: Vec<(String, ServiceState)>) -> ServiceStates {
        ServiceStates { inner: RwLock::new(states.into_iter().collect()) }
    }

    pub fn set(&self, service: &str, state: ServiceState) {
        self.inner.write().unwrap_or_else(PoisonError::into_inner).insert(service.to_string(), state);
    }

    pub fn known_good(&self, service: &str) -> Option<ReleaseId> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).get(service).and_then(|s| s.known_good.clone())
    }
}
