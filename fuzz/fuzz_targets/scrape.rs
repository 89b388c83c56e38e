//! Arbitrary bytes into the agent's Prometheus text parser (what it reads from a service's
//! `/metrics`): it must return Ok or a line-numbered error, never panic or hang, and what it
//! keeps must be well-formed and feed the sampler and histogram code without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sluice_agent::config::{ErrorSelector, MetricsConfig};
use sluice_agent::sampler::{self, Selection};
use sluice_agent::scrape::{self, ScrapeError};

fuzz_target!(|data: &[u8]| {
    let all = scrape::parse(data, &|_| true);
    // A name filter never changes whether a body is accepted (every line is checked), short of
    // the series limit.
    let some = scrape::parse(data, &|n| n.len() % 2 == 0);
    match (&all, &some) {
        (Err(ScrapeError::TooManySeries { .. }), _) | (_, Err(ScrapeError::TooManySeries { .. })) => {}
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("the filter changed the verdict: {a:?} vs {b:?}"),
    }
    let Ok(series) = all else { return };
    for s in &series {
        assert!(!s.name.is_empty());
        let first = s.name.as_bytes()[0];
        assert!(first.is_ascii_alphabetic() || first == b'_' || first == b':', "{:?}", s.name);
        assert!(s.labels.len() <= scrape::MAX_LABELS);
        let _ = s.key_without("le");
    }
    // The names this body uses as the sampler's metrics: reading and deltas never panic.
    let name = |i: usize| series.get(i).map(|s| s.name.trim_end_matches("_bucket").to_string());
    let config = MetricsConfig {
        url: "http://x/metrics".into(),
        timeout: sluice_core::time::Dur::secs(1),
        requests: name(0),
        errors: name(1).map(|metric| ErrorSelector {
            metric,
            label: Some("code".into()),
            matches: Some("5..".into()),
        }),
        latency: name(2),
    };
    if let Ok(selection) = Selection::new(&config) {
        let reading = selection.read(&series);
        let empty = selection.read(&[]);
        let delta = sampler::delta(&selection, &empty, &reading);
        let back = sampler::delta(&selection, &reading, &empty);
        assert!(delta.errors <= delta.requests && back.errors <= back.requests);
    }
});
