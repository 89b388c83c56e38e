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

#[test]
fn a_silent_fault_is_caught_by_silence_and_the_targets_roll_back_when_they_return() {
    let s = scenario("f: { rules: [ { selector: { env: prod }, silent: { for: 30m } } ] }", "", "");
    let r = sluice_sim::run(&s, None);
    let sluice = &r.strategies[1];
    assert_eq!(sluice.invariant_violations, 0);
    // Dev is unaffected and passes; prod's first wave sends nothing and fails on silence.
    let fail = sluice.markers.iter().find(|m| m.kind == MarkerKind::GateFail).expect("a failed gate");
    assert!(fail.label.contains("gate silence") && fail.label.contains("silent: prod-"), "{}", fail.label);
    let rollback = sluice.markers.iter().find(|m| m.kind == MarkerKind::Rollback).expect("a rollback");
    assert!(rollback.label.contains("silent: prod-"), "{}", rollback.label);
    let wave = sluice.markers.iter().find(|m| m.kind == MarkerKind::Wave && m.label.contains("prod wave 1")).unwrap();
    // Silent for silent_after (3 report intervals) from the apply, caught at the next step.
    assert!(rollback.at_ms <= wave.at_ms + 3_000 + 30_000 + 10_000, "{} vs {}", rollback.at_ms, wave.at_ms);
    // The silent targets cannot take their rollback: the rollout says so, naming them.
    assert_eq!(sluice.releases.rollback_incomplete, 1, "{:?}", sluice.releases);
    assert!(
        sluice.notes.iter().any(|n| n.contains("ended rollback incomplete") && n.contains("runs the candidate")),
        "{:?}",
        sluice.notes
    );
    // Only the first wave (10%) ever ran it; its traffic fails until the hosts are back (30m)
    // and take known-good.
    assert_eq!(sluice.prod_share_ever_on_bad_release_pct, 10.0);
    assert_eq!(sluice.peak_failing_traffic_pct, 10.0);
    let back = sluice.series.iter().rev().find(|p| p.1 > 0.0).map(|p| p.0).unwrap();
    let clean = sluice.series.iter().find(|p| p.0 > back).expect("traffic recovers");
    assert_eq!(clean.1, 0.0);
    assert!((30 * 60_000..=31 * 60_000).contains(&(clean.0 - wave.at_ms)), "{} after the wave", clean.0 - wave.at_ms);
    assert!(sluice.recover_s.is_some());

    // The global push: every prod target goes silent; the revert (15m after the push) reaches
    // each only when it is back, 30m after it went down.
    let push = &r.strategies[0];
    assert_eq!(push.peak_failing_traffic_pct, 100.0);
    let revert = push.markers.iter().find(|m| m.kind == MarkerKind::Rollback).unwrap();
    let recovered = push.series.last().unwrap();
    assert_eq!(recovered.1, 0.0);
    assert!((40 * 60_000..=40 * 60_000 + 10_000).contains(&recovered.0), "{recovered:?}");
    assert!(recovered.0 > revert.at_ms + 10 * 60_000);
}

#[test]
fn a_silent_target_back_on_the_bad_release_goes_silent_again() {
    // Back every 4 minutes; the revert is pushed ~15 minutes after the push and reaches each
    // target within a minute, or at its next return if it is down then.
    let s = scenario("f: { rules: [ { selector: { env: prod }, silent: { for: 4m } } ] }", "", "");
    let push = &sluice_sim::run(&s, None).strategies[0];
    let revert = push.markers.iter().find(|m| m.kind == MarkerKind::Rollback).unwrap();
    let recovered = push.series.last().unwrap();
    assert_eq!(recovered.1, 0.0);
    assert!(recovered.0 > revert.at_ms && recovered.0 <= revert.at_ms + 5 * 60_000 + 10_000, "{recovered:?}");
    // No gap: each is down from the push until it takes the revert.
    assert!(push.failing_s * 1000.0 >= (revert.at_ms - 10 * 60_000 - 10_000) as f64, "{}", push.failing_s);
    assert_eq!(push.series.iter().filter(|p| p.1 == 0.0).count(), 2, "{:?}", push.series);
}

