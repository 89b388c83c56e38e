//! Fail closed: silence, stalled applies, one bad target, blind bakes and rollbacks that do
//! not land count against the wave.

use super::*;
use crate::spec::{GateKind, OnSilent};

fn prod_baking(r: &Rollout) -> bool {
    matches!(r.phase, Phase::Baking { stage: 2, .. })
}

#[test]
fn a_member_silenced_mid_bake_fails_the_wave_within_silent_after() {
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 20)], Some("v1"));
    let (r, first) = start(&fleet, &StartOptions::default());
    let mut muted: Option<(TargetId, Millis)> = None;
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |f, r, now| {
        if muted.is_none() && prod_baking(r) {
            let t = r.plan.stages[2].targets[0].clone();
            f.muted.insert(t.clone(), now);
            muted = Some((t, now));
        }
    });
    let (t, at) = muted.expect("prod baked");
    // The silent member cannot take its rollback: the rollout says so, naming it.
    match &r.phase {
        Phase::Finished { outcome: Outcome::RollbackIncomplete, why, .. } => {
            assert!(why.contains(&format!("{t}: runs the candidate, last report")), "{why}")
        }
        other => panic!("{other:?}"),
    }
    let (rb_at, kind) = first_event(&all, |e| matches!(e, EventKind::RollbackStarted { .. })).expect("rolled back");
    // silent_after defaults to three report intervals (15 s), counted from its last report.
    assert!(rb_at <= at + r.silent_after(2) + Dur(1_000), "rolled back at {rb_at:?}, muted at {at:?}");
    let EventKind::RollbackStarted { why, .. } = kind else { unreachable!() };
    assert!(why.contains(&format!("silent: {t}")), "{why}");
    assert!(fleet.running.iter().all(|(id, v)| v == &Some("v1".into()) || id == &t));
}

#[test]
fn on_silent_hold_stops_the_bake_clock_until_the_member_reports_again() {
    let mut p = pipeline();
    p.stages[2].on_silent = OnSilent::Hold;
    p.stages[2].waves = vec![WaveSize::Count(2), WaveSize::Percent(100.0)];
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
    let (r, first) = start_with(&fleet, &p);
    let mut baked_at: Option<Millis> = None;
    let mut target: Option<TargetId> = None;
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |f, r, now| {
        if baked_at.is_none() && prod_baking(r) {
            baked_at = Some(now);
            let t = r.plan.stages[2].targets[0].clone();
            f.muted.insert(t.clone(), now + Dur(5_000));
            target = Some(t);
        }
        if let (Some(b), Some(t)) = (baked_at, &target)
            && now == b + Dur(80_000)
        {
            f.muted.remove(t);
        }
    });
    assert_eq!(r.outcome(), Some(Outcome::Completed));
    let b = baked_at.expect("prod baked");
    let (passed, _) = first_event(&all, |e| matches!(e, EventKind::WavePassed { stage, wave: 0 } if stage == "prod"))
        .expect("passed");
    // 30 s of bake: at most ~15 s observed before the silence (its last report, plus two
    // report intervals of freshness), the rest after it ended. Without the hold it would
    // have passed at b + 30 s.
    assert!(passed >= b + Dur(80_000) + Dur(10_000), "passed at {passed:?}, baking since {b:?}");
    assert!(
        first_event(&all, |e| matches!(e, EventKind::Gate { eval, .. }
        if eval.kind == GateKind::Silence && eval.verdict == Verdict::Inconclusive))
        .is_some()
    );
}

