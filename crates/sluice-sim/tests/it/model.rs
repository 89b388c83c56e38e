//! The failure model and the operators' part, on small scenarios: onset and flapping, apply
//! failures, approvals, and clearing a hold.

use sluice_sim::{MarkerKind, Outcome, load_scenario};

const BASE: &str = "\
name: model
duration: 2h
service: svc
fleet:
  - { name: dev, count: 3, labels: { env: dev } }
  - { name: prod, count: 100, labels: { env: prod }, traffic_share: 1.0 }
faults:
  FAULT
initial_release: { id: r0 }
releases:
  - { id: r1, at: 10m, faults: [f] }
  - { id: r2, at: 60m }
pipelines:
  p:
    stages:
      - name: dev
        selector: { env: dev }
        bake: 5m
        gates:
          - threshold: { name: errors, metric: error_rate, max: 0.01 }
      - name: prod
        selector: { env: prod }
        APPROVAL
        waves: [\"10%\", \"100%\"]
        bake: 5m
        gates:
          - threshold: { name: errors, metric: error_rate, max: 0.01 }
strategies:
  - name: push
    global_push: { propagation: 10s, detect_after: 5m, revert_after: 10m }
  - name: sluice
    pipeline: p
    EXTRA
";

fn scenario(fault: &str, approval: &str, extra: &str) -> sluice_sim::Scenario {
    let text = BASE.replace("FAULT", fault).replace("APPROVAL", approval).replace("EXTRA", extra);
    load_scenario("model.yaml", &text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn onset_delays_the_failure_and_detection() {
    let s = scenario("f: { rules: [ { selector: {}, error_share: 1.0, onset: 10m } ] }", "", "");
    let r = sluice_sim::run(&s, None);
    let push = &r.strategies[0];
    // Pushed at 10m, failing from ~20m, reverted 10m after people notice (5m after full impact).
    let first_failing = push.series.iter().find(|p| p.1 > 0.0).map(|p| p.0).unwrap();
    assert!((20 * 60_000..=20 * 60_000 + 10_000).contains(&first_failing), "{first_failing}");
    assert!(push.detect_s.unwrap() >= 15.0 * 60.0);
    assert!((15.0 * 60.0..=17.0 * 60.0).contains(&push.failing_s), "{}", push.failing_s);
    // The 5-minute dev bake is shorter than the onset: dev passes, prod's first wave catches it
    // (the second release waits behind the hold).
    let sluice = &r.strategies[1];
    assert!(sluice.peak_failing_traffic_pct <= 10.0, "{}", sluice.peak_failing_traffic_pct);
    assert_eq!(sluice.outcome, Outcome::Held);
    assert_eq!(sluice.invariant_violations, 0);
}

#[test]
fn flapping_fails_half_the_time() {
    let s = scenario("f: { rules: [ { selector: {}, error_share: 1.0, flap: 1m } ] }", "", "");
    let push = &sluice_sim::run(&s, None).strategies[0];
    let window_s = push.recover_s.unwrap();
    assert!(push.failing_s > 0.4 * window_s && push.failing_s < 0.6 * window_s, "{} of {window_s}", push.failing_s);
    let rises = push.series.windows(2).filter(|w| w[0].1 == 0.0 && w[1].1 > 0.0).count();
    assert!(rises >= 5, "{rises}");
}

#[test]
fn an_apply_failure_rolls_back_without_running_the_release() {
    let s = scenario("f: { rules: [ { selector: {}, apply_error: \"nginx -t failed\" } ] }", "", "");
    let r = sluice_sim::run(&s, None);
    let sluice = &r.strategies[1];
    assert_eq!(sluice.targets_ever_on_bad_release, 0);
    assert_eq!(sluice.releases.rolled_back, 1);
    assert!(sluice.detect_s.is_some());
    assert!(sluice.markers.iter().any(|m| m.kind == MarkerKind::GateFail && m.label.contains("nginx -t failed")));
}

#[test]
fn approvals_and_holds_are_people() {
    let good = "f: { rules: [ { selector: { env: nowhere }, error_share: 1.0 } ] }";
    // Nobody approves: the rollout waits at prod.
    let r = sluice_sim::run(&scenario(good, "approval: true", ""), None);
    assert_eq!(r.strategies[1].outcome, Outcome::Held);
    assert!(
        r.strategies[1].notes.iter().any(|n| n.contains("waits for approval of stage prod")),
        "{:?}",
        r.strategies[1].notes
    );
    // Someone approves after 5 minutes: both releases ship.
    let r = sluice_sim::run(&scenario(good, "approval: true", "approvals: { prod: 5m }"), None);
    assert_eq!(r.strategies[1].outcome, Outcome::Completed, "{:?}", r.strategies[1].notes);
    assert_eq!(r.strategies[1].releases.shipped, 2);
    // A failure holds the service; a person clears the hold and the next release ships.
    let bad = "f: { rules: [ { selector: {}, error_share: 1.0 } ] }";
    let r = sluice_sim::run(&scenario(bad, "", ""), None);
    assert_eq!(r.strategies[1].outcome, Outcome::Held);
    let r = sluice_sim::run(&scenario(bad, "", "clear_hold_after: 30m"), None);
    let s = &r.strategies[1];
    assert_eq!(s.outcome, Outcome::RolledBack);
    assert_eq!((s.releases.rolled_back, s.releases.shipped), (1, 1), "{:?}", s.releases);
    assert_eq!(s.invariant_violations, 0);
}
