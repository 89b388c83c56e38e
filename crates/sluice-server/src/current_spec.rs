//! The current spec in memory: parsed once when applied (or at start from the store), read by
//! releases, rollouts and every desired-state answer without touching the store. Each
//! service's canonical JSON and digest (`spec_digest.rs`) are computed here, once per spec:
//! a long-poll answer copies a digest, never the spec.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use sluice_core::spec::Spec;
use sluice_core::spec::parse::from_yaml;
use sluice_store::SpecRecord;

use crate::spec_digest::{self, ServiceSpecJson};

/// One applied spec.
#[derive(Debug)]
pub struct AppliedSpec {
    pub version: u64,
    pub text: String,
    pub spec: Spec,
    /// Each service's spec as agents fetch it, with its digest.
    services: BTreeMap<String, ServiceSpecJson>,
}

impl AppliedSpec {
    /// `spec` (parsed from `text`) as version `version`, with each service's digest.
    pub fn new(version: u64, text: String, spec: Spec) -> Result<AppliedSpec, serde_json::Error> {
        let services = spec_digest::of_spec(&spec)?;
        Ok(AppliedSpec { version, text, spec, services })
    }

    /// `service`'s spec as agents fetch it; `None` when the spec has no such service.
    pub fn service_json(&self, service: &str) -> Option<&ServiceSpecJson> {
        self.services.get(service)
    }
}

#[derive(Debug, Default)]
pub struct CurrentSpec {
    inner: RwLock<Option<Arc<AppliedSpec>>>,
}

impl CurrentSpec {
    /// From the stored record (its text is parsed again: the text is what was checked).
    pub fn load(record: Option<SpecRecord>) -> anyhow::Result<CurrentSpec> {
        let Some(r) = record else { return Ok(CurrentSpec::default()) };
        let spec: Spec = from_yaml("stored spec", &r.text)
            .map_err(|e| anyhow::anyhow!("the stored spec version {} does not parse: {e}", r.version))?;
        let applied = AppliedSpec::new(r.version, r.text, spec)
            .map_err(|e| anyhow::anyhow!("the stored spec version {} cannot be encoded for agents: {e}", r.version))?;
        Ok(CurrentSpec { inner: RwLock::new(Some(Arc::new(applied))) })
    }

    pub fn get(&self) -> Option<Arc<AppliedSpec>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Make `applied` current unless a newer version already is (concurrent applies).
    pub fn set(&self, applied: AppliedSpec) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.as_ref().is_none_or(|cur| cur.version < applied.version) {
            *inner = Some(Arc::new(applied));
        }
    }
}
