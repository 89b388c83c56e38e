//! The current spec in memory: parsed once when applied (or at start from the store), read by
//! releases, rollouts and every desired-state answer without touching the store.

use std::sync::{Arc, PoisonError, RwLock};

use sluice_core::spec::Spec;
use sluice_core::spec::parse::from_yaml;
use sluice_store::SpecRecord;

/// One applied spec.
#[derive(Debug)]
pub struct AppliedSpec {
    pub version: u64,
    pub text: String,
    pub spec: Spec,
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
        Ok(CurrentSpec { inner: RwLock::new(Some(Arc::new(AppliedSpec { version: r.version, text: r.text, spec }))) })
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
