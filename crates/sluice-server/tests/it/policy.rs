//! Change policy through the real server: change records a stage asks for, N approvals from
//! the named roles (withdrawable), and side doors (an unlisted pipeline, all of prod at once)
//! that only broken glass with a second person's approval opens.

use std::time::Duration;

use sluice_api::{ApplySpec, Client, CommandKind, ErrorCode, Role, RolloutCommand, StartRollout};
use sluice_core::change::Risk;
use sluice_core::engine::{Outcome, PhaseKind};

use crate::harness::{self, all_events, eventually};
use crate::rollouts::{finished, fleet};
use crate::tokens::token;

/// `web` goes through `gradual` (staging, then prod with a 2-person approval and a record
/// policy); `fast` takes all of prod at once and is not listed for it.
const SPEC: &str = r#"version: 1
services:
  web:
    pipeline: gradual
pipelines:
  gradual:
    stages:
      - name: staging
        selector: { env: staging }
        bake: 200ms
        gates:
          - threshold: { name: errors, metric: error_rate, max: 0.05, window: 2s, min_samples: 2 }
      - name: prod
        selector: { env: prod }
        waves: [1, "100%"]
        bake: 200ms
        approvals: { count: 2, from: [approver] }
        requires: { message: true, ticket_from: high }
        gates:
          - threshold: { name: errors, metric: error_rate, max: 0.05, window: 2s, min_samples: 2 }
  fast:
    stages:
      - name: prod
        selector: { env: prod }
        bake: 200ms
        gates:
          - threshold: { name: errors, metric: error_rate, max: 0.05, window: 2s, min_samples: 2 }
"#;

async fn server() -> harness::TestServer {
    let t = harness::with_spec().await;
    t.admin.apply_spec(&ApplySpec { text: SPEC.into(), file: None, force: true }).await.unwrap();
    t
}

fn req(release: &str) -> StartRollout {
    StartRollout { service: "web".into(), release: release.into(), seed: Some(7), ..StartRollout::default() }
}

fn why(r: &str) -> RolloutCommand {
    RolloutCommand { reason: Some(r.into()) }
}

async fn phase_is(c: &Client, id: &str, want: PhaseKind) -> sluice_api::RolloutView {
    eventually(&format!("rollout {id} to be {want:?}"), Duration::from_secs(20), || async {
        let v = c.rollout(id).await.unwrap();
        (v.phase == want).then_some(v)
    })
    .await
}

