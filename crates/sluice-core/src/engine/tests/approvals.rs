//! Approvals: N different people in the roles a stage names, never the author, withdrawable
//! until the stage starts; broken glass waits for a second person, within a time limit.

use super::*;
use crate::role::Role;
use crate::spec::ApprovalSpec;

fn approve(by: &str, role: Role) -> Command {
    Command::Approve { by: by.into(), reason: Some(format!("{by} looked")), role: Some(role) }
}

/// A rollout of `p` by alice, driven until it waits at prod.
fn waiting_at_prod(p: &PipelineSpec) -> (Fleet, Rollout) {
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
    let opts = StartOptions { author: Some("alice".into()), ..StartOptions::default() };
    let (r, first) = Rollout::start("r1", "edge", "v2".into(), Some("v1".into()), p, &fleet.targets, &opts, Millis(0))
        .expect("plan");
    let (r, _) = drive(&mut fleet, r, first, 300_000);
    assert!(matches!(r.phase, Phase::AwaitingApproval { stage: 2, .. }), "{:?}", r.phase);
    (fleet, r)
}

#[test]
fn a_stage_needing_two_approvals_starts_after_the_second_from_different_people_in_the_named_roles() {
    let mut p = pipeline();
    p.stages[2].approvals = Some(ApprovalSpec { count: 2, from: vec![Role::Approver] });
    let (mut fleet, mut r) = waiting_at_prod(&p);
    let now = Millis(300_000);
    // A deployer is not in `from`; the author never counts.
    let refused = r.command(now, &approve("dave", Role::Deployer)).expect_err("deployer");
    assert!(refused.to_string().contains("takes approvals from approver only; dave is deployer"), "{refused}");
    assert!(matches!(r.command(now, &approve("alice", Role::Approver)), Err(CommandError::OwnApproval { .. })));
    let acts = r.command(now, &approve("bob", Role::Approver)).expect("first");
    assert!(!acts.iter().any(|a| matches!(a, Action::SetDesired { .. })), "one of two moves nothing");
    let Phase::AwaitingApproval { why, .. } = &r.phase else { panic!("{:?}", r.phase) };
    assert!(why.contains("2 approvals") && why.contains("1 so far"), "{why}");
    // Each person counts once.
    let twice = r.command(now, &approve("bob", Role::Approver)).expect_err("twice");
    assert!(matches!(twice, CommandError::AlreadyApproved { count: 1, needed: 2, .. }), "{twice:?}");
    // An admin holds every role's rights.
    let acts = r.command(now, &approve("carol", Role::Admin)).expect("second");
    assert!(acts.iter().any(|a| matches!(a, Action::SetDesired { .. })), "the stage starts");
    let approved: Vec<(String, u32, u32)> = events(&acts)
        .into_iter()
        .filter_map(|e| match e {
            EventKind::Approved { by, count, needed, reason, .. } => {
                assert_eq!(reason.as_deref(), Some("carol looked"));
                Some((by.clone(), *count, *needed))
            }
            _ => None,
        })
        .collect();
    assert_eq!(approved, [("carol".to_string(), 2, 2)]);
    let who: Vec<&str> = r.approvals[&2].iter().map(|a| a.by.as_str()).collect();
    assert_eq!(who, ["bob", "carol"]);
    assert_eq!(r.approvals[&2][1].role, Some(Role::Admin));
    let (r, _) = drive(&mut fleet, r, acts, 3_600_000);
    assert_eq!(r.outcome(), Some(Outcome::Completed));
}

#[test]
fn an_approval_can_be_withdrawn_until_the_stage_starts() {
    let mut p = pipeline();
    p.stages[2].approvals = Some(ApprovalSpec { count: 2, from: vec![Role::Approver] });
    let (_, mut r) = waiting_at_prod(&p);
    let now = Millis(300_000);
    r.command(now, &approve("bob", Role::Approver)).expect("bob");
    let acts = r
        .command(now, &Command::Withdraw { by: "bob".into(), reason: Some("saw the dashboards".into()) })
        .expect("withdraw");
    assert!(
        matches!(events(&acts)[..], [EventKind::ApprovalWithdrawn { by, reason: Some(why), .. }] if by == "bob" && why == "saw the dashboards")
    );
    assert!(r.approvals[&2].is_empty());
    let none = r.command(now, &Command::Withdraw { by: "bob".into(), reason: None }).expect_err("nothing left");
    assert!(matches!(none, CommandError::NothingToWithdraw { .. }));
    // Two approvals are needed again from scratch.
    r.command(now, &approve("carol", Role::Approver)).expect("carol");
    assert!(matches!(r.phase, Phase::AwaitingApproval { .. }));
    r.command(now, &approve("bob", Role::Approver)).expect("bob again");
    assert!(matches!(r.phase, Phase::Applying { stage: 2, .. }));
    // Once the stage started there is nothing to withdraw.
    let late = r.command(now, &Command::Withdraw { by: "bob".into(), reason: None }).expect_err("started");
    assert!(matches!(late, CommandError::NotApplicable { .. }), "{late:?}");
}

