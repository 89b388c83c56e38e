//! Arbitrary bytes into the spec parser: it must return Ok or a located error, never panic or hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sluice_core::spec::parse_spec("fuzz.yaml", text);
    }
});
