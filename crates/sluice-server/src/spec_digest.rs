//! What agents fetch of the spec: each service's spec as canonical JSON and that JSON's
//! digest, computed once when a spec becomes current (applied, or loaded at start) — a
//! long-poll answer then carries a digest instead of a deep copy of the spec, and
//! `GET /v1/agent/services/{service}/spec` serves the same bytes without encoding anything.
//!
//! Canonical: `serde_json` of the parsed [`ServiceSpec`], struct fields in declaration order,
//! every map sorted by key (`serde_json` keeps objects sorted: no `preserve_order`), no
//! whitespace. The digest is `sha256:` of exactly the bytes served (`sluice_bundle::sha256`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use sluice_core::spec::{ServiceSpec, Spec};

/// One service's spec as agents get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpecJson {
    /// `sha256:` of `json`.
    pub digest: String,
    /// The canonical JSON (cheap to clone: shared bytes).
    pub json: Bytes,
}

impl ServiceSpecJson {
    pub fn new(spec: &ServiceSpec) -> Result<ServiceSpecJson, serde_json::Error> {
        let json = serde_json::to_vec(spec)?;
        Ok(ServiceSpecJson { digest: sluice_bundle::sha256::digest(&json), json: Bytes::from(json) })
    }
}

/// Every service's [`ServiceSpecJson`], by name.
pub fn of_spec(spec: &Spec) -> Result<BTreeMap<String, ServiceSpecJson>, serde_json::Error> {
    spec.services.iter().map(|(name, s)| Ok((name.clone(), ServiceSpecJson::new(s)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> ServiceSpec {
        sluice_core::spec::parse::from_yaml("service.yaml", yaml).unwrap()
    }

    #[test]
    fn the_digest_is_the_sha256_of_the_served_bytes() {
        let s = ServiceSpecJson::new(&spec("pipeline: default\nmax_bundle_bytes: 1000\n")).unwrap();
        assert_eq!(s.digest, sluice_bundle::sha256::digest(&s.json));
        let back: ServiceSpec = serde_json::from_slice(&s.json).unwrap();
        assert_eq!(back.max_bundle_bytes, 1000);
    }

    #[test]
    fn equal_specs_have_one_digest_and_any_change_another() {
        // Map keys in another order (a JSON Schema validator): the same canonical JSON.
        let a = "pipeline: p\nvalidators:\n  - json_schema: {files: a.json, schema: {type: object, required: [x]}}\n";
        let b = "pipeline: p\nvalidators:\n  - json_schema: {schema: {required: [x], type: object}, files: a.json}\n";
        let (a, b) = (ServiceSpecJson::new(&spec(a)).unwrap(), ServiceSpecJson::new(&spec(b)).unwrap());
        assert_eq!(a, b);
        let c = ServiceSpecJson::new(&spec("pipeline: p\nhooks: {reload: \"true\"}\n")).unwrap();
        let d = ServiceSpecJson::new(&spec("pipeline: p\nhooks: {reload: \"false\"}\n")).unwrap();
        assert_ne!(c.digest, d.digest);
        assert!(!a.json.contains(&b'\n'), "no pretty printing");
    }
}
