//! Rendering of rollout status, events and targets from fixture views.

use serde_json::json;
use sluice_cli::render;
use sluice_core::time::Millis;

use super::fixtures::{AT, CANDIDATE, KNOWN_GOOD, event, rollout_view, target};

#[test]
fn broken_glass_and_approvals_are_shown_loudly_under_the_header() {
    let mut v = rollout_view();
    v.break_glass = Some(sluice_core::engine::BreakGlass {
        reason: "sev1".into(),
        skips: vec!["all of prod at once".into()],
        approved: None,
    });
    v.approvals.insert(
        "prod".into(),
        vec![sluice_core::engine::Approval {
            by: "ben".into(),
            role: Some(sluice_core::role::Role::Approver),
            at: AT,
            reason: Some("graphs fine".into()),
        }],
    );
    let out = render::rollout::status(&v, AT);
    assert!(out.contains("!! BREAK GLASS by alice: sev1 — past: all of prod at once — NOT YET APPROVED"), "{out}");
    assert!(out.contains("approvals of prod: ben (approver, 2025-12-05T08:47:12Z: graphs fine)"), "{out}");
}

#[test]
fn rollout_status_shows_phase_stages_waves_and_gates() {
    let v = rollout_view();
    let now = Millis(AT.0 + 108_000); // 4m12s of bake left
    let out = render::rollout::status(&v, now);
    for want in [
        "rollout r-7",
        "service edge-rules",
        "release 3fa9c2e1b0d4 ",
        "known-good 1b2c3d4e5f60",
        "phase: baking at prod wave 2/3 (5%), bake 4m12s left",
        "deadlines: bake in 4m12s, hold in 19m12s",
        "started 2025-12-05T08:47:12Z",
        "touched 4 targets",
        // the change record, with the automatic rollback plan
        "change: tighten the bot rule  ticket OPS-42  risk medium  by alice",
        "rollback plan: automatic, every touched target back to 1b2c3d4e5f60",
        // stages and waves
        "dev",
        "passed",
        "prod",
        "active",
        "2/10",
        ">2",
        "5%",
        "2/3",
        "baking",
        "pending",
        // gates: name, scope, verdict, value vs reference, p-value, samples, reason
        "http-5xx",
        "proxy=fl1",
        "FAIL",
        "0.2846",
        "0.01",
        "error_rate 0.2846 > max 0.01",
        "p99-vs-baseline",
        "inconclusive",
        "120",
        "0.0312",
        "2 (baseline 8)",
        "2 canary targets with data, need 3",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    assert!(!out.contains(CANDIDATE), "full release id in a table:\n{out}");
    assert!(!out.contains(KNOWN_GOOD), "full release id in a table:\n{out}");
}

#[test]
fn progress_lines_name_position_counts_and_verdicts_failures_first() {
    let v = rollout_view();
    let line = render::rollout::progress_line(&v);
    assert!(line.starts_with("r-7 edge-rules: baking | prod wave 2/3 (5%) 2/10 on candidate"), "{line}");
    let fail = line.find("http-5xx[proxy=fl1] FAIL 0.2846 vs 0.01").expect(&line);
    let inconclusive = line.find("p99-vs-baseline inconclusive 120 vs 100 p=0.0312").expect(&line);
    assert!(fail < inconclusive, "{line}");
}

#[test]
fn finished_rollouts_are_recognised() {
    let mut v = rollout_view();
    assert!(!render::rollout::is_finished(&v));
    v.outcome = Some(sluice_core::engine::Outcome::RolledBack);
    v.phase = sluice_core::engine::PhaseKind::RolledBack;
    assert!(render::rollout::is_finished(&v));
    assert!(!render::rollout::completed(&v));
    v.outcome = Some(sluice_core::engine::Outcome::Completed);
    assert!(render::rollout::completed(&v));
}

#[test]
fn no_active_rollouts_says_so() {
    assert_eq!(render::rollout::statuses(&[], AT), "no active rollouts\n");
}

#[test]
fn events_show_seq_utc_time_actor_kind_rollout_and_a_summary() {
    let gate = event(
        41,
        "gate",
        json!({
            "event": "gate",
            "stage": "prod",
            "wave": 1,
            "eval": {
                "gate": "http-5xx", "kind": "threshold", "metric": "error_rate", "scope": "proxy=fl1",
                "verdict": "fail", "value": 0.2846, "reference": 0.01, "samples": 12,
                "reason": "error_rate 0.2846 > max 0.01"
            }
        }),
    );
    let line = render::events::line(&gate);
    for want in [
        "41",
        "2025-12-05T08:47:53Z",
        "engine",
        "gate",
        "r-7",
        "prod wave 2: http-5xx[proxy=fl1] FAIL 0.2846 vs 0.01 n=12",
    ] {
        assert!(line.contains(want), "{want:?} missing from {line}");
    }

    let wave = event(
        40,
        "wave_started",
        json!({"event": "wave_started", "stage": "prod", "wave": 1, "size": "5%", "targets": 3, "new_targets": 2}),
    );
    assert_eq!(render::events::summary(&wave), "prod wave 2 (5%): 3 targets, 2 new");

    let started = event(
        1,
        "started",
        json!({"event": "started", "service": "edge-rules", "release": CANDIDATE, "known_good": KNOWN_GOOD,
               "emergency": true, "reason": "kill switch"}),
    );
    assert_eq!(
        render::events::summary(&started),
        "release 3fa9c2e1b0d4 (known-good 1b2c3d4e5f60) EMERGENCY: kill switch"
    );

    let finished =
        event(50, "finished", json!({"event": "finished", "outcome": "rolled_back", "why": "gate http-5xx failed"}));
    assert_eq!(render::events::summary(&finished), "rolled_back: gate http-5xx failed");

    // Events the engine does not make (the server's own) still get a one-line summary.
    let mut applied = event(2, "spec_applied", json!({"version": 3, "release": CANDIDATE, "note": "a\nb"}));
    applied.rollout = None;
    let s = render::events::summary(&applied);
    assert_eq!(s, "note=a b release=3fa9c2e1b0d4 version=3");

    let table = render::events::table(&[wave, gate, applied]);
    for want in ["seq", "time (UTC)", "actor", "kind", "rollout", "summary", "spec_applied", "2025-12-05T08:47:14Z"] {
        assert!(table.contains(want), "{want:?} missing from:\n{table}");
    }
    assert_eq!(render::events::table(&[]), "no events\n");
}

#[test]
fn long_event_summaries_are_clipped_to_one_line() {
    let e = event(3, "held", json!({"event": "held", "stage": "prod", "wave": 0, "why": "x".repeat(500)}));
    let s = render::events::summary(&e);
    assert!(s.chars().count() <= 200, "{}", s.len());
    assert!(s.ends_with('…'));
}

#[test]
fn targets_show_labels_os_connection_and_short_ids_per_service() {
    let other = "sha256:ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
    let t = vec![
        target("edge-1", true, Some(CANDIDATE), Some(CANDIDATE)),
        target("edge-2", false, Some(KNOWN_GOOD), Some(other)),
    ];
    let out = render::targets::table(&t);
    for want in [
        "target",
        "labels",
        "os",
        "connected",
        "running/desired/known-good",
        "edge-1",
        "env=prod,proxy=fl2",
        "debian-12",
        "yes",
        "no",
        "edge-rules 3fa9c2e1b0d4/3fa9c2e1b0d4/1b2c3d4e5f60",
        "edge-rules 1b2c3d4e5f60/ffeeddccbbaa/1b2c3d4e5f60 (converging)",
        "2 targets, 1 connected",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    assert!(!out.contains(CANDIDATE), "{out}");
    assert!(render::targets::table(&[]).contains("no targets enrolled"));
}

#[test]
fn short_ids_keep_twelve_hex_digits() {
    use sluice_core::release::ReleaseId;
    assert_eq!(render::ids::short(&ReleaseId(CANDIDATE.into())), "3fa9c2e1b0d4");
    assert_eq!(render::ids::short(&ReleaseId("v1-sim".into())), "v1-sim");
    assert_eq!(render::ids::short_or_dash(None), "-");
}