#[test]
fn an_emergency_may_replace_a_stages_approvals_with_one_from_someone_else() {
    let mut p = pipeline();
    p.stages[2].approvals = Some(ApprovalSpec { count: 3, from: vec![Role::Approver] });
    p.emergency.approvals = crate::spec::EmergencyApprovals::One;
    let fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
    let opts = StartOptions { emergency: true, reason: Some("CVE".into()), ..StartOptions::default() };
    let (r, _) = Rollout::start("r1", "edge", "v2".into(), None, &p, &fleet.targets, &opts, Millis(0)).expect("plan");
    assert_eq!(r.plan.stages[2].approval_rule().map(|a| a.count), Some(1));
    // Not an emergency: as written.
    let (r, _) =
        Rollout::start("r2", "edge", "v2".into(), None, &p, &fleet.targets, &StartOptions::default(), Millis(0))
            .expect("plan");
    assert_eq!(r.plan.stages[2].approval_rule().map(|a| a.count), Some(3));
}

fn glass() -> BreakGlass {
    BreakGlass { reason: "edge down, sev1".into(), skips: vec!["max_blast".into()], approved: None }
}

#[test]
fn broken_glass_moves_nothing_until_a_second_person_approves() {
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 10)], Some("v1"));
    let opts = StartOptions { author: Some("alice".into()), break_glass: Some(glass()), ..StartOptions::default() };
    let (mut r, first) =
        Rollout::start("r1", "edge", "v2".into(), Some("v1".into()), &pipeline(), &fleet.targets, &opts, Millis(0))
            .expect("plan");
    assert!(!first.iter().any(|a| matches!(a, Action::SetDesired { .. })));
    assert!(events(&first).iter().any(|e| matches!(e, EventKind::BreakGlass { by: Some(b), .. } if b == "alice")));
    assert_eq!(r.deadline(), Some(Millis(0) + BREAK_GLASS_APPROVAL_TIMEOUT));
    // The author may not approve their own broken glass; a deployer may not either.
    assert!(matches!(r.command(Millis(1), &approve("alice", Role::Admin)), Err(CommandError::OwnApproval { .. })));
    assert!(r.command(Millis(1), &approve("dave", Role::Deployer)).is_err());
    let acts = r.command(Millis(1_000), &approve("bob", Role::Approver)).expect("second person");
    assert!(events(&acts).iter().any(|e| matches!(e, EventKind::BreakGlassApproved { by, .. } if by == "bob")));
    assert!(acts.iter().any(|a| matches!(a, Action::SetDesired { .. })));
    assert_eq!(r.break_glass.as_ref().and_then(|g| g.approved.as_ref()).map(|a| a.by.as_str()), Some("bob"));
    let (r, _) = drive(&mut fleet, r, acts, 3_600_000);
    assert_eq!(r.outcome(), Some(Outcome::Completed));
}

#[test]
fn broken_glass_nobody_approves_in_time_ends_the_rollout_having_changed_nothing() {
    let mut fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
    let opts = StartOptions { author: Some("alice".into()), break_glass: Some(glass()), ..StartOptions::default() };
    let (r, first) =
        Rollout::start("r1", "edge", "v2".into(), Some("v1".into()), &pipeline(), &fleet.targets, &opts, Millis(0))
            .expect("plan");
    let (r, all) = drive(&mut fleet, r, first, 3_600_000);
    assert_eq!(r.outcome(), Some(Outcome::Aborted));
    let Phase::Finished { at, why, .. } = &r.phase else { panic!() };
    assert_eq!(*at, Millis(0) + BREAK_GLASS_APPROVAL_TIMEOUT);
    assert!(why.contains("not approved by a second person within 15m"), "{why}");
    assert!(!all.iter().any(|a| matches!(a, Action::SetDesired { .. })));
}
