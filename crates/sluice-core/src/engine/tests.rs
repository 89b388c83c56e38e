//! Engine tests: scripted scenarios on an in-memory fleet, and proptests of the named
//! invariants over random fleets, specs and observation streams.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use self::fleet::Fleet;
use super::invariants::{
    DesiredTally, apply_desired, check_actions, check_desired, check_plan, check_rollback_targets, check_step,
    tally_desired,
};
use super::rollout::ROLLBACK_CONFIRM_TIMEOUT;
use super::*;
use crate::labels::{LabelMatch, Selector};
use crate::release::{ReleaseId, TargetId};
use crate::spec::{EmergencyProfile, GateSpec, Metric, PipelineSpec, StageSpec, ThresholdGate, WaveSize};
use crate::time::{Dur, Millis};

fn stage(name: &str, env: &str, waves: &[WaveSize], bake: u64, gated: bool) -> StageSpec {
    let mut sel = BTreeMap::new();
    sel.insert("env".to_string(), LabelMatch::Is(env.to_string()));
    let gates = if gated {
        vec![GateSpec::Threshold(ThresholdGate {
            name: "errors".into(),
            metric: Metric::ErrorRate,
            max: Some(0.01),
            min: None,
            window: Dur::mins(1),
            min_samples: 2,
            per_label: None,
            source: None,
            max_failing_targets: 0,
            failure_limit: 1,
            initial_delay: Dur::ZERO,
            on_fail: crate::spec::OnFail::Rollback,
        })]
    } else {
        vec![]
    };
    StageSpec {
        name: name.into(),
        selector: Selector(sel),
        waves: waves.to_vec(),
        bake: Dur(bake),
        gates,
        approval: false,
        approvals: None,
        requires: Default::default(),
        require_coverage: None,
        spread_by: vec![],
        silent_after: None,
        on_silent: crate::spec::OnSilent::Fail,
        apply_timeout: crate::spec::DEFAULT_APPLY_TIMEOUT,
        max_unconfirmed: None,
        hold_timeout: crate::spec::DEFAULT_HOLD_TIMEOUT,
        max_unavailable: None,
        canary: crate::spec::CanaryOrder::Stable,
        // Most scripted fleets leave a stage empty; the refusal has its own test.
        allow_empty: true,
    }
}

fn pipeline() -> PipelineSpec {
    use WaveSize::*;
    PipelineSpec {
        stages: vec![
            stage("dev", "dev", &[Percent(100.0)], 10_000, true),
            stage("staging", "staging", &[Count(1), Percent(100.0)], 20_000, true),
            stage("prod", "prod", &[Count(1), Percent(10.0), Percent(50.0), Percent(100.0)], 30_000, true),
        ],
        emergency: EmergencyProfile { max_bake: Dur::secs(10), ..EmergencyProfile::default() },
        max_blast: None,
        probation: None,
    }
}

/// Drive a rollout to its end (or `limit`), returning it and every action, checking the
/// invariants on every step.
fn drive(fleet: &mut Fleet, mut r: Rollout, first: Vec<Action>, limit: u64) -> (Rollout, Vec<Action>) {
    let mut all = first.clone();
    let mut desired = BTreeMap::new();
    assert!(check_plan(&r).is_empty());
    apply_desired(&mut desired, &first);
    fleet.carry_out(r.started_at, &first);
    let mut now = r.started_at;
    while !r.is_finished() && now.0 < limit {
        now = now + Dur(1_000);
        fleet.advance(now);
        let failed_before = r.failed;
        let acts = r.step(now, fleet);
        let mut v = check_actions(&r, failed_before, &acts);
        v.extend(check_step(&r, now, fleet, &acts));
        assert!(v.is_empty(), "invariant broken: {v:?}");
        apply_desired(&mut desired, &acts);
        fleet.carry_out(now, &acts);
        all.extend(acts);
    }
    (r, all)
}

fn start(fleet: &Fleet, opts: &StartOptions) -> (Rollout, Vec<Action>) {
    Rollout::start("r1", "edge", "v2".into(), Some("v1".into()), &pipeline(), &fleet.targets, opts, Millis(0))
        .expect("plan")
}

