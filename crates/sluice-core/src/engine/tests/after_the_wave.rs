//! After the wave: passed stages stay watched, probation before known-good, `on_fail: pause`,
//! stable canaries, `max_unavailable`, and reverts.

use super::*;
use crate::engine::invariants::{Violation, check_rollback_targets};
use crate::engine::service::ServiceState;
use crate::spec::{CanaryOrder, OnFail, OnSilent};

fn ids(v: &[TargetId]) -> BTreeSet<TargetId> {
    v.iter().cloned().collect()
}

fn rollback_why(all: &[(Millis, Action)]) -> String {
    match first_event(all, |e| matches!(e, EventKind::RollbackStarted { .. })) {
        Some((_, EventKind::RollbackStarted { why, .. })) => why,
        other => panic!("no rollback: {other:?}"),
    }
}

fn all_on(fleet: &Fleet, release: &str) -> bool {
    fleet.running.values().all(|v| v.as_ref().map(|r| r.0.as_str()) == Some(release))
}

#[test]
fn a_stage_failing_during_an_approval_wait_rolls_everything_back() {
    let mut p = pipeline();
    p.stages[2].approval = true;
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 4), ("prod", 10)], Some("v1"));
    let (r, first) = start_with(&fleet, &p);
    fleet.bad = Some("v2".into());
    fleet.bad_targets = Some(ids(&r.plan.stages[1].targets));
    fleet.bad_from = Some(Millis(u64::MAX));
    let mut waiting_since = None;
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |f, r, now| {
        if waiting_since.is_none() && matches!(r.phase, Phase::AwaitingApproval { stage: 2, .. }) {
            waiting_since = Some(now);
            f.bad_from = Some(now + Dur(60_000));
        }
    });
    let waited = waiting_since.expect("reached the approval");
    assert_eq!(r.outcome(), Some(Outcome::RolledBack), "{:?}", r.phase);
    let why = rollback_why(&all);
    assert!(why.contains("stage staging (passed earlier; failed while awaiting approval)"), "{why}");
    let (at, kind) = first_event(&all, |e| matches!(e, EventKind::WatchFailed { .. })).expect("watch event");
    assert!(matches!(kind, EventKind::WatchFailed { ref stage, .. } if stage == "staging"));
    // Caught within the gate's window of the failure's start, not at approval time.
    assert!(at >= waited + Dur(60_000) && at <= waited + Dur(90_000), "{at:?} vs {waited:?}");
    assert!(all_on(&fleet, "v1"));
    // Without the watch the same rollout would sit awaiting approval: the control.
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 4), ("prod", 10)], Some("v1"));
    let (r, first) = start_with(&fleet, &p);
    let (r, _) = drive_with(&mut fleet, r, first, 600_000, |_, _, _| {});
    assert!(matches!(r.phase, Phase::AwaitingApproval { stage: 2, .. }), "{:?}", r.phase);
}

#[test]
fn a_passed_stage_failing_while_prod_bakes_rolls_back_prod_too() {
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 4), ("prod", 20)], Some("v1"));
    let (r, first) = start(&fleet, &StartOptions::default());
    fleet.bad = Some("v2".into());
    fleet.bad_targets = Some(ids(&r.plan.stages[0].targets));
    fleet.bad_from = Some(Millis(u64::MAX));
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |f, r, now| {
        if f.bad_from == Some(Millis(u64::MAX)) && matches!(r.phase, Phase::Baking { stage: 2, wave: 1, .. }) {
            f.bad_from = Some(now);
        }
    });
    assert_eq!(r.outcome(), Some(Outcome::RolledBack));
    let why = rollback_why(&all);
    assert!(why.contains("stage dev (passed earlier; failed while later waves ran)"), "{why}");
    assert!(r.touched().any(|t| t.0.starts_with("prod")), "prod was touched");
    assert!(all_on(&fleet, "v1"));
}

