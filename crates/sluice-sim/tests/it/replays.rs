//! The replays' acceptance numbers, from the scenario files in `examples/scenarios/`.

use sluice_sim::{MarkerKind, Outcome};

use crate::{load, strategy};

#[test]
fn cloudflare_2025_12_05() {
    let report = sluice_sim::run(&load("cloudflare-2025-12-05.yaml"), None);
    print!("{}", report.to_table());

    // The global push reproduces the incident: ~28% of traffic failing, recovered ~25 min after
    // the push (the release's creation).
    let g = strategy(&report, "global-push");
    assert!((25.0..=31.0).contains(&g.peak_failing_traffic_pct), "peak {}", g.peak_failing_traffic_pct);
    let recover = g.recover_s.expect("global push recovers");
    assert!((20.0 * 60.0..=30.0 * 60.0).contains(&recover), "recover {recover}");
    assert!(g.detect_s.is_some_and(|d| d < recover));
    assert_eq!(g.outcome, Outcome::RolledBack);

    // Staging holds an FL1 + Managed Ruleset target: the staging gate fails, prod never sees it.
    let c = strategy(&report, "sluice-staging-covered");
    assert_eq!(c.peak_failing_traffic_pct, 0.0);
    assert_eq!(c.failing_s, 0.0);
    assert_eq!(c.prod_share_ever_on_bad_release_pct, 0.0);
    assert_eq!(c.outcome, Outcome::RolledBack);
    assert!(c.detect_s.is_some() && c.recover_s.is_some());
    assert!(c.coverage_gaps.is_empty(), "{:?}", c.coverage_gaps);

    // Staging lacks that variant: the prod canary wave catches it within a minute, and coverage
    // checking warned before the promotion.
    let gap = strategy(&report, "sluice-staging-gap");
    assert!(
        gap.peak_failing_traffic_pct > 0.0 && gap.peak_failing_traffic_pct <= 1.0,
        "{}",
        gap.peak_failing_traffic_pct
    );
    assert!(gap.failing_s > 0.0 && gap.failing_s <= 60.0, "failing_s {}", gap.failing_s);
    assert!(gap.prod_share_ever_on_bad_release_pct <= 1.0);
    assert_eq!(gap.outcome, Outcome::RolledBack);
    assert!(
        gap.coverage_gaps.iter().any(|g| g.contains("stage prod") && g.contains("proxy=fl1,ruleset=managed")),
        "{:?}",
        gap.coverage_gaps
    );
    assert!(report.to_table().contains("coverage gap: "));

    for s in &report.strategies {
        assert_eq!(s.invariant_violations, 0, "{}", s.name);
    }
}

#[test]
fn cloudflare_2025_11_18() {
    let report = sluice_sim::run(&load("cloudflare-2025-11-18.yaml"), None);
    print!("{}", report.to_table());

    // Global push: most core traffic fails, on and off at first (good and bad files alternate).
    let g = strategy(&report, "global-push");
    assert!(g.peak_failing_traffic_pct > 50.0, "{}", g.peak_failing_traffic_pct);
    let rises = g.series.windows(2).filter(|w| w[0].1 == 0.0 && w[1].1 > 0.0).count();
    let falls = g.series.windows(2).filter(|w| w[0].1 > 0.0 && w[1].1 == 0.0).count();
    assert!(rises >= 2 && falls >= 2, "the global push should flap: {rises} rises, {falls} falls");
    assert!(g.recover_s.is_some_and(|r| r > 2.0 * 3600.0), "{:?}", g.recover_s);

    // With the validators, no bad file ever reaches a target.
    let v = strategy(&report, "sluice");
    assert_eq!(v.targets_ever_on_bad_release, 0);
    assert_eq!(v.outcome, Outcome::Rejected);
    assert_eq!(v.peak_failing_traffic_pct, 0.0);
    assert_eq!(v.detect_s, Some(0.0));
    assert!(v.releases.rejected > 0 && v.releases.shipped > 0, "{:?}", v.releases);
    assert_eq!(v.releases.rolled_back, 0);

    // Without them, the gates catch it and the service holds instead of flapping.
    let n = strategy(&report, "sluice-no-validator");
    assert!(n.peak_failing_traffic_pct <= 1.0, "{}", n.peak_failing_traffic_pct);
    assert_eq!(n.outcome, Outcome::Held);
    assert_eq!(n.releases.rolled_back, 1);
    assert!(n.releases.held > 0, "{:?}", n.releases);
    assert!(n.detect_s.is_some() && n.recover_s.is_some());
    let rollback = n.markers.iter().find(|m| m.kind == MarkerKind::Rollback).expect("a rollback");
    assert!(
        !n.markers.iter().any(|m| m.kind == MarkerKind::Wave && m.at_ms > rollback.at_ms),
        "no wave may start after the hold"
    );
    // FL1 serves no errors on the bad file; the gate on the bot-score quality metric sees it.
    assert!(
        n.markers.iter().any(|m| m.kind == MarkerKind::GateFail && m.label.contains("gate bot-score [proxy=fl1]")),
        "the quality gate should fail on FL1"
    );
    let last_bad = n.series.iter().rev().find(|p| p.1 > 0.0).map_or(0, |p| p.0);
    assert!(last_bad <= rollback.at_ms + 60_000);

    for s in &report.strategies {
        assert_eq!(s.invariant_violations, 0, "{}", s.name);
    }
}