/// Drive to the end (or `limit`) calling `hook` before each step, checking every invariant.
fn drive_with(
    fleet: &mut Fleet,
    mut r: Rollout,
    first: Vec<Action>,
    limit: u64,
    mut hook: impl FnMut(&mut Fleet, &Rollout, Millis),
) -> (Rollout, Vec<(Millis, Action)>) {
    let mut all: Vec<(Millis, Action)> = first.iter().map(|a| (r.started_at, a.clone())).collect();
    fleet.carry_out(r.started_at, &first);
    let mut now = r.started_at;
    while !r.is_finished() && now.0 < limit {
        now = now + Dur(1_000);
        hook(fleet, &r, now);
        fleet.advance(now);
        let failed_before = r.failed;
        let acts = r.step(now, fleet);
        let mut v = check_actions(&r, failed_before, &acts);
        v.extend(check_step(&r, now, fleet, &acts));
        assert!(v.is_empty(), "invariant broken at {now:?}: {v:?}");
        fleet.carry_out(now, &acts);
        all.extend(acts.into_iter().map(|a| (now, a)));
    }
    (r, all)
}

fn first_event(all: &[(Millis, Action)], pred: impl Fn(&EventKind) -> bool) -> Option<(Millis, EventKind)> {
    all.iter().find_map(|(at, a)| match a {
        Action::Record(e) if pred(&e.kind) => Some((*at, e.kind.clone())),
        _ => None,
    })
}

fn start_with(fleet: &Fleet, p: &PipelineSpec) -> (Rollout, Vec<Action>) {
    Rollout::start("r1", "edge", "v2".into(), Some("v1".into()), p, &fleet.targets, &StartOptions::default(), Millis(0))
        .expect("plan")
}

fn gate_mut(p: &mut PipelineSpec, stage: usize) -> &mut crate::spec::ThresholdGate {
    match p.stages[stage].gates.get_mut(0) {
        Some(GateSpec::Threshold(t)) => t,
        _ => panic!("the test pipeline has a threshold gate"),
    }
}

fn events(actions: &[Action]) -> Vec<&EventKind> {
    actions.iter().filter_map(|a| if let Action::Record(e) = a { Some(&e.kind) } else { None }).collect()
}

#[test]
fn a_good_release_goes_through_every_stage() {
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 4), ("prod", 40)], Some("v1"));
    let (r, first) = start(&fleet, &StartOptions::default());
    let (r, all) = drive(&mut fleet, r, first, 3_600_000);
    assert_eq!(r.outcome(), Some(Outcome::Completed));
    assert!(fleet.running.values().all(|v| v.as_ref().map(|r| r.0.as_str()) == Some("v2")));
    let waves = events(&all).iter().filter(|e| matches!(e, EventKind::WaveStarted { .. })).count();
    assert_eq!(waves, 1 + 2 + 4);
}

#[test]
fn a_failing_canary_rolls_back_every_touched_target_and_stops() {
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 4), ("prod", 40)], Some("v1"));
    fleet.bad = Some("v2".into());
    fleet.affected = |l| l.get("env").map(String::as_str) == Some("staging");
    let (r, first) = start(&fleet, &StartOptions::default());
    let (r, all) = drive(&mut fleet, r, first, 3_600_000);
    assert_eq!(r.outcome(), Some(Outcome::RolledBack));
    // Prod never saw it; every target is back on v1.
    assert!(r.touched().all(|t| !t.0.starts_with("prod")));
    assert!(fleet.running.values().all(|v| v.as_ref().map(|r| r.0.as_str()) == Some("v1")));
    let rb = all.iter().filter(|a| matches!(a, Action::RollBack { .. })).count();
    assert_eq!(rb, 1);
    assert!(events(&all).iter().any(|e| matches!(e, EventKind::Gate { eval, .. } if eval.verdict == Verdict::Fail)));
}

#[test]
fn a_fleet_that_sends_nothing_fails_as_silent() {
    let mut fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
    fleet.silent = true;
    let (r, first) = start(&fleet, &StartOptions::default());
    let (r, all) = drive(&mut fleet, r, first, 600_000);
    assert_eq!(r.outcome(), Some(Outcome::RolledBack));
    assert!(r.touched().all(|t| t.0.starts_with("dev")));
    assert!(events(&all).iter().any(|e| matches!(e, EventKind::Gate { eval, .. }
        if eval.kind == crate::spec::GateKind::Silence && eval.verdict == Verdict::Fail && eval.reason.starts_with("silent: dev-"))));
}

