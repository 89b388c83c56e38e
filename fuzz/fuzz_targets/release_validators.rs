//! Arbitrary file contents through every validator kind (parsing JSON/YAML we did not write).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sluice_core::release::ReleaseFiles;
use sluice_core::validate::{ValidatorSpec, validate_release};

fuzz_target!(|data: &[u8]| {
    let specs = [
        ValidatorSpec::MaxItems { files: "*".into(), path: "/features".into(), max: 200 },
        ValidatorSpec::Unique { files: "*".into(), path: "/features".into(), key: Some("name".into()) },
        ValidatorSpec::MaxGrowth { files: "*".into(), max_ratio: 1.5, path: Some("/features".into()), min_bytes: 0 },
        ValidatorSpec::Cel { files: "*".into(), rule: "size(content) < 1000".into(), message: None },
    ];
    let mut files = ReleaseFiles::new();
    files.insert("a.json".into(), data.to_vec());
    files.insert("b.yaml".into(), data.to_vec());
    let parent = files.clone();
    let _ = validate_release(&specs, &files, Some(&parent));
});