#[test]
fn a_silence_once_is_a_restart_the_target_comes_back_from_for_good() {
    // Down 4 minutes after the push, then up on the same release: one dip, not a loop.
    let s = scenario("f: { rules: [ { selector: { env: prod }, silent: { for: 4m, once: true } } ] }", "", "");
    let push = &sluice_sim::run(&s, None).strategies[0];
    let down = push.series.iter().filter(|p| p.1 > 0.0).count();
    assert!(down >= 1, "{:?}", push.series);
    let last_up = push.series.last().expect("a series");
    assert_eq!(last_up.1, 0.0, "{:?}", push.series);
    // The propagation spreads the restarts over a minute: down at most ~5 minutes in all.
    assert!(push.failing_s <= 5.0 * 60.0 + 10.0, "{}", push.failing_s);
}

#[test]
fn a_silence_that_begins_after_the_bake_passes_and_is_caught_later() {
    // Dev's 5-minute bake is over before the hosts go silent; prod's first wave catches it.
    let s = scenario("f: { rules: [ { selector: {}, silent: true, onset: 6m } ] }", "", "");
    let sluice = &sluice_sim::run(&s, None).strategies[1];
    assert_eq!(sluice.invariant_violations, 0);
    let rollback = sluice.markers.iter().find(|m| m.kind == MarkerKind::Rollback).expect("a rollback");
    assert!(rollback.label.contains("silent: "), "{}", rollback.label);
    // Silent for good: the dev and first-wave targets never take their rollback.
    assert_eq!(sluice.releases.rollback_incomplete, 1);
    assert_eq!(sluice.recover_s, None);
    assert!(sluice.peak_failing_traffic_pct <= 10.0);
}

#[test]
fn a_never_confirming_fault_fails_the_wave_at_apply_timeout() {
    let s = scenario("f: { rules: [ { selector: { env: prod }, never_confirms: true, crash: true } ] }", "", "");
    let r = sluice_sim::run(&s, None);
    let sluice = &r.strategies[1];
    assert_eq!(sluice.invariant_violations, 0);
    let wave = sluice.markers.iter().find(|m| m.kind == MarkerKind::Wave && m.label.contains("prod wave 1")).unwrap();
    let fail = sluice.markers.iter().find(|m| m.kind == MarkerKind::GateFail).expect("a failure");
    assert!(fail.label.contains("apply not confirmed by prod-"), "{}", fail.label);
    // apply_timeout defaults to 2 minutes; the engine steps every report interval.
    assert!((120_000..=130_000).contains(&(fail.at_ms - wave.at_ms)), "{}", fail.at_ms - wave.at_ms);
    assert!(sluice.notes.iter().any(|n| n.contains("did not confirm the apply within 2m")), "{:?}", sluice.notes);
    // They report the known-good release all along: the rollback is done at once, and the
    // hanging apply stops when they are told to go back.
    assert_eq!(sluice.releases.rolled_back, 1, "{:?}", sluice.releases);
    assert_eq!(sluice.targets_ever_on_bad_release, 3 + 10);
    assert_eq!(sluice.peak_failing_traffic_pct, 10.0);
    let last_bad = sluice.series.iter().rev().find(|p| p.1 > 0.0).unwrap().0;
    let rollback = sluice.markers.iter().find(|m| m.kind == MarkerKind::Rollback).unwrap();
    assert!(last_bad >= wave.at_ms && last_bad <= rollback.at_ms + 3_000, "{last_bad}");
    assert!((118.0..=133.0).contains(&sluice.failing_s), "{}", sluice.failing_s);
}

