//! The 100k-target scenario: it loads and is what it says; a cut-down copy runs in debug builds
//! (the full run's ≤ 10 s is measured in release by `cargo bench -p sluice-sim --bench scale`).

use sluice_sim::Outcome;

use crate::{load, strategy};

#[test]
fn scale_100k_loads() {
    let s = load("scale-100k.yaml");
    let targets: u64 = s.fleet.iter().map(|g| u64::from(g.count)).sum();
    assert_eq!(targets, 100_000);
    assert_eq!(s.duration.0, 24 * 3_600_000);
    assert!(s.releases.len() >= 3);
}

#[test]
fn scale_cut_down_runs_with_sound_invariants() {
    let mut s = load("scale-100k.yaml");
    for g in &mut s.fleet {
        g.count = (g.count / 100).max(3);
    }
    let report = sluice_sim::run(&s, None);
    print!("{}", report.to_table());
    let g = strategy(&report, "global-push");
    let p = strategy(&report, "sluice");
    assert!(p.peak_failing_traffic_pct < g.peak_failing_traffic_pct);
    assert!(p.failing_traffic_pct_minutes < g.failing_traffic_pct_minutes / 10.0);
    assert_eq!(p.invariant_violations, 0);
    assert_eq!(p.outcome, Outcome::RolledBack);
    assert!(p.releases.shipped >= 3, "{:?}", p.releases);
}
