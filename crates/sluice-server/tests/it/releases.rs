//! Uploading releases: validated against the service's validators, refused bundles are 400,
//! oversize ones 413, failed validation 422, and a refused release stores nothing.

use sluice_api::{ClientError, ErrorCode};
use sluice_bundle::{MANIFEST_FORMAT, MANIFEST_NAME, Manifest, ManifestFile, Mode};

use crate::harness::{self, all_events, files};

#[tokio::test]
async fn a_valid_release_is_stored_once() {
    let t = harness::with_spec().await;
    let bundle = harness::web_bundle(1);
    let created = t.admin.create_release("web", bundle.clone(), "first").await.unwrap();
    assert!(created.created);
    assert_eq!(created.release.id.0, sluice_bundle::digest(&bundle));
    assert_eq!(created.release.files, vec!["features.json".to_string()]);
    assert_eq!(created.release.message, "first");
    assert!(created.validation.violations.is_empty());
    let again = t.admin.create_release("web", bundle, "first").await.unwrap();
    assert!(!again.created);
    assert_eq!(t.admin.list_releases("web").await.unwrap().len(), 1);
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_release_failing_a_validator_is_422_and_nothing_is_stored() {
    let t = harness::with_spec().await;
    let before = all_events(&t.admin).await;
    let features = r#"{"features": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}]}"#;
    let bundle = sluice_bundle::pack(&files(&[("features.json", features)])).unwrap();
    let err = t.admin.create_release("web", bundle.clone(), "too many").await.unwrap_err();
    let ClientError::Api(e) = err else { panic!("expected an API error") };
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    assert!(e.message.contains("4 items"), "{}", e.message);
    let report: sluice_core::validate::ValidationReport = serde_json::from_value(e.details.unwrap()).unwrap();
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].file, "features.json");
    assert!(t.admin.list_releases("web").await.unwrap().is_empty());
    assert_eq!(all_events(&t.admin).await, before);
    let digest = sluice_bundle::digest(&bundle);
    let err = t.admin.bundle(&digest, 1 << 20).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound), "the bundle was not stored");
    t.server.shutdown().await.unwrap();
}

/// A tar.gz whose second entry is `../evil`, written header by header (the `tar` crate's
/// builder would refuse the path).
fn escaping_bundle() -> Vec<u8> {
    let data = b"pwned";
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        files: vec![ManifestFile {
            path: "../evil".into(),
            size: data.len() as u64,
            sha256: sluice_bundle::sha256::hex_digest(data),
            mode: Mode::Regular,
        }],
    };
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let mut tar = Vec::new();
    for (name, content) in [(MANIFEST_NAME.as_bytes(), manifest.as_slice()), (b"../evil".as_slice(), data.as_slice())] {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(content);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn a_bundle_escaping_its_directory_is_400_and_nothing_is_written() {
    let t = harness::with_spec().await;
    let before = all_events(&t.admin).await;
    let err = t.admin.create_release("web", escaping_bundle(), "evil").await.unwrap_err();
    let ClientError::Api(e) = err else { panic!("expected an API error") };
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(e.message.contains("../evil"), "{}", e.message);
    assert_eq!(e.details.unwrap()["reason"], "unsafe_path");
    assert!(t.admin.list_releases("web").await.unwrap().is_empty());
    assert_eq!(all_events(&t.admin).await, before);
    assert!(!t.dir.path().join("evil").exists() && !t.dir.path().join("tmp").exists(), "read in memory only");
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_oversize_bundle_is_413() {
    let t = harness::with_spec().await;
    // Incompressible content over the service's 20000-byte limit.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: String = (0..40_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let bundle =
        sluice_bundle::pack(&files(&[("features.json", &format!(r#"{{"features": [], "pad": "{noise}"}}"#))])).unwrap();
    assert!(bundle.len() > 20_000);
    let err = t.admin.create_release("web", bundle, "big").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::PayloadTooLarge), "{err}");
    assert!(t.admin.list_releases("web").await.unwrap().is_empty());
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_release_of_an_unknown_service_is_404() {
    let t = harness::with_spec().await;
    let err = t.admin.create_release("nope", harness::web_bundle(1), "x").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    t.server.shutdown().await.unwrap();
}