#[test]
fn a_slow_rollback_ends_rollback_incomplete_and_lands_hours_later() {
    let fault = "f: { rules: [ { selector: { env: prod }, error_share: 1.0, rollback_delay: { min: 1h, max: 1h } } ] }";
    let text = BASE
        .replace("FAULT", fault)
        .replace("APPROVAL", "")
        .replace("EXTRA", "")
        .replace("  - { id: r2, at: 60m }\n", "");
    let r = sluice_sim::run(&load_scenario("model.yaml", &text).unwrap(), None);
    let sluice = &r.strategies[1];
    assert_eq!(sluice.invariant_violations, 0);
    assert_eq!(sluice.releases.rollback_incomplete, 1, "{:?}", sluice.releases);
    assert_eq!(sluice.outcome, Outcome::RollbackIncomplete);
    let rollback = sluice.markers.iter().find(|m| m.kind == MarkerKind::Rollback).unwrap();
    assert!(
        sluice.notes.iter().any(|n| n.contains("ended rollback incomplete") && n.contains("runs the candidate")),
        "{:?}",
        sluice.notes
    );
    // The first wave keeps failing until its rollback lands, an hour after it was told.
    let clean = sluice.series.last().unwrap();
    assert_eq!(clean.1, 0.0);
    assert_eq!(clean.0 - rollback.at_ms, 3_600_000);
    let recover = sluice.recover_s.expect("recovers") * 1000.0;
    assert!(recover >= (rollback.at_ms + 3_600_000 - 10 * 60_000) as f64, "{recover}");

    // A group's own rollback delay slows a revert too.
    let fault = "f: { rules: [ { selector: { env: prod }, error_share: 1.0 } ] }";
    let text = BASE
        .replace("FAULT", fault)
        .replace("APPROVAL", "")
        .replace("EXTRA", "")
        .replace("  - { id: r2, at: 60m }\n", "")
        .replace("traffic_share: 1.0 }", "traffic_share: 1.0, rollback_delay: { min: 2h, max: 2h } }")
        .replace("duration: 2h", "duration: 6h");
    let s = load_scenario("model.yaml", &text).unwrap();
    let push = &sluice_sim::run(&s, None).strategies[0];
    let revert = push.markers.iter().find(|m| m.kind == MarkerKind::Rollback).unwrap();
    assert_eq!(push.series.last().unwrap(), &(revert.at_ms + 7_200_000, 0.0));
}

#[test]
fn the_simulator_refuses_what_the_servers_policy_refuses_and_breaks_glass_with_a_second_person() {
    let good = "f: { rules: [ { selector: { env: nowhere }, error_share: 1.0 } ] }";
    let half_at_once = |extra: &str| {
        let text = BASE
            .replace("FAULT", good)
            .replace("APPROVAL", "")
            .replace("[\"10%\", \"100%\"]", "[\"50%\", \"100%\"]")
            .replace("EXTRA", extra);
        sluice_sim::run(&load_scenario("model.yaml", &text).unwrap_or_else(|e| panic!("{e}")), None)
    };
    // Half of prod before any of it was judged: over the default max_blast (25%), refused.
    let r = half_at_once("");
    let s = &r.strategies[1];
    assert_eq!(s.outcome, Outcome::Rejected);
    assert_eq!((s.releases.rejected, s.releases.shipped), (2, 0), "{:?}", s.releases);
    assert!(
        s.notes.iter().any(|n| n.contains("refused by policy") && n.contains("max_blast (25%) allows 25")),
        "{:?}",
        s.notes
    );
    assert_eq!(s.targets_ever_on_bad_release, 0);
    // Broken glass, approved by a second person after 2 minutes: both ship.
    let r = half_at_once("break_glass: sev1\n    approvals: { break_glass: 2m }");
    let s = &r.strategies[1];
    assert_eq!((s.releases.rejected, s.releases.shipped), (0, 2), "{:?} {:?}", s.releases, s.notes);
    assert_eq!(s.invariant_violations, 0);
    // Nobody approves it: each rollout ends unstarted when the window closes.
    let r = half_at_once("break_glass: sev1");
    let s = &r.strategies[1];
    assert_eq!(s.releases.shipped, 0, "{:?}", s.releases);
    assert!(s.notes.iter().any(|n| n.contains("waits for approval of its broken glass")), "{:?}", s.notes);
    assert_eq!(s.invariant_violations, 0);
}

#[test]
fn a_stage_needing_two_approvals_gets_them_from_two_scripted_people() {
    let good = "f: { rules: [ { selector: { env: nowhere }, error_share: 1.0 } ] }";
    let two = "approvals: { count: 2 }";
    let r = sluice_sim::run(&scenario(good, two, "approvals: { prod: 5m }"), None);
    let s = &r.strategies[1];
    assert_eq!(s.outcome, Outcome::Completed, "{:?}", s.notes);
    assert_eq!(s.releases.shipped, 2);
    // A missing change record is refused as the server refuses it.
    let text = BASE.replace("FAULT", good).replace("APPROVAL", "requires: { message: true }").replace("EXTRA", "");
    let r = sluice_sim::run(&load_scenario("model.yaml", &text).unwrap_or_else(|e| panic!("{e}")), None);
    let s = &r.strategies[1];
    assert_eq!((s.outcome, s.releases.shipped), (Outcome::Rejected, 0));
    assert!(s.notes.iter().any(|n| n.contains("a message is required")), "{:?}", s.notes);
}