#[tokio::test]
async fn a_change_record_is_required_where_a_stage_asks_and_shown_in_status_and_events() {
    let t = server().await;
    let _agents = fleet(&t.admin).await;
    let (_, dora) = token(&t.admin, "dora", Role::Deployer, None).await;
    let v1 = dora.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let before = all_events(&t.admin).await;
    // No message; risk not stated counts as high, so a ticket is needed too.
    let err = dora.start_rollout(&req(&v1.0)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest), "{err}");
    let text = err.to_string();
    assert!(text.contains("a message is required (give --message): stage prod"), "{text}");
    assert!(text.contains("a ticket is required (give --ticket)") && text.contains("judged high"), "{text}");
    let high = StartRollout { message: Some("new rules".into()), risk: Some(Risk::High), ..req(&v1.0) };
    let err = dora.start_rollout(&high).await.unwrap_err();
    assert!(err.to_string().contains("at risk high and above (risk high)"), "{err}");
    let bad = StartRollout { ticket: Some("OPS-1\nOPS-2".into()), ..high.clone() };
    assert!(dora.start_rollout(&bad).await.unwrap_err().to_string().contains("one line"));
    assert_eq!(all_events(&t.admin).await, before, "refused starts changed nothing");
    let ok = StartRollout {
        ticket: Some("https://tickets.example/OPS-7".into()),
        rollback_plan: Some("also purge the CDN cache".into()),
        ..high
    };
    let started = dora.start_rollout(&ok).await.unwrap();
    assert_eq!(started.author.as_deref(), Some("dora"));
    assert_eq!(started.change.message.as_deref(), Some("new rules"));
    assert_eq!(started.change.ticket.as_deref(), Some("https://tickets.example/OPS-7"));
    assert_eq!(started.change.risk, Some(Risk::High));
    let events = all_events(&t.admin).await;
    let start = events.iter().find(|e| e.kind == "started").unwrap();
    assert_eq!(start.actor, "dora");
    assert_eq!(start.body["author"], "dora");
    assert_eq!(start.body["change"]["ticket"], "https://tickets.example/OPS-7");
    assert_eq!(start.body["change"]["rollback_plan"], "also purge the CDN cache");
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stage_needing_two_approvals_starts_after_the_second_and_an_approval_can_be_withdrawn() {
    let t = server().await;
    let _agents = fleet(&t.admin).await;
    let (_, dora) = token(&t.admin, "dora", Role::Deployer, None).await;
    let (_, dan) = token(&t.admin, "dan", Role::Deployer, None).await;
    let (_, abe) = token(&t.admin, "abe", Role::Approver, None).await;
    let (_, amy) = token(&t.admin, "amy", Role::Approver, None).await;
    let v1 = dora.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let start = StartRollout { message: Some("v1".into()), risk: Some(Risk::Low), ..req(&v1.0) };
    let started = dora.start_rollout(&start).await.unwrap();
    let id = started.id.clone();
    let waiting = phase_is(&dora, &id, PhaseKind::AwaitingApproval).await;
    assert!(waiting.reason.as_deref().unwrap_or("").contains("2 approvals"), "{:?}", waiting.reason);
    // The author, and anyone whose role the stage does not take, are refused.
    let own = dora.command(&id, CommandKind::Approve, &why("mine")).await.unwrap_err();
    assert_eq!(own.code(), Some(ErrorCode::Forbidden), "{own}");
    let deployer = dan.command(&id, CommandKind::Approve, &why("lgtm")).await.unwrap_err();
    assert_eq!(deployer.code(), Some(ErrorCode::Forbidden), "{deployer}");
    // One approval of two: still waiting; withdrawn; given again; the same person twice is a
    // conflict; the second person lets the stage start.
    let one = abe.command(&id, CommandKind::Approve, &why("graphs look fine")).await.unwrap();
    assert_eq!(one.phase, PhaseKind::AwaitingApproval);
    assert_eq!(one.approvals["prod"].len(), 1);
    abe.command(&id, CommandKind::Withdraw, &why("saw an alert")).await.unwrap();
    let none = abe.command(&id, CommandKind::Withdraw, &why("again")).await.unwrap_err();
    assert_eq!(none.code(), Some(ErrorCode::Conflict), "{none}");
    abe.command(&id, CommandKind::Approve, &why("alert was unrelated")).await.unwrap();
    let twice = abe.command(&id, CommandKind::Approve, &why("really")).await.unwrap_err();
    assert_eq!(twice.code(), Some(ErrorCode::Conflict), "{twice}");
    let two = amy.command(&id, CommandKind::Approve, &why("second pair of eyes")).await.unwrap();
    assert_ne!(two.phase, PhaseKind::AwaitingApproval);
    let who: Vec<&str> = two.approvals["prod"].iter().map(|a| a.by.as_str()).collect();
    assert_eq!(who, ["abe", "amy"]);
    // Too late to withdraw once the stage started.
    let late = amy.command(&id, CommandKind::Withdraw, &why("hmm")).await.unwrap_err();
    assert_eq!(late.code(), Some(ErrorCode::Conflict), "{late}");
    let done = finished(&dora, &id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{:?}", done.reason);
    // Every reason is in its event, with who gave it.
    let events = all_events(&t.admin).await;
    let said = |kind: &str, by: &str, reason: &str| {
        events.iter().any(|e| e.kind == kind && e.body["by"] == by && e.body["reason"] == reason)
    };
    assert!(said("approved", "abe", "graphs look fine"));
    assert!(said("approval_withdrawn", "abe", "saw an alert"));
    assert!(said("approved", "amy", "second pair of eyes"));
    let last = events.iter().rfind(|e| e.kind == "approved").unwrap();
    assert_eq!((last.body["count"].as_u64(), last.body["needed"].as_u64()), (Some(2), Some(2)));
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn all_of_prod_at_once_or_an_unlisted_pipeline_needs_broken_glass_and_a_second_person() {
    let t = server().await;
    let _agents = fleet(&t.admin).await;
    let (_, dora) = token(&t.admin, "dora", Role::Deployer, None).await;
    let (_, abe) = token(&t.admin, "abe", Role::Approver, None).await;
    let v1 = dora.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let fast = StartRollout { pipeline: Some("fast".into()), message: Some("hotfix".into()), ..req(&v1.0) };
    let fast = StartRollout { ticket: Some("OPS-9".into()), ..fast };
    let before = all_events(&t.admin).await;
    let err = dora.start_rollout(&fast).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    let text = err.to_string();
    assert!(text.contains("may use pipeline gradual only"), "{text}");
    assert!(text.contains("3 of its 3 targets") && text.contains("max_blast (25%) allows 1"), "{text}");
    assert!(text.contains("--break-glass --reason"), "{text}");
    // Broken glass needs a reason; with nothing to break it is refused too.
    let no_reason = dora.start_rollout(&StartRollout { break_glass: true, ..fast.clone() }).await.unwrap_err();
    assert_eq!(no_reason.code(), Some(ErrorCode::BadRequest), "{no_reason}");
    let gradual = StartRollout {
        break_glass: true,
        reason: Some("x".into()),
        message: Some("m".into()),
        risk: Some(Risk::Low),
        ..req(&v1.0)
    };
    let nothing = dora.start_rollout(&gradual).await.unwrap_err();
    assert!(nothing.to_string().contains("refuses nothing"), "{nothing}");
    assert_eq!(all_events(&t.admin).await, before, "refused starts changed nothing");

    let glass = StartRollout { break_glass: true, reason: Some("edge down, sev1".into()), ..fast };
    let started = dora.start_rollout(&glass).await.unwrap();
    assert_eq!(started.phase, PhaseKind::AwaitingApproval);
    assert_eq!(started.touched, 0, "nothing moves before a second person approves");
    let g = started.break_glass.as_ref().unwrap();
    assert_eq!((g.reason.as_str(), g.skips.len(), g.approved.is_none()), ("edge down, sev1", 2, true));
    assert!(started.deadlines.iter().any(|d| d.what == "approval"), "{:?}", started.deadlines);
    let own = dora.command(&started.id, CommandKind::Approve, &why("go")).await.unwrap_err();
    assert_eq!(own.code(), Some(ErrorCode::Forbidden), "{own}");
    let approved = abe.command(&started.id, CommandKind::Approve, &why("confirmed the incident")).await.unwrap();
    assert_eq!(approved.break_glass.as_ref().and_then(|g| g.approved.as_ref()).map(|a| a.by.as_str()), Some("abe"));
    let done = finished(&dora, &started.id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{:?}", done.reason);
    let events = all_events(&t.admin).await;
    let broke = events.iter().find(|e| e.kind == "break_glass").unwrap();
    assert_eq!((broke.actor.as_str(), &broke.body["reason"]), ("dora", &serde_json::json!("edge down, sev1")));
    let ok = events.iter().find(|e| e.kind == "break_glass_approved").unwrap();
    assert_eq!((ok.body["by"].as_str(), ok.body["reason"].as_str()), (Some("abe"), Some("confirmed the incident")));
    let metrics = reqwest::get(format!("{}/metrics", t.server.base_url())).await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "sluice_break_glass_total 1"), "{metrics}");
    t.server.shutdown().await.unwrap();
}