#[test]
fn a_bake_counts_only_observed_time_across_a_shell_outage() {
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
    let (r, first) = start(&fleet, &StartOptions::default());
    let mut baked_at: Option<Millis> = None;
    let (mut r, _) = drive_with(&mut fleet, r, first, 3_600_000, |_, r, now| {
        if baked_at.is_none() && prod_baking(r) {
            baked_at = Some(now);
        }
    });
    let _ = &mut r;
    let b = baked_at.expect("prod baked");
    // Again, with the shell away from b+5s to b+65s (longer than the 30 s bake).
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
    let (mut r, first) = start(&fleet, &StartOptions::default());
    fleet.carry_out(Millis(0), &first);
    let mut now = Millis(0);
    let mut passed_at = None;
    while now.0 < 3_600_000 && passed_at.is_none() {
        now = now + Dur(1_000);
        if now > b + Dur(5_000) && now < b + Dur(65_000) {
            continue; // nobody steps, nobody watches
        }
        if now == b + Dur(65_000) {
            fleet.watching_since = now;
        }
        fleet.advance(now);
        let acts = r.step(now, &fleet);
        fleet.carry_out(now, &acts);
        if events(&acts).iter().any(|e| matches!(e, EventKind::WavePassed { stage, wave: 0 } if stage == "prod")) {
            passed_at = Some(now);
        }
    }
    let passed = passed_at.expect("the wave passed after the outage");
    // At most ~5 s were observed before; 25 s more must be observed after the restart.
    assert!(passed >= b + Dur(65_000) + Dur(20_000), "passed at {passed:?}, baking since {b:?}");
}

#[test]
fn gates_judge_from_the_first_apply_and_catch_one_bad_member_while_another_never_applies() {
    let mut p = pipeline();
    p.stages[2].waves = vec![WaveSize::Count(2), WaveSize::Percent(100.0)];
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
    fleet.bad = Some("v2".into());
    let (r, first) = start_with(&fleet, &p);
    let wave1: Vec<TargetId> = r.plan.stages[2].targets[..2].to_vec();
    fleet.stuck.insert(wave1[0].clone());
    fleet.bad_targets = Some(BTreeSet::from([wave1[1].clone()]));
    let mut told: Option<Millis> = None;
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |_, r, now| {
        if told.is_none() && matches!(r.phase, Phase::Applying { stage: 2, .. }) {
            told = Some(now.saturating_sub(Dur(1_000)));
        }
    });
    assert_eq!(r.outcome(), Some(Outcome::RolledBack));
    let told = told.expect("prod started");
    let (rb, kind) = first_event(&all, |e| matches!(e, EventKind::RollbackStarted { .. })).expect("rolled back");
    // Applied after 1 s; two reports of its own (two 5 s intervals) suffice; well before the
    // 2 m apply deadline of the member that never applies.
    assert!(rb <= told + Dur(1_000) + Dur(10_000) + Dur(5_000), "rolled back at {rb:?}, told at {told:?}");
    let EventKind::RollbackStarted { why, .. } = kind else { unreachable!() };
    assert!(why.contains(&format!("breaching on their own: {} error_rate = 1", wave1[1])), "{why}");
}

#[test]
fn one_target_with_a_million_good_requests_does_not_hide_one_failing_every_request() {
    let mut p = pipeline();
    p.stages[2].waves = vec![WaveSize::Count(3), WaveSize::Percent(100.0)];
    for max_failing in [0, 1] {
        gate_mut(&mut p, 2).max_failing_targets = max_failing;
        let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
        fleet.bad = Some("v2".into());
        let (r, first) = start_with(&fleet, &p);
        let wave1: Vec<TargetId> = r.plan.stages[2].targets[..3].to_vec();
        fleet.bad_targets = Some(BTreeSet::from([wave1[0].clone()]));
        fleet.requests.insert(wave1[1].clone(), 1_000_000);
        fleet.requests.insert(wave1[2].clone(), 1_000_000);
        let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |_, _, _| {});
        if max_failing == 0 {
            assert_eq!(r.outcome(), Some(Outcome::RolledBack));
            let failing = all.iter().find_map(|(_, a)| match a {
                Action::Record(e) => match &e.kind {
                    EventKind::Gate { eval, .. } if eval.verdict == Verdict::Fail => Some(eval.clone()),
                    _ => None,
                },
                _ => None,
            });
            let eval = failing.expect("a failing evaluation");
            assert!(eval.failing_targets[0].starts_with(&format!("{} error_rate = 1", wave1[0])), "{eval:?}");
            assert_eq!(eval.max_failing_targets, Some(0));
        } else {
            // The knob is honoured: one breaching target is tolerated, the aggregate holds.
            assert_eq!(r.outcome(), Some(Outcome::Completed), "{:?}", r.phase);
        }
    }
}