#[test]
fn silent_consumer_crash() {
    let report = sluice_sim::run(&load("silent-consumer-crash.yaml"), None);
    print!("{}", report.to_table());
    let rollback_note = |s: &sluice_sim::StrategyReport| {
        s.notes.iter().find(|n| n.contains(": rollback of ")).cloned().unwrap_or_else(|| panic!("{:?}", s.notes))
    };

    // The validators accept the file; pushed everywhere, FL2 (60% of traffic) goes down: the
    // bare-metal hosts silently, until they take the revert at their next reboot.
    let g = strategy(&report, "global-push");
    assert_eq!(g.releases.rejected, 0);
    assert_eq!(g.peak_failing_traffic_pct, 60.0);
    assert_eq!(g.prod_share_ever_on_bad_release_pct, 100.0);
    assert!(g.recover_s.is_some_and(|r| r > 25.0 * 60.0), "{:?}", g.recover_s);
    assert_eq!(g.outcome, Outcome::RolledBack);

    // Staging holds an FL2 host: it goes silent, the wave fails on its silence, prod never
    // sees the file. The silent host takes known-good when it is back.
    let c = strategy(&report, "sluice-staging-covered");
    assert_eq!(c.releases.rejected, 0);
    assert_eq!((c.peak_failing_traffic_pct, c.prod_share_ever_on_bad_release_pct), (0.0, 0.0));
    let note = rollback_note(c);
    assert!(
        note.contains("stage staging wave 1: gate silence") && note.contains("silent: staging-fl2-bare-1"),
        "{note}"
    );
    assert_eq!(c.outcome, Outcome::RollbackIncomplete);
    assert!(c.recover_s.is_some());

    // Staging has no FL2: prod's first wave (one target of each variant first) goes silent and
    // fails within silent_after; ≤ 1% of prod ever ran the file.
    let gap = strategy(&report, "sluice-staging-gap");
    assert!(gap.prod_share_ever_on_bad_release_pct <= 1.0, "{}", gap.prod_share_ever_on_bad_release_pct);
    assert!(gap.peak_failing_traffic_pct <= 1.0, "{}", gap.peak_failing_traffic_pct);
    let note = rollback_note(gap);
    assert!(note.contains("stage prod wave 1: gate silence") && note.contains("silent: prod-fl2-bare-"), "{note}");
    assert_eq!(gap.outcome, Outcome::RollbackIncomplete);
    assert!(gap.recover_s.is_some());
    assert!(gap.coverage_gaps.iter().any(|g| g.contains("proxy=fl2,runtime=bare")), "{:?}", gap.coverage_gaps);

    // Every FL2 in a container: nothing is silent, the first wave never confirms the apply and
    // fails at apply_timeout, naming them; ≤ 1% of prod ever got the file.
    let nc = strategy(&report, "sluice-never-confirms");
    assert!(nc.prod_share_ever_on_bad_release_pct <= 1.0, "{}", nc.prod_share_ever_on_bad_release_pct);
    assert!(nc.peak_failing_traffic_pct <= 1.0, "{}", nc.peak_failing_traffic_pct);
    let note = rollback_note(nc);
    assert!(note.contains("did not confirm the apply within 2m") && note.contains("prod-fl2-container-"), "{note}");
    assert!(!note.contains("silent:"), "{note}");
    assert_eq!(nc.outcome, Outcome::RolledBack);
    assert!(nc.failing_s <= 130.0, "{}", nc.failing_s);

    for s in &report.strategies {
        assert_eq!(s.invariant_violations, 0, "{}", s.name);
    }
}

