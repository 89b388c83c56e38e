//! `sluice-sim` owns the fleet simulator behind `sluice sim`: a deterministic discrete-event
//! simulation of a fleet (groups of targets with labels and a share of traffic), releases that
//! arrive (listed, or generated like a data file every few minutes), faults that hurt the
//! targets a label selector picks (5xx share, latency, crashes, wrong output on a quality
//! metric, delayed onset, flapping), and strategies compared side by side: a global push with
//! people detecting and reverting, and sluice pipelines driven by the *real* sluice-core engine
//! (`Rollout`, `ServiceState`, the validators) on a virtual clock. It reports the share of prod
//! traffic failing over time as JSON, a text table and an SVG chart.
//!
//! It must never read a clock, draw unseeded randomness, iterate a hash map into its output,
//! or reimplement a decision the engine makes (waves, gates, rollback, holds, validation): the
//! same seed gives byte-identical reports, and what it measures is what sluice would do. It does
//! no I/O either: the caller (the CLI) reads the scenario file and writes the outputs.
//!
//! ```no_run
//! let text = std::fs::read_to_string("examples/scenarios/cloudflare-2025-12-05.yaml").unwrap();
//! let scenario = sluice_sim::load_scenario("cloudflare-2025-12-05.yaml", &text).unwrap();
//! let report = sluice_sim::run(&scenario, None);
//! print!("{}", report.to_table());
//! ```

mod error;
mod failure;
mod fleet;
mod releases;
mod report;
mod rng;
pub mod scenario;
mod strategy;
mod svg;
mod timeline;
mod world;

pub use error::SimError;
pub use report::{Outcome, ReleaseCounts, Report, StrategyReport};
pub use scenario::{Scenario, load_scenario};
pub use timeline::{Marker, MarkerKind};

use sluice_core::time::Millis;

/// Run every strategy of `scenario` with `seed` (default: the scenario's own) and report.
pub fn run(scenario: &Scenario, seed: Option<u64>) -> Report {
    let seed = seed.unwrap_or(scenario.seed);
    let fleet = fleet::Fleet::new(scenario);
    let cat = releases::Catalogue::new(scenario, seed);
    let model = failure::FailureModel::new(scenario, &fleet, &cat);
    let ctx = world::Ctx { scenario, fleet: &fleet, cat: &cat, model: &model, seed, end: Millis(scenario.duration.0) };
    let strategies = scenario.strategies.iter().map(|st| strategy::run(ctx, st)).collect();
    Report {
        scenario: scenario.name.clone(),
        seed,
        description: scenario.description.clone(),
        duration_ms: scenario.duration.0,
        clock_minutes: scenario.clock.as_deref().and_then(report::parse_clock),
        strategies,
    }
}