#[test]
fn a_member_that_never_confirms_fails_the_wave_at_the_apply_deadline_naming_it() {
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
    let (r, first) = start(&fleet, &StartOptions::default());
    let stuck = r.plan.stages[2].targets[0].clone();
    fleet.stuck.insert(stuck.clone());
    let mut told: Option<Millis> = None;
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |_, r, now| {
        if told.is_none() && matches!(r.phase, Phase::Applying { stage: 2, .. }) {
            told = Some(now.saturating_sub(Dur(1_000)));
        }
    });
    assert_eq!(r.outcome(), Some(Outcome::RolledBack));
    let (at, kind) = first_event(&all, |e| matches!(e, EventKind::ApplyTimedOut { .. })).expect("timed out");
    assert_eq!(at, told.expect("prod started") + crate::spec::DEFAULT_APPLY_TIMEOUT);
    assert!(matches!(kind, EventKind::ApplyTimedOut { targets, .. } if targets == vec![stuck.clone()]));
    let (_, rb) = first_event(&all, |e| matches!(e, EventKind::RollbackStarted { .. })).expect("rolled back");
    assert!(
        matches!(rb, EventKind::RollbackStarted { why, .. } if why.contains(&stuck.to_string()) && why.contains("did not confirm"))
    );
}

#[test]
fn max_unconfirmed_excludes_and_lists_the_members_that_never_confirm() {
    let mut p = pipeline();
    p.stages[2].max_unconfirmed = Some(WaveSize::Count(1));
    // A wave of two: one never confirms and is excluded, the other is judged. (A wave whose
    // members are all excluded has nobody to observe and never passes.)
    p.stages[2].waves = vec![WaveSize::Count(2), WaveSize::Percent(100.0)];
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
    let (r, first) = start_with(&fleet, &p);
    let stuck = r.plan.stages[2].targets[0].clone();
    fleet.stuck.insert(stuck.clone());
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |_, _, _| {});
    assert_eq!(r.outcome(), Some(Outcome::Completed));
    assert!(r.excluded.contains(&stuck));
    assert!(
        first_event(&all, |e| matches!(e, EventKind::Excluded { targets, .. } if targets == &vec![stuck.clone()]))
            .is_some()
    );
}

#[test]
fn failure_limit_needs_consecutive_failing_evaluations() {
    let mut p = pipeline();
    gate_mut(&mut p, 0).failure_limit = 3;
    let mut fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
    fleet.bad = Some("v2".into());
    let (r, first) = start_with(&fleet, &p);
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |_, _, _| {});
    assert_eq!(r.outcome(), Some(Outcome::RolledBack));
    let counts: Vec<u32> = all
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Record(e) => match &e.kind {
                EventKind::Gate { eval, .. } if eval.gate == "errors" => Some(eval.consecutive_failures),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(counts.windows(2).all(|w| w[1] >= w[0]), "{counts:?}");
    assert_eq!(counts.last(), Some(&3), "{counts:?}");
    let (_, fail) = first_event(&all, |e| matches!(e, EventKind::Gate { eval, .. } if eval.verdict == Verdict::Fail))
        .expect("failed");
    assert!(matches!(fail, EventKind::Gate { eval, .. } if eval.failure_limit == 3 && eval.consecutive_failures == 3));
}