#[test]
fn an_apply_failure_rolls_back() {
    let mut fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
    fleet.refuse = Some("v2".into());
    let (r, first) = start(&fleet, &StartOptions::default());
    let (r, all) = drive(&mut fleet, r, first, 600_000);
    assert_eq!(r.outcome(), Some(Outcome::RolledBack));
    assert!(
        events(&all)
            .iter()
            .any(|e| matches!(e, EventKind::ApplyFailed { reason, .. } if reason.contains("check failed")))
    );
}

#[test]
fn an_index_of_failing_targets_decides_as_asking_every_target_does() {
    let run = |index: bool| {
        let mut fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
        fleet.refuse = Some("v2".into());
        fleet.index_failures = index;
        let (r, first) = start(&fleet, &StartOptions::default());
        drive(&mut fleet, r, first, 600_000)
    };
    let (asked, asked_actions) = run(false);
    let (indexed, indexed_actions) = run(true);
    assert_eq!(indexed.outcome(), Some(Outcome::RolledBack));
    assert_eq!(indexed, asked);
    assert_eq!(indexed_actions, asked_actions, "the same events, in the same order");
}

#[test]
fn emergency_caps_bakes_but_keeps_the_first_wave_and_gates() {
    let fleet = Fleet::new(&[("dev", 2), ("staging", 4), ("prod", 40)], Some("v1"));
    let (r, _) =
        start(&fleet, &StartOptions { emergency: true, reason: Some("CVE".into()), ..StartOptions::default() });
    let prod = &r.plan.stages[2];
    assert_eq!(prod.bake, Dur::secs(10));
    // Fewer waves: prod's first wave as written, judged, then the rest of prod.
    assert_eq!(prod.wave_ends, [1, 40]);
    assert_eq!(prod.gates.len(), 1);
    // `as_written` keeps every wave.
    let mut p = pipeline();
    p.emergency.waves = crate::spec::EmergencyWaves::AsWritten;
    let opts = StartOptions { emergency: true, reason: Some("CVE".into()), ..StartOptions::default() };
    let (r, _) = Rollout::start("r2", "edge", "v2".into(), None, &p, &fleet.targets, &opts, Millis(0)).expect("plan");
    assert_eq!(r.plan.stages[2].wave_ends, [1, 4, 20, 40]);
}

#[test]
fn pause_stops_promotion_but_not_protection() {
    let mut fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
    let (mut r, first) = start(&fleet, &StartOptions::default());
    fleet.carry_out(Millis(0), &first);
    let acts = r.command(Millis(0), &Command::Pause { by: "ann".into(), reason: None }).expect("pause");
    assert!(matches!(events(&acts)[0], EventKind::Paused { .. }));
    // While paused for a long time nothing moves forward.
    let mut now = Millis(0);
    for _ in 0..120 {
        now = now + Dur(1_000);
        fleet.advance(now);
        let acts = r.step(now, &fleet);
        assert!(!acts.iter().any(|a| matches!(a, Action::SetDesired { .. })));
    }
    // A failure while paused still rolls back.
    fleet.bad = Some("v2".into());
    for _ in 0..60 {
        now = now + Dur(1_000);
        fleet.advance(now);
        let acts = r.step(now, &fleet);
        fleet.carry_out(now, &acts);
    }
    assert!(matches!(r.phase, Phase::RollingBack { .. } | Phase::Finished { .. }));
    assert!(r.command(now, &Command::Resume { by: "ann".into(), reason: None }).is_err());
}