#[test]
fn delayed_onset() {
    let report = sluice_sim::run(&load("delayed-onset.yaml"), None);
    print!("{}", report.to_table());

    // 2-minute bakes and no probation: the release completes long before its failure starts,
    // becomes known-good, and then fails 30% of every prod request with nobody watching.
    let none = strategy(&report, "sluice-no-probation");
    assert_eq!(none.outcome, Outcome::Completed);
    assert_eq!(none.releases.shipped, 1);
    assert!(none.peak_failing_traffic_pct >= 29.0, "{}", none.peak_failing_traffic_pct);
    assert_eq!(none.detect_s, None);

    // The same bakes with a 1 h probation: dev, first to run it, fails first; everything rolls
    // back to the previous known-good before any prod host fails, and the release never
    // becomes known-good.
    let p = strategy(&report, "sluice-probation");
    assert_eq!(p.outcome, Outcome::RolledBack);
    assert_eq!(p.releases.shipped, 0);
    assert_eq!(p.peak_failing_traffic_pct, 0.0);
    let note = p.notes.iter().find(|n| n.contains(": rollback of ")).unwrap_or_else(|| panic!("{:?}", p.notes));
    assert!(note.contains("failed in probation") && note.contains("never became known-good"), "{note}");
    assert!(p.markers.iter().any(|m| m.kind == MarkerKind::Rollback));
    for s in &report.strategies {
        assert_eq!(s.invariant_violations, 0, "{}", s.name);
    }
}

#[test]
fn capacity_restart() {
    let report = sluice_sim::run(&load("capacity-restart.yaml"), None);
    print!("{}", report.to_table());

    // Each host serves nothing for 3 minutes after it applies. Waves alone restart the last
    // wave's 90% of prod together.
    let waves = strategy(&report, "sluice-waves-only");
    assert_eq!(waves.outcome, Outcome::Completed);
    assert!(waves.peak_failing_traffic_pct >= 80.0, "{}", waves.peak_failing_traffic_pct);

    // max_unavailable 5%: never more than 5 of the 100 prod hosts out at once; the same
    // release completes, over a longer time.
    let bounded = strategy(&report, "sluice-max-unavailable");
    assert_eq!(bounded.outcome, Outcome::Completed);
    assert!(bounded.peak_failing_traffic_pct <= 5.0, "{}", bounded.peak_failing_traffic_pct);
    assert!(bounded.failing_s > waves.failing_s);
    for s in &report.strategies {
        assert_eq!(s.invariant_violations, 0, "{}", s.name);
    }
}

#[test]
fn json_carries_the_notes_and_markers_the_table_and_chart_show() {
    let report = sluice_sim::run(&load("delayed-onset.yaml"), None);
    let v: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
    let p =
        v["strategies"].as_array().and_then(|s| s.iter().find(|s| s["name"] == "sluice-probation")).expect("strategy");
    let notes: Vec<&str> = p["notes"].as_array().expect("notes").iter().filter_map(|n| n.as_str()).collect();
    assert!(notes.iter().any(|n| n.contains("rollback of 205 targets to cart-api-v7")), "{notes:?}");
    let table = report.to_table();
    for n in &notes {
        assert!(table.contains(n), "the table shows {n}");
    }
    let markers = p["markers"].as_array().expect("markers");
    assert!(markers.iter().any(|m| m["kind"] == "rollback" && m["at_ms"].as_u64().is_some()), "{markers:?}");
}