#[test]
fn initial_delay_ignores_a_members_warm_up() {
    for delay in [Dur::ZERO, Dur::secs(15)] {
        let mut p = pipeline();
        for s in 0..p.stages.len() {
            gate_mut(&mut p, s).initial_delay = delay;
        }
        let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
        fleet.bad = Some("v2".into());
        fleet.bad_for = Some(8_000);
        let (r, first) = start_with(&fleet, &p);
        let (r, _) = drive_with(&mut fleet, r, first, 3_600_000, |_, _, _| {});
        let want = if delay == Dur::ZERO { Outcome::RolledBack } else { Outcome::Completed };
        assert_eq!(r.outcome(), Some(want), "initial_delay {delay}: {:?}", r.phase);
    }
}

#[test]
fn a_rollback_whose_probe_fails_once_lands_on_known_good() {
    let mut fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
    fleet.bad = Some("v2".into());
    fleet.rollback_fails.insert(TargetId::from("dev-000"), 1);
    let (r, first) = start(&fleet, &StartOptions::default());
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |_, _, _| {});
    assert_eq!(r.outcome(), Some(Outcome::RolledBack));
    assert_eq!(fleet.running.get(&TargetId::from("dev-000")), Some(&Some("v1".into())));
    assert!(first_event(&all, |e| matches!(e, EventKind::RollbackFailed { target, reason } if target.0 == "dev-000" && reason.contains("probe failed"))).is_some());
}

#[test]
fn a_rollback_that_never_lands_ends_incomplete_naming_each_target_and_why() {
    let mut fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
    fleet.bad = Some("v2".into());
    fleet.rollback_fails.insert(TargetId::from("dev-000"), u32::MAX);
    let (r, first) = start(&fleet, &StartOptions::default());
    let (r, _) = drive_with(&mut fleet, r, first, 3_600_000, |_, _, _| {});
    match &r.phase {
        Phase::Finished { outcome: Outcome::RollbackIncomplete, why, .. } => {
            assert!(why.contains("dev-000: failed to return (probe failed"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    let mut svc = ServiceState {
        known_good: Some("v1".into()),
        active: Some("r1".into()),
        hold: None,
        previous: Vec::new(),
        queued: None,
    };
    svc.apply(&crate::engine::ServiceChange::finished(&r).expect("finished"), Millis(1));
    assert!(svc.hold.is_some(), "an incomplete rollback holds the service");
}

#[test]
fn reports_without_data_hold_then_fail_closed_at_the_hold_timeout() {
    let mut fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
    for t in fleet.targets.clone() {
        fleet.requests.insert(t.id, 0);
    }
    let (r, first) = start(&fleet, &StartOptions::default());
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |_, _, _| {});
    assert_eq!(r.outcome(), Some(Outcome::RolledBack));
    let (held, _) =
        first_event(&all, |e| matches!(e, EventKind::Held { why, .. } if why.contains("no requests"))).expect("held");
    let (timed_out, _) = first_event(&all, |e| matches!(e, EventKind::HoldTimedOut { .. })).expect("failed closed");
    assert!(timed_out >= held + crate::spec::DEFAULT_HOLD_TIMEOUT, "{held:?} → {timed_out:?}");
}

#[test]
fn a_stage_that_selects_nothing_is_refused_unless_it_allows_it() {
    let mut p = pipeline();
    p.stages[1].allow_empty = false;
    let fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
    let err = Rollout::start("r1", "edge", "v2".into(), None, &p, &fleet.targets, &StartOptions::default(), Millis(0))
        .expect_err("refused");
    assert!(err.to_string().contains(r#"stage "staging" selects no target"#), "{err}");
    p.stages[1].allow_empty = true;
    let mut fleet = fleet;
    let (r, first) = start_with(&fleet, &p);
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |_, _, _| {});
    assert_eq!(r.outcome(), Some(Outcome::Completed));
    assert!(first_event(&all, |e| matches!(e, EventKind::StageSkipped { stage, .. } if stage == "staging")).is_some());
}
