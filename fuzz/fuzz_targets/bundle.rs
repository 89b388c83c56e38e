//! Arbitrary bytes as a release bundle, read in memory as the server reads an upload: it must
//! return a bundle or a typed refusal, never panic or hang, and what it accepts must agree with
//! its own manifest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sluice_bundle::{Limits, read_in_memory, sha256};

fuzz_target!(|data: &[u8]| {
    let limits =
        Limits { max_bundle_bytes: 1 << 20, max_total_bytes: 1 << 20, max_file_bytes: 1 << 18, max_entries: 256 };
    let Ok(bundle) = read_in_memory(data, &limits) else { return };
    assert_eq!(bundle.manifest.files.len(), bundle.files.len());
    for (listed, (path, content)) in bundle.manifest.files.iter().zip(&bundle.files) {
        assert_eq!(&listed.path, path);
        assert_eq!(listed.size, content.len() as u64);
        assert_eq!(listed.sha256, sha256::hex_digest(content));
    }
});
