//! Arbitrary bytes into the scenario loader of the simulator.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sluice_sim::load_scenario("fuzz.yaml", text);
    }
});
