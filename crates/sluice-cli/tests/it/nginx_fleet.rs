//! The nginx fleet story of `examples/nginx-fleet/` end to end: real nginx instances, real
//! `sluice agent` and `sluice server` processes, a real Prometheus. Skipped (and passing) when
//! nginx or prometheus is not installed, unless `SLUICE_REQUIRE_ALL=1`.

use std::path::PathBuf;

use sluice_testkit::nginx_fleet::{self, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nginx_fleet_story_holds() {
    let mut opts = Options::new(PathBuf::from(env!("CARGO_BIN_EXE_sluice")));
    opts.progress = true;
    let missing = nginx_fleet::missing_tools(&opts);
    if !missing.is_empty() {
        let why = format!("{} not installed", missing.join(" and "));
        assert!(std::env::var("SLUICE_REQUIRE_ALL").as_deref() != Ok("1"), "SLUICE_REQUIRE_ALL=1 but {why}");
        eprintln!("skipped: {why}");
        return;
    }
    let report = nginx_fleet::run(&opts).await.expect("run the nginx fleet");
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert!(report.ok, "the story did not hold: {:?}\n{json}", report.problems);
    let b500 = report.steps.iter().find(|s| s.name == "variant-b-500").unwrap();
    assert_eq!(b500.gate_source.as_deref(), Some("prometheus"), "{json}");
    assert_eq!(b500.prod_targets_beyond_caught_wave_on_bad, Some(0), "{json}");
    assert_eq!(report.non_b_failures, 0, "{json}");
}
