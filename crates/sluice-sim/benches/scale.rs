//! Wall time of the 100,000-target, 24-hour scenario (`examples/scenarios/scale-100k.yaml`).
//! Target: ≤ 10 s in a release build on a 2-core machine.
//!
//! `cargo bench -p sluice-sim --bench scale` (add `-- N` to run N times; default 3).

#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::time::Instant;

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(3);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/scenarios/scale-100k.yaml");
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let t0 = Instant::now();
    let scenario = match sluice_sim::load_scenario("scale-100k.yaml", &text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let load = t0.elapsed();
    let targets: u64 = scenario.fleet.iter().map(|g| u64::from(g.count)).sum();
    println!("scale-100k: {targets} targets, {} simulated, load {:.1} ms", scenario.duration, load.as_secs_f64() * 1e3);
    let mut times = Vec::new();
    let mut last = None;
    for i in 0..runs.max(1) {
        let t = Instant::now();
        let report = sluice_sim::run(&scenario, None);
        let dt = t.elapsed().as_secs_f64();
        println!("run {}: {dt:.3} s wall", i + 1);
        times.push(dt);
        last = Some(report);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "scale-100k wall time: min {:.3} s, median {:.3} s, max {:.3} s (budget 10 s)",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    if let Some(r) = last {
        print!("{}", r.to_table());
    }
}
