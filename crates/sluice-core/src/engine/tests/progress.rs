//! `Rollout::progress`: each stage's and wave's state, the one derivation every shell shows.

use super::*;
use crate::engine::{StageState as S, WaveState as W};

fn states(r: &Rollout) -> Vec<(S, Vec<W>)> {
    r.progress().into_iter().map(|p| (p.state, p.waves)).collect()
}

#[test]
fn progress_follows_the_rollout_from_start_to_each_end() {
    let mut p = pipeline();
    p.stages[2].approval = true;
    let mut fleet = Fleet::new(&[("dev", 2), ("staging", 2), ("prod", 20)], Some("v1"));
    let (r, first) = start_with(&fleet, &p);
    assert_eq!(states(&r)[0], (S::Active, vec![W::Applying]));
    assert_eq!(states(&r)[2], (S::Pending, vec![W::Pending; 4]));
    let mut seen_awaiting = false;
    let (r, _) = drive_with(&mut fleet, r, first, 600_000, |_, r, _| {
        if let Phase::Baking { stage: 1, wave: 1, .. } = r.phase {
            assert_eq!(states(r)[1], (S::Active, vec![W::Passed, W::Baking]));
            assert_eq!(states(r)[0].0, S::Passed);
        }
        if matches!(r.phase, Phase::AwaitingApproval { .. }) {
            seen_awaiting = true;
            assert_eq!(states(r)[2], (S::AwaitingApproval, vec![W::Pending; 4]));
        }
    });
    assert!(seen_awaiting);
    // Approve, then a failure in prod's second wave: prod failed there, rolled back.
    let mut r = r;
    let mut now = Millis(600_000);
    let acts = r.command(now, &Command::Approve { by: "a".into(), reason: None, role: None }).expect("approve");
    fleet.carry_out(now, &acts);
    fleet.bad = Some("v2".into());
    fleet.affected = |l| l.get("env").map(String::as_str) == Some("prod");
    fleet.bad_from = Some(Millis(u64::MAX));
    while !r.is_finished() && now.0 < 3_600_000 {
        now = now + Dur(1_000);
        if fleet.bad_from == Some(Millis(u64::MAX)) && matches!(r.phase, Phase::Baking { stage: 2, wave: 1, .. }) {
            fleet.bad_from = Some(now);
        }
        fleet.advance(now);
        let acts = r.step(now, &fleet);
        fleet.carry_out(now, &acts);
    }
    assert_eq!(r.outcome(), Some(Outcome::RolledBack));
    assert_eq!(states(&r)[2], (S::Failed, vec![W::Passed, W::RolledBack, W::Pending, W::Pending]));
    assert_eq!(S::AwaitingApproval.as_str(), "awaiting_approval");
    assert_eq!(serde_json::to_string(&W::RolledBack).expect("json"), "\"rolled_back\"");
}

#[test]
fn a_completed_rollout_and_one_on_probation_show_every_stage_passed_or_skipped() {
    let mut fleet = Fleet::new(&[("dev", 2), ("prod", 10)], Some("v1"));
    let (r, first) = start(&fleet, &StartOptions::default());
    let mut seen_probation = false;
    let (r, _) = drive_with(&mut fleet, r, first, 3_600_000, |_, r, _| {
        if matches!(r.phase, Phase::Probation { .. }) {
            seen_probation = true;
            assert_eq!(states(r)[1], (S::Skipped, vec![W::Pending, W::Pending]), "no target: nothing ran");
        }
    });
    assert!(seen_probation);
    assert_eq!(r.outcome(), Some(Outcome::Completed));
    assert_eq!(states(&r)[2], (S::Passed, vec![W::Passed; 4]));
}