#[test]
fn a_failure_after_the_last_bake_is_caught_in_probation_and_never_becomes_known_good() {
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 4), ("prod", 20)], Some("v1"));
    let (r, first) = start(&fleet, &StartOptions::default());
    assert_eq!(r.plan.probation, Dur::secs(30), "defaults to the longest bake");
    // The last prod wave fails 40 s after it runs the release: after its 30 s bake.
    let sp = &r.plan.stages[2];
    let last_wave = sp.targets[sp.wave_ends[sp.wave_ends.len() - 2]..].to_vec();
    fleet.bad = Some("v2".into());
    fleet.bad_targets = Some(ids(&last_wave));
    fleet.bad_after = Some(40_000);
    let mut state = ServiceState { known_good: Some("v1".into()), ..ServiceState::default() };
    state.apply_all(&first, Millis(0));
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |_, _, _| {});
    assert_eq!(r.outcome(), Some(Outcome::RolledBack), "{:?}", r.phase);
    let (probation_at, _) =
        first_event(&all, |e| matches!(e, EventKind::ProbationStarted { .. })).expect("probation started");
    let (rb_at, _) = first_event(&all, |e| matches!(e, EventKind::RollbackStarted { .. })).expect("rolled back");
    assert!(rb_at > probation_at && rb_at < probation_at + Dur::secs(30), "{rb_at:?} {probation_at:?}");
    let why = rollback_why(&all);
    assert!(why.contains("failed in probation") && why.contains("never became known-good"), "{why}");
    assert!(first_event(&all, |e| matches!(e, EventKind::ProbationPassed { .. })).is_none());
    state.apply(&crate::engine::ServiceChange::finished(&r).expect("finished"), rb_at);
    assert_eq!(state.known_good, Some("v1".into()), "the release never became known-good");
    assert!(state.hold.is_some());
    assert!(all_on(&fleet, "v1"));
}

#[test]
fn a_good_release_becomes_known_good_only_when_probation_ends() {
    let mut p = pipeline();
    p.probation = Some(Dur::mins(2));
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 4), ("prod", 20)], Some("v1"));
    let (r, first) = start_with(&fleet, &p);
    let mut probation_deadlines = Vec::new();
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |_, r, _| {
        if matches!(r.phase, Phase::Probation { .. }) && probation_deadlines.is_empty() {
            probation_deadlines = r.deadlines().into_iter().map(|d| d.what).collect();
        }
    });
    assert_eq!(r.outcome(), Some(Outcome::Completed));
    assert_eq!(probation_deadlines, vec!["probation".to_string(), "hold".to_string()]);
    let (began, _) = first_event(&all, |e| matches!(e, EventKind::ProbationStarted { .. })).expect("probation");
    let (passed, kind) = first_event(&all, |e| matches!(e, EventKind::ProbationPassed { .. })).expect("passed");
    assert!(matches!(kind, EventKind::ProbationPassed { observed } if observed >= Dur::mins(2)));
    assert!(passed >= began + Dur::mins(2), "{passed:?} {began:?}");
    let mut state = ServiceState { known_good: Some("v1".into()), ..ServiceState::default() };
    state.apply(&crate::engine::ServiceChange::finished(&r).expect("finished"), passed);
    assert_eq!(state.known_good, Some("v2".into()));
}

#[test]
fn probation_without_a_verdict_fails_closed_at_its_deadline() {
    let mut p = pipeline();
    p.stages[2].on_silent = OnSilent::Hold;
    p.stages[2].hold_timeout = Dur::mins(2);
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 6)], Some("v1"));
    let (r, first) = start_with(&fleet, &p);
    let mut muted = None;
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |f, r, now| {
        if muted.is_none() && matches!(r.phase, Phase::Probation { .. }) {
            let t = r.plan.stages[2].targets[0].clone();
            f.muted.insert(t.clone(), now);
            muted = Some(now);
        }
    });
    assert!(muted.is_some(), "reached probation");
    assert!(matches!(r.outcome(), Some(Outcome::RolledBack | Outcome::RollbackIncomplete)), "{:?}", r.phase);
    let why = rollback_why(&all);
    assert!(why.contains("probation held past its deadline"), "{why}");
}

#[test]
fn a_failing_gate_with_on_fail_pause_keeps_the_candidate_and_waits_for_a_person() {
    let mut p = pipeline();
    gate_mut(&mut p, 2).on_fail = OnFail::Pause;
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 20)], Some("v1"));
    fleet.bad = Some("v2".into());
    fleet.affected = |l| l.get("env").map(String::as_str) == Some("prod");
    let (r, first) = start_with(&fleet, &p);
    let (mut r, all) = drive_with(&mut fleet, r, first, 900_000, |_, _, _| {});
    assert!(matches!(&r.phase, Phase::Paused { by, .. } if by.starts_with("gate: stage prod wave 1")), "{:?}", r.phase);
    assert!(first_event(&all, |e| matches!(e, EventKind::GatePaused { .. })).is_some());
    assert!(first_event(&all, |e| matches!(e, EventKind::RollbackStarted { .. })).is_none());
    assert_eq!(r.deadline(), None, "a pause waits for a person");
    let first_prod = r.plan.stages[2].targets[0].clone();
    assert_eq!(fleet.running.get(&first_prod), Some(&Some("v2".into())), "the candidate stays where it is");
    // A person resumes: the gate still fails, so it pauses again; then they abort.
    let now = Millis(901_000);
    r.command(now, &Command::Resume { by: "alice".into(), reason: None }).expect("resume");
    let acts = r.step(now + Dur(1_000), &fleet);
    assert!(matches!(r.phase, Phase::Paused { .. }), "{:?}", r.phase);
    assert!(events(&acts).iter().any(|e| matches!(e, EventKind::GatePaused { .. })));
    let acts = r.command(now + Dur(2_000), &Command::Abort { by: "alice".into(), reason: None }).expect("abort");
    assert!(acts.iter().any(|a| matches!(a, Action::RollBack { .. })));
}