#[test]
fn abort_and_manual_rollback_return_to_known_good() {
    for (cmd, outcome) in [
        (Command::Abort { by: "ann".into(), reason: None }, Outcome::Aborted),
        (Command::Rollback { by: "ann".into(), reason: "customer report".into() }, Outcome::RolledBack),
    ] {
        let mut fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
        let (mut r, first) = start(&fleet, &StartOptions::default());
        fleet.carry_out(Millis(0), &first);
        fleet.advance(Millis(5_000));
        let acts = r.command(Millis(5_000), &cmd).expect("command");
        assert!(acts.iter().any(|a| matches!(a, Action::RollBack { to: Some(to), .. } if to.0 == "v1")));
        let (r, _) = drive(&mut fleet, r, acts, 600_000);
        assert_eq!(r.outcome(), Some(outcome));
        let mut svc = ServiceState {
            known_good: Some("v1".into()),
            active: Some("r1".into()),
            hold: None,
            previous: Vec::new(),
            queued: None,
        };
        svc.apply(&crate::engine::ServiceChange::finished(&r).expect("finished"), Millis(1));
        assert_eq!(svc.hold.is_some(), outcome == Outcome::RolledBack);
        assert_eq!(svc.known_good, Some("v1".into()));
    }
}

#[test]
fn approval_gates_a_stage_and_its_author_may_not_approve() {
    let mut p = pipeline();
    p.stages[2].approval = true;
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
    let (r, first) = Rollout::start(
        "r1",
        "edge",
        "v2".into(),
        Some("v1".into()),
        &p,
        &fleet.targets,
        &StartOptions { author: Some("alice".into()), ..StartOptions::default() },
        Millis(0),
    )
    .expect("plan");
    let (mut r, _) = drive(&mut fleet, r, first, 300_000);
    assert!(matches!(r.phase, Phase::AwaitingApproval { stage: 2, .. }));
    assert!(r.touched().all(|t| !t.0.starts_with("prod")));
    // The author may not let their own change through.
    let waiting = r.clone();
    let own =
        r.command(Millis(300_000), &Command::Approve { by: "alice".into(), reason: None, role: None }).unwrap_err();
    assert_eq!(own, CommandError::OwnApproval { rollout: "r1".into(), by: "alice".into() });
    assert_eq!(r, waiting, "refused, nothing changed");
    let acts =
        r.command(Millis(300_000), &Command::Approve { by: "bob".into(), reason: None, role: None }).expect("approve");
    assert!(acts.iter().any(|a| matches!(a, Action::SetDesired { .. })));
    let (r, _) = drive(&mut fleet, r, acts, 3_600_000);
    assert_eq!(r.outcome(), Some(Outcome::Completed));
}

#[test]
fn the_service_standing_changes_only_as_the_engine_says() {
    let mut fleet = Fleet::new(&[("dev", 2), ("prod", 6)], Some("v1"));
    let (r, first) = start(&fleet, &StartOptions::default());
    let (r, all) = drive(&mut fleet, r, first, 3_600_000);
    assert_eq!(r.outcome(), Some(Outcome::Completed));
    let changes: Vec<&ServiceChange> =
        all.iter().filter_map(|a| if let Action::Service(c) = a { Some(c) } else { None }).collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(matches!(changes[0], ServiceChange::Started { rollout, .. } if rollout == &r.id));
    assert!(matches!(changes[1], ServiceChange::Finished { outcome: Outcome::Completed, .. }));
    let mut svc = ServiceState { known_good: Some("v1".into()), ..ServiceState::default() };
    let finish = all.iter().position(|a| matches!(a, Action::Service(ServiceChange::Finished { .. }))).unwrap();
    svc.apply_all(&all[..finish], Millis(0));
    assert!(matches!(svc.may_start(), Err(Refusal::Conflict(_))), "started: {svc:?}");
    svc.apply_all(&all, Millis(1));
    assert_eq!((svc.active.as_deref(), svc.known_good.as_ref()), (None, Some(&r.release)));
    assert_eq!(svc.previous, vec![ReleaseId::from("v1")]);
}

#[test]
fn a_held_service_refuses_new_rollouts_until_cleared() {
    let mut svc = ServiceState::default();
    svc.apply(&crate::engine::ServiceChange::Started { rollout: "r1".into(), release: "v2".into() }, Millis(0));
    assert!(matches!(svc.may_start(), Err(Refusal::Conflict(_))));
    let mut fleet = Fleet::new(&[("dev", 2)], Some("v1"));
    fleet.bad = Some("v2".into());
    let (r, first) = start(&fleet, &StartOptions::default());
    let (r, _) = drive(&mut fleet, r, first, 600_000);
    svc.apply(&crate::engine::ServiceChange::finished(&r).expect("finished"), Millis(1));
    assert!(matches!(svc.may_start(), Err(Refusal::Held(_))));
    assert!(svc.clear_hold().is_some());
    assert!(svc.may_start().is_ok());
}

