//! Integration tests of the simulator: the replays' acceptance numbers from the real scenario
//! files, determinism, refusal of bad scenario files, and a cut-down scale run.

// Test helpers fail loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod determinism;
mod errors;
mod model;
mod replays;
mod scale;

use sluice_sim::{Report, Scenario, StrategyReport};

/// The text of `examples/scenarios/<name>`.
pub fn scenario_text(name: &str) -> String {
    let path = format!("{}/../../examples/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn load(name: &str) -> Scenario {
    sluice_sim::load_scenario(name, &scenario_text(name)).unwrap_or_else(|e| panic!("{e}"))
}

pub fn strategy<'r>(report: &'r Report, name: &str) -> &'r StrategyReport {
    report.strategies.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no strategy {name}"))
}