#[test]
fn a_failing_rollback_gate_still_rolls_back_while_a_pause_gate_holds() {
    let mut p = pipeline();
    gate_mut(&mut p, 2).on_fail = OnFail::Pause;
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 20)], Some("v1"));
    fleet.bad = Some("v2".into());
    fleet.affected = |l| l.get("env").map(String::as_str) == Some("prod");
    let (r, first) = start_with(&fleet, &p);
    // Once prod paused, dev (rollback gate, passed earlier) starts failing.
    let (r, all) = drive_with(&mut fleet, r, first, 900_000, |f, r, _| {
        if matches!(r.phase, Phase::Paused { .. }) {
            f.affected = |_| true;
        }
    });
    assert_eq!(r.outcome(), Some(Outcome::RolledBack), "{:?}", r.phase);
    assert!(rollback_why(&all).contains("passed earlier"), "{}", rollback_why(&all));
}

#[test]
fn canaries_are_stable_across_rollouts_of_a_service_unless_rotated() {
    let fleet = Fleet::new(&[("dev", 2), ("staging", 4), ("prod", 40)], Some("v1"));
    let plan = |service: &str, seed: u64, p: &PipelineSpec| {
        let opts = StartOptions { seed, ..StartOptions::default() };
        let (r, _) =
            Rollout::start("r", service, "v2".into(), None, p, &fleet.targets, &opts, Millis(0)).expect("plan");
        r.plan.stages[2].targets.clone()
    };
    let p = pipeline();
    assert_eq!(plan("edge", 1, &p), plan("edge", 2, &p), "the same hosts go first");
    assert_ne!(plan("edge", 1, &p), plan("auth", 1, &p), "each service has its own order");
    let mut rotate = pipeline();
    rotate.stages[2].canary = CanaryOrder::Rotate;
    assert_ne!(plan("edge", 1, &rotate), plan("edge", 2, &rotate));
}

/// Prod targets told to move and not yet moved, at each tick.
fn moving_prod(f: &Fleet) -> usize {
    f.pending.iter().filter(|(t, r, _)| t.0.starts_with("prod") && r == &Some("v2".into())).count()
}

#[test]
fn max_unavailable_releases_a_waves_moves_one_at_a_time() {
    let mut p = pipeline();
    p.stages[2].waves = vec![WaveSize::Percent(100.0)];
    p.stages[2].max_unavailable = Some(WaveSize::Count(1));
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 6)], Some("v1"));
    fleet.apply_delay = 4_000;
    let (r, first) = start_with(&fleet, &p);
    let mut most = 0;
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |f, _, _| most = most.max(moving_prod(f)));
    assert_eq!(r.outcome(), Some(Outcome::Completed));
    assert_eq!(most, 1, "never two prod targets switching at once");
    let batches = all
        .iter()
        .filter(|(_, a)| matches!(a, Action::Record(e) if matches!(e.kind, EventKind::MovesReleased { .. })))
        .count();
    assert_eq!(batches, 6);
    // The control: the same wave without the bound moves all six at once.
    p.stages[2].max_unavailable = None;
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 6)], Some("v1"));
    fleet.apply_delay = 4_000;
    let (r, first) = start_with(&fleet, &p);
    let mut most = 0;
    drive_with(&mut fleet, r, first, 3_600_000, |f, _, _| most = most.max(moving_prod(f)));
    assert_eq!(most, 6);
}

#[test]
fn a_target_out_of_service_uses_up_max_unavailable_and_the_wave_fails_at_its_deadline() {
    let mut p = pipeline();
    p.stages[2].waves = vec![WaveSize::Percent(100.0)];
    p.stages[2].max_unavailable = Some(WaveSize::Count(1));
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 6)], Some("v1"));
    let (r, first) = start_with(&fleet, &p);
    let down = r.plan.stages[2].targets[5].clone();
    fleet.muted.insert(down.clone(), Millis(0));
    let mut most = 0;
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |f, _, _| most = most.max(moving_prod(f)));
    assert_eq!(most, 0, "nothing moves while a prod target is out of service");
    assert_eq!(r.outcome(), Some(Outcome::RolledBack), "{:?}", r.phase);
    let why = rollback_why(&all);
    assert!(why.contains("could not be moved") && why.contains("max_unavailable 1") && why.contains(&down.0), "{why}");
}