#[test]
fn coverage_gap_is_reported_and_can_block() {
    use crate::spec::{CoverageMode, CoverageSpec};
    let mut p = pipeline();
    p.stages[2].require_coverage = Some(CoverageSpec { labels: vec!["proxy".into()], mode: CoverageMode::Block });
    // Staging has only fl1 (index 0 of 1): prod has fl2 too.
    let fleet = Fleet::new(&[("dev", 1), ("staging", 1), ("prod", 9)], Some("v1"));
    let (r, first) = Rollout::start(
        "r1",
        "edge",
        "v2".into(),
        Some("v1".into()),
        &p,
        &fleet.targets,
        &StartOptions::default(),
        Millis(0),
    )
    .expect("plan");
    let mut fleet = fleet;
    let (r, all) = drive(&mut fleet, r, first, 300_000);
    assert!(events(&all).iter().any(|e| matches!(e, EventKind::CoverageGap { missing, blocking: true, .. } if missing == &vec!["proxy=fl2".to_string()])));
    assert!(matches!(r.phase, Phase::AwaitingApproval { stage: 2, .. }));
}

#[test]
fn first_wave_spreads_over_variants() {
    let mut p = pipeline();
    p.stages[2].spread_by = vec!["proxy".into()];
    let fleet = Fleet::new(&[("prod", 30)], Some("v1"));
    p.stages[2].waves = vec![WaveSize::Count(2), WaveSize::Percent(100.0)];
    let (r, _) =
        Rollout::start("r1", "edge", "v2".into(), None, &p, &fleet.targets, &StartOptions::default(), Millis(0))
            .expect("plan");
    let sp = &r.plan.stages[2];
    let first: Vec<&str> = (0..2).map(|i| sp.label_of("proxy", i).unwrap_or("")).collect();
    // Spread labels are recorded only for gates/coverage; check through the fleet instead.
    let proxies: std::collections::BTreeSet<&str> = sp.targets[..2]
        .iter()
        .filter_map(|t| fleet.labels(t).and_then(|l| l.get("proxy")).map(String::as_str))
        .collect();
    assert_eq!(proxies.len(), 2, "first wave {first:?} should hold fl1 and fl2");
}

// ---- proptests of the named invariants ----

