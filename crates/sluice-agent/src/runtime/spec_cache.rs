//! The services' specs, fetched once per digest. A long-poll answer names each service's spec
//! by digest (`sha256:` of its canonical JSON); the spec itself comes from
//! `GET /v1/agent/services/{service}/spec` the first time a digest is seen and is kept in
//! memory, so an answer costs the server a digest, not a copy of the spec.
//!
//! The bytes are checked against the digest the answer named before they are parsed: a spec
//! that changed between the answer and the fetch, a truncated or foreign body, or JSON that is
//! not a spec is an error ([`SpecError`]), never a spec. The poller then leaves the service as
//! it runs and asks again with the next poll. An answer from a server that predates digests
//! carries the spec inline, which is used as it is; an answer with neither has no spec (the
//! plan holds: nothing new is applied).

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_api::{Client, ClientError, DesiredService};
use sluice_core::spec::ServiceSpec;

/// Why a service's spec is not available.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpecError {
    #[error("cannot fetch the spec of service `{service}` (digest {digest}): {source}")]
    Fetch {
        service: String,
        digest: String,
        #[source]
        source: ClientError,
    },
    #[error(
        "the spec the server sent for service `{service}` has digest {got}, not {wanted} as the desired state said (the spec changed since, or the answer is damaged); keeping what runs, asking again with the next poll"
    )]
    Mismatch { service: String, wanted: String, got: String },
    #[error("the spec the server sent for service `{service}` (digest {digest}) is not a service spec: {source}")]
    Parse {
        service: String,
        digest: String,
        #[source]
        source: serde_json::Error,
    },
}

impl SpecError {
    /// The client error of a failed fetch (the poller re-enrolls on a 401).
    pub(crate) fn client_error(&self) -> Option<&ClientError> {
        match self {
            SpecError::Fetch { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The latest spec fetched for each service, with its digest.
#[derive(Debug, Default)]
pub(crate) struct SpecCache {
    by_service: BTreeMap<String, (String, Arc<ServiceSpec>)>,
}

impl SpecCache {
    /// The spec `desired` names: kept, fetched (once per digest) with `client`, or inline.
    /// `Ok(None)` when the answer names no spec.
    pub(crate) async fn resolve(
        &mut self,
        desired: &DesiredService,
        client: &Client,
    ) -> Result<Option<Arc<ServiceSpec>>, SpecError> {
        let service = desired.service.as_str();
        let Some(digest) = &desired.spec_digest else {
            return Ok(desired.spec.clone().map(Arc::new));
        };
        if let Some((kept, spec)) = self.by_service.get(service)
            && kept == digest
        {
            return Ok(Some(spec.clone()));
        }
        let bytes = client.service_spec(service).await.map_err(|source| SpecError::Fetch {
            service: service.to_string(),
            digest: digest.clone(),
            source,
        })?;
        let spec = Arc::new(accept(service, digest, &bytes)?);
        tracing::info!(service = %service, digest = %digest, "fetched the service's spec");
        self.by_service.insert(service.to_string(), (digest.clone(), spec.clone()));
        Ok(Some(spec))
    }
}

/// `bytes` as the spec of `service`, if their digest is `wanted`.
pub(crate) fn accept(service: &str, wanted: &str, bytes: &[u8]) -> Result<ServiceSpec, SpecError> {
    let got = sluice_bundle::sha256::digest(bytes);
    if got != wanted {
        return Err(SpecError::Mismatch { service: service.to_string(), wanted: wanted.to_string(), got });
    }
    serde_json::from_slice(bytes).map_err(|source| SpecError::Parse {
        service: service.to_string(),
        digest: got,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[u8] = br#"{"pipeline":"default","max_bundle_bytes":1000}"#;

    #[test]
    fn bytes_of_the_named_digest_are_the_spec() {
        let digest = sluice_bundle::sha256::digest(SPEC);
        let spec = accept("edge", &digest, SPEC).unwrap();
        assert_eq!(spec.max_bundle_bytes, 1000);
    }

    #[test]
    fn other_bytes_are_refused_before_parsing() {
        let digest = sluice_bundle::sha256::digest(SPEC);
        let other = br#"{"pipeline":"default","max_bundle_bytes":9999999}"#;
        let err = accept("edge", &digest, other).unwrap_err();
        assert!(matches!(err, SpecError::Mismatch { .. }), "{err}");
        assert!(err.to_string().contains(&digest), "{err}");
        // A malformed digest matches nothing.
        assert!(matches!(accept("edge", "sha256:nope", SPEC), Err(SpecError::Mismatch { .. })));
    }

    #[test]
    fn bytes_of_the_digest_that_are_no_spec_are_refused() {
        let junk = b"{\"pipeline\": 3}";
        let err = accept("edge", &sluice_bundle::sha256::digest(junk), junk).unwrap_err();
        assert!(matches!(err, SpecError::Parse { .. }), "{err}");
    }
}