#[test]
fn a_revert_skips_approvals_and_probation_and_caps_bakes() {
    let mut p = pipeline();
    p.stages[2].approval = true;
    p.probation = Some(Dur::mins(30));
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v2"));
    let opts = StartOptions { revert: true, reason: Some("v2 corrupts carts".into()), ..StartOptions::default() };
    let (r, first) = Rollout::start("r2", "edge", "v1".into(), Some("v2".into()), &p, &fleet.targets, &opts, Millis(0))
        .expect("plan");
    assert!(r.plan.stages.iter().all(|s| s.bake <= Dur::secs(10) && !s.approval));
    assert!(matches!(&events(&first)[0], EventKind::Started { revert: true, .. }));
    let (r, all) = drive_with(&mut fleet, r, first, 3_600_000, |_, _, _| {});
    assert_eq!(r.outcome(), Some(Outcome::Completed));
    assert!(first_event(&all, |e| matches!(e, EventKind::AwaitingApproval { .. })).is_none());
    assert!(first_event(&all, |e| matches!(e, EventKind::ProbationStarted { .. })).is_none());
    assert!(all_on(&fleet, "v1"));
}

#[test]
fn the_probation_invariants_catch_what_they_name() {
    let back = vec![Action::RollBack { targets: vec!["a".into()], to: Some("v3".into()) }];
    let probated: BTreeSet<ReleaseId> = ["v1".into(), "v2".into()].into_iter().collect();
    let v = check_rollback_targets(&probated, &back);
    assert!(matches!(&v[..], [Violation::KnownGoodEarly { .. }]), "{v:?}");
    assert_eq!(v[0].invariant(), "known-good-only-after-probation");
    assert!(
        check_rollback_targets(&probated, &[Action::RollBack { targets: vec![], to: Some("v2".into()) }]).is_empty()
    );
    // A rollout that completes without a probation step is caught by check_step.
    let fleet = Fleet::new(&[("dev", 2)], Some("v1"));
    let (r, _) = start_with(&fleet, &pipeline());
    let done = vec![Action::Record(Box::new(Event {
        at: Millis(1),
        rollout: r.id.clone(),
        kind: EventKind::Finished { outcome: Outcome::Completed, why: String::new() },
    }))];
    let v = check_step(&r, Millis(1), &fleet, &done);
    assert!(v.iter().any(|v| v.invariant() == "known-good-only-after-probation"), "{v:?}");
}

#[test]
fn a_rollout_stored_before_marks_existed_carries_on_where_it_was() {
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
    let (r, first) = start(&fleet, &StartOptions::default());
    // Drive until prod's second wave bakes, then store it as the old shape did.
    let mut r = r;
    fleet.carry_out(Millis(0), &first);
    let mut now = Millis(0);
    while !matches!(r.phase, Phase::Baking { stage: 2, wave: 1, .. }) {
        now = now + Dur(1_000);
        fleet.advance(now);
        let acts = r.step(now, &fleet);
        fleet.carry_out(now, &acts);
        assert!(now.0 < 3_600_000, "{:?}", r.phase);
    }
    let mut json = serde_json::to_value(&r).expect("json");
    let waves = json["marks"][2]["waves"].clone();
    let obj = json.as_object_mut().expect("object");
    obj.remove("marks");
    obj.insert("wave_started".into(), waves);
    // The old shape carried its plan and the targets it moved in its state.
    obj.insert("plan".into(), serde_json::to_value(&*r.plan).expect("plan"));
    let touched: Vec<TargetId> = r.touched().cloned().collect();
    obj.insert("touched".into(), serde_json::to_value(&touched).expect("touched"));
    let mut old: Rollout = serde_json::from_value(json).expect("the old shape loads");
    assert!(old.marks.is_empty());
    old.attach_plan(None).expect("the plan in the old state");
    assert_eq!(old.plan, r.plan);
    assert_eq!(old.touched().cloned().collect::<Vec<_>>(), touched, "the marks rebuilt give the same targets");
    let mut all = Vec::new();
    while !old.is_finished() && now.0 < 3_600_000 {
        now = now + Dur(1_000);
        fleet.advance(now);
        let acts = old.step(now, &fleet);
        let v = check_step(&old, now, &fleet, &acts);
        assert!(v.is_empty(), "{v:?}");
        fleet.carry_out(now, &acts);
        all.extend(acts.into_iter().map(|a| (now, a)));
    }
    assert_eq!(old.outcome(), Some(Outcome::Completed), "{:?}", old.phase);
    assert!(first_event(&all, |e| matches!(e, EventKind::RollbackStarted { .. })).is_none());
    assert_eq!(old.marks.len(), 3);
    assert_eq!(old.marks[2].told_end(), 10);
}