fn arb_waves() -> impl Strategy<Value = Vec<WaveSize>> {
    prop::collection::vec(
        prop_oneof![(1u64..20).prop_map(WaveSize::Count), (1u32..100).prop_map(|p| WaveSize::Percent(f64::from(p)))],
        0..4,
    )
    .prop_map(|mut v| {
        v.push(WaveSize::Percent(100.0));
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn invariants_hold_on_random_fleets_and_streams(
        dev in 0usize..4, staging in 0usize..6, prod in 1usize..60,
        w1 in arb_waves(), w2 in arb_waves(),
        bake in 0u64..40_000,
        seed in any::<u64>(),
        bad_env in 0usize..4,
        rate in 0.0f64..1.0,
        pause_at in prop::option::of(0u64..200),
        mute in prop::option::of((0usize..70, 0u64..400, prop::option::of(1u64..300))),
        stuck in prop::option::of(0usize..70),
        hold_on_silence in any::<bool>(),
        after in (prop::option::of(1u64..5), prop::option::of(0u64..60_000), prop::option::of(0u64..120_000), any::<bool>(), any::<bool>()),
        gates in (6_000u64..70_000, prop::option::of(1u64..15_000), prop::option::of((6_000u64..70_000, 1u32..4, any::<bool>()))),
    ) {
        let (max_unavailable, probation, bad_after, pause_gate, rotate) = after;
        let mut fleet = Fleet::new(&[("dev", dev), ("staging", staging), ("prod", prod)], Some("v1"));
        fleet.bad = Some("v2".into());
        fleet.bad_error_rate = rate;
        fleet.affected = match bad_env { 0 => |_| false, 1 => |l| l.get("env").map(String::as_str) == Some("prod"), 2 => |l| l.get("proxy").map(String::as_str) == Some("fl1"), _ => |_| true };
        let mut p = pipeline();
        p.stages[1].waves = w1;
        p.stages[2].waves = w2;
        p.stages[2].bake = Dur(bake);
        if hold_on_silence {
            p.stages[2].on_silent = crate::spec::OnSilent::Hold;
        }
        p.stages[2].max_unavailable = max_unavailable.map(WaveSize::Count);
        p.probation = probation.map(Dur);
        fleet.bad_after = bad_after;
        if pause_gate {
            gate_mut(&mut p, 2).on_fail = crate::spec::OnFail::Pause;
        }
        if rotate {
            p.stages[2].canary = crate::spec::CanaryOrder::Rotate;
        }
        // Gate windows that are not a multiple of the report interval, a delay, a compare gate:
        // members' sums then change between reports too (remembered sums must notice).
        let (window, delay, compare) = gates;
        gate_mut(&mut p, 2).window = Dur(window);
        gate_mut(&mut p, 2).initial_delay = Dur(delay.unwrap_or(0));
        if let Some((window, min_samples, by_proxy)) = compare {
            p.stages[2].gates.push(GateSpec::Compare(crate::spec::CompareGate {
                name: "errors-vs-baseline".into(),
                metric: Metric::ErrorRate,
                worse: crate::spec::Worse::Higher,
                confidence: 0.9,
                min_effect: 0.1,
                window: Dur(window),
                min_samples,
                per_label: by_proxy.then(|| "proxy".to_string()),
                source: None,
                failure_limit: 1,
                initial_delay: Dur::ZERO,
                on_fail: crate::spec::OnFail::Rollback,
            }));
        }
        if let Some(i) = stuck {
            let t = fleet.targets[i % fleet.targets.len()].id.clone();
            fleet.stuck.insert(t);
        }
        let mute = mute.map(|(i, at, len)| (fleet.targets[i % fleet.targets.len()].id.clone(), at, len));
        let opts = StartOptions { seed, ..StartOptions::default() };
        let (r, first) = Rollout::start("r", "s", "v2".into(), Some("v1".into()), &p, &fleet.targets, &opts, Millis(0)).expect("plan");
        // waves-never-shrink
        prop_assert!(check_plan(&r).is_empty());
        // deterministic: the same inputs plan and act the same
        let (r2, first2) = Rollout::start("r", "s", "v2".into(), Some("v1".into()), &p, &fleet.targets, &opts, Millis(0)).expect("plan");
        prop_assert_eq!(&r, &r2);
        prop_assert_eq!(&first, &first2);

        let mut r = r;
        // The same rollout stepped with the fleet's report log, so it remembers what members
        // told between steps: it must judge and act exactly as `r`, which reads every member.
        let mut remembering = r.clone();
        let mut desired = BTreeMap::new();
        apply_desired(&mut desired, &first);
        let mut tally = DesiredTally::new();
        tally_desired(&mut tally, &first);
        fleet.carry_out(Millis(0), &first);
        let mut now = Millis(0);
        let mut failed_seen = false;
        let probated: BTreeSet<ReleaseId> = [ReleaseId::from("v1")].into_iter().collect();
        for tick in 0..900u64 {
            if r.is_finished() { break; }
            now = now + Dur(1_000);
            if let Some((t, at, len)) = &mute {
                if *at == tick {
                    fleet.muted.insert(t.clone(), now);
                }
                if len.is_some_and(|l| at + l == tick) {
                    fleet.unmute(t);
                }
            }
            fleet.advance(now);
            if pause_at == Some(tick) {
                let _ = r.command(now, &Command::Pause { by: "p".into(), reason: None });
                let _ = remembering.command(now, &Command::Pause { by: "p".into(), reason: None });
            }
            if pause_at.map(|p| p + 30) == Some(tick) {
                let _ = r.command(now, &Command::Resume { by: "p".into(), reason: None });
                let _ = remembering.command(now, &Command::Resume { by: "p".into(), reason: None });
            }
            let failed_before = r.failed;
            fleet.log_reports = true;
            let remembered = remembering.step(now, &fleet);
            fleet.log_reports = false;
            let acts = r.step(now, &fleet);
            prop_assert_eq!(&remembered, &acts, "the rollout remembering its members acted otherwise at {:?}", now);
            prop_assert_eq!(&remembering.last_evals, &r.last_evals);
            prop_assert_eq!(&remembering, &r);
            // never-promote-past-failed-gate and only-validated-or-known-good
            // silence-never-passes and no-verdict-waits-forever too
            let mut v = check_actions(&r, failed_before, &acts);
            v.extend(check_step(&r, now, &fleet, &acts));
            // known-good-only-after-probation: v1 is the only release that finished one
            v.extend(check_rollback_targets(&probated, &acts));
            prop_assert!(v.is_empty(), "invariant broken: {:?}", v);
            if failed_seen {
                let promoted = acts.iter().any(|a| matches!(a, Action::SetDesired { .. }));
                prop_assert!(!promoted, "promoted after a failure");
            }
            failed_seen = failed_seen || r.failed;
            apply_desired(&mut desired, &acts);
            // desired-follows-from-cursor, after this step and over the whole rollout so far
            let mut step_tally = DesiredTally::new();
            tally_desired(&mut step_tally, &acts);
            tally_desired(&mut tally, &acts);
            let v = [check_desired(&r, &step_tally, false), check_desired(&r, &tally, true)].concat();
            prop_assert!(v.is_empty(), "invariant broken: {:?}", v);
            // The stored shape: the state without its plan, the plan given back, the same rollout.
            let mut back: Rollout = serde_json::from_str(&serde_json::to_string(&r).expect("serialize")).expect("deserialize");
            back.attach_plan(Some((*r.plan).clone())).expect("plan");
            prop_assert_eq!(&back, &r);
            fleet.carry_out(now, &acts);
        }
        // one-release-per-target: every target is desired on exactly one release, and
        // a rolled-back rollout leaves none on the candidate.
        for t in &fleet.targets {
            let d = desired.get(&t.id).cloned().unwrap_or(Some("v1".into()));
            prop_assert!(d == Some("v1".into()) || d == Some("v2".into()));
        }
        // A rollback that ends `rolled back` left every target on known-good; one that did not
        // land says so, and still leaves every desired release at known-good.
        if matches!(r.outcome(), Some(Outcome::RolledBack | Outcome::RollbackIncomplete | Outcome::Aborted)) {
            prop_assert!(desired.values().all(|d| d == &Some(ReleaseId::from("v1"))));
        }
        if matches!(r.outcome(), Some(Outcome::RolledBack | Outcome::Aborted)) {
            prop_assert!(fleet.running.values().all(|d| d == &Some(ReleaseId::from("v1"))));
        }
        if r.outcome() == Some(Outcome::Completed) {
            prop_assert!(fleet.targets.iter().filter(|t| r.plan.stages.iter().any(|s| s.targets.contains(&t.id)) && !r.excluded.contains(&t.id)).all(|t| fleet.running.get(&t.id) == Some(&Some("v2".into()))));
        }
        // No verdict waits forever: 900 s is past every deadline of this pipeline, so a rollout
        // still going waits for a person (or rolls back).
        if !r.is_finished() {
            prop_assert!(r.deadline().is_none_or(|d| d > now), "{:?} past its deadline", r.phase);
        }
    }
}

#[test]
fn a_wave_target_that_falls_back_on_its_own_fails_the_wave() {
    let mut fleet = Fleet::new(&[("dev", 4), ("prod", 10)], Some("v1"));
    let (r, first) = start(&fleet, &StartOptions::default());
    let mut r = r;
    fleet.carry_out(Millis(0), &first);
    let mut now = Millis(0);
    // Let dev apply and start baking.
    while !matches!(r.phase, Phase::Baking { .. }) {
        now = now + Dur(1_000);
        fleet.advance(now);
        let acts = r.step(now, &fleet);
        fleet.carry_out(now, &acts);
    }
    // One dev target switches itself back to v1 without reporting a failure.
    let t = r.touched().next().unwrap().clone();
    fleet.running.insert(t.clone(), Some("v1".into()));
    now = now + Dur(1_000);
    let acts = r.step(now, &fleet);
    assert!(matches!(r.phase, Phase::RollingBack { .. }), "{:?}", r.phase);
    assert!(
        events(&acts)
            .iter()
            .any(|e| matches!(e, EventKind::RollbackStarted { why, .. } if why.contains("left the candidate")))
    );
}

#[test]
fn a_rollback_a_target_never_confirms_ends_incomplete_naming_it_after_the_timeout() {
    let mut fleet = Fleet::new(&[("dev", 4), ("prod", 10)], Some("v1"));
    let (mut r, first) = start(&fleet, &StartOptions::default());
    fleet.carry_out(Millis(0), &first);
    let mut now = Millis(0);
    while !matches!(r.phase, Phase::Baking { .. }) {
        now = now + Dur(1_000);
        fleet.advance(now);
        let acts = r.step(now, &fleet);
        fleet.carry_out(now, &acts);
    }
    let acts = r.command(now, &Command::Abort { by: "ann".into(), reason: None }).unwrap();
    // One touched target is offline: it never takes the rollback.
    let offline = r.touched().next().unwrap().clone();
    let moved: Vec<Action> = acts
        .iter()
        .map(|a| match a {
            Action::RollBack { targets, to } => Action::RollBack {
                targets: targets.iter().filter(|t| **t != offline).cloned().collect(),
                to: to.clone(),
            },
            other => other.clone(),
        })
        .collect();
    fleet.carry_out(now, &moved);
    let begun = now;
    while now < begun + ROLLBACK_CONFIRM_TIMEOUT {
        assert_eq!(r.next_wakeup(now), Some(begun + ROLLBACK_CONFIRM_TIMEOUT));
        now = now + Dur(10_000);
        fleet.advance(now);
        let acts = r.step(now, &fleet);
        if now < begun + ROLLBACK_CONFIRM_TIMEOUT {
            assert!(matches!(r.phase, Phase::RollingBack { .. }), "finished early at {now:?}: {acts:?}");
        }
    }
    match &r.phase {
        Phase::Finished { outcome: Outcome::RollbackIncomplete, why, .. } => {
            assert!(why.starts_with("aborted by ann; rollback incomplete: 1 of 4"), "{why}");
            assert!(why.contains(&format!("{offline}: runs the candidate")), "{why}");
        }
        other => panic!("still {other:?}"),
    }
}

#[test]
fn the_log_keeps_the_evaluations_that_let_each_wave_pass() {
    let mut fleet = Fleet::new(&[("dev", 4), ("staging", 6), ("prod", 30)], Some("v1"));
    let (r, first) = start(&fleet, &StartOptions::default());
    let (r, all) = drive(&mut fleet, r, first, 10_000_000);
    assert_eq!(r.outcome(), Some(Outcome::Completed));
    let records: Vec<&Event> = all
        .iter()
        .filter_map(|a| match a {
            Action::Record(e) => Some(&**e),
            _ => None,
        })
        .collect();
    let mut passes = 0;
    for (i, e) in records.iter().enumerate() {
        if let EventKind::WavePassed { stage, wave } = &e.kind {
            passes += 1;
            let gates = r.plan.stages.iter().find(|s| &s.name == stage).map(|s| s.gates.len()).unwrap();
            // Right before it, at the same instant: a passing evaluation of every gate.
            let deciding: Vec<&GateEval> = records[..i]
                .iter()
                .rev()
                .take_while(|p| p.at == e.at)
                .filter_map(|p| match &p.kind {
                    EventKind::Gate { stage: s, wave: w, eval } if s == stage && w == wave => Some(eval),
                    _ => None,
                })
                .collect();
            assert!(deciding.len() >= gates, "{stage}/{wave}: {deciding:?}");
            assert!(deciding.iter().all(|g| g.verdict == Verdict::Pass && g.value.is_some()), "{deciding:?}");
        }
    }
    assert!(passes >= 3, "{passes}");
}

mod after_the_wave;
mod approvals;
mod fail_closed;
mod fleet;
mod progress;
