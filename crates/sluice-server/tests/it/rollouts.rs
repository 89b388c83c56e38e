//! Rollouts driven end to end with fake agents: a healthy rollout completes and moves
//! known-good; an unhealthy wave fails its gate and every touched target goes back to
//! known-good; a second rollout of a busy service is a conflict.

use std::time::Duration;

use sluice_api::{Client, CommandKind, ErrorCode, RolloutCommand, RolloutView, StartAnswer, StartRollout};
use sluice_core::engine::{Outcome, PhaseKind};
use sluice_core::release::ReleaseId;

use crate::fake_agent::FakeAgent;
use crate::harness::{self, all_events, eventually};

pub fn start_req(release: &ReleaseId, pipeline: Option<&str>) -> StartRollout {
    StartRollout {
        service: "web".into(),
        release: release.0.clone(),
        pipeline: pipeline.map(str::to_string),
        emergency: false,
        reason: None,
        seed: Some(7),
        queue: false,
        ..StartRollout::default()
    }
}

pub async fn finished(admin: &Client, id: &str, timeout: Duration) -> RolloutView {
    eventually(&format!("rollout {id} to finish"), timeout, || async {
        let v = admin.rollout(id).await.unwrap();
        v.outcome.is_some().then_some(v)
    })
    .await
}

pub async fn fleet(admin: &Client) -> Vec<FakeAgent> {
    vec![
        FakeAgent::start(admin, "stg-1", &[("env", "staging")]).await,
        FakeAgent::start(admin, "prod-1", &[("env", "prod")]).await,
        FakeAgent::start(admin, "prod-2", &[("env", "prod")]).await,
        FakeAgent::start(admin, "prod-3", &[("env", "prod")]).await,
    ]
}

#[tokio::test]
async fn a_healthy_rollout_completes_and_moves_known_good() {
    let t = harness::with_spec().await;
    let agents = fleet(&t.admin).await;
    let v1 = t.admin.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let started = t.admin.start_rollout(&start_req(&v1, None)).await.unwrap();
    assert_eq!(started.known_good, None);
    assert_eq!(started.stages.len(), 2);
    assert_eq!(started.stages[0].targets, 1);
    assert_eq!(started.stages[1].targets, 3);
    assert_eq!(started.stages[1].waves.iter().map(|w| w.targets).collect::<Vec<_>>(), vec![1, 3]);
    let done = finished(&t.admin, &started.id, Duration::from_secs(20)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{:?}", done.reason);
    assert_eq!(done.phase, PhaseKind::Completed);
    assert_eq!(done.touched, 4);
    assert!(done.stages.iter().all(|s| s.state == "passed"), "{:?}", done.stages);
    assert_eq!(done.stages[1].waves[1].on_candidate, 3);
    for a in &agents {
        assert_eq!(a.running("web").as_ref(), Some(&v1), "{} runs v1", a.target);
    }
    // The view carries counts; the targets are one request away, by id or a unique prefix.
    let targets = t.admin.rollout_targets(&started.id).await.unwrap();
    assert_eq!(targets.touched().count(), 4);
    assert_eq!(targets.stages[1].told, 3);
    assert_eq!(targets.stages[1].wave_ends, vec![1, 3]);
    let prefix = &started.id[..started.id.len() - 3];
    assert_eq!(t.admin.rollout(prefix).await.unwrap().id, started.id);
    assert_eq!(t.admin.rollout_targets(prefix).await.unwrap(), targets);
    let short = t.admin.rollout("r-").await.unwrap_err();
    assert_eq!(short.code(), Some(ErrorCode::NotFound), "{short}");
    let none = t.admin.rollout("r-ffffffffffff").await.unwrap_err();
    assert_eq!(none.code(), Some(ErrorCode::NotFound), "{none}");
    // known-good moved: the next rollout starts from v1, and agents are told so.
    let v2 = t.admin.create_release("web", harness::web_bundle(2), "v2").await.unwrap().release;
    assert_eq!(v2.parent.as_ref(), Some(&v1), "a release's parent is the known-good one");
    let next = t.admin.start_rollout(&start_req(&v2.id, Some("slow"))).await.unwrap();
    assert_eq!(next.known_good.as_ref(), Some(&v1));
    // Two rollouts made within the same minute share a long prefix: it is ambiguous, named.
    let common: String = started.id.chars().zip(next.id.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a).collect();
    assert!(common.len() >= 6, "{} {}", started.id, next.id);
    let ambiguous = t.admin.rollout(&common).await.unwrap_err();
    assert_eq!(ambiguous.code(), Some(ErrorCode::BadRequest), "{ambiguous}");
    assert!(ambiguous.to_string().contains(&started.id) && ambiguous.to_string().contains(&next.id), "{ambiguous}");
    let events = t.admin.events(0, 10_000, Some(&started.id)).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert!(kinds.contains(&"finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "wave_started").count(), 3, "{kinds:?}");
    let all = t.admin.rollouts(false).await.unwrap();
    assert_eq!(all.len(), 2);
    let active = t.admin.rollouts(true).await.unwrap();
    assert_eq!(active.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec![next.id.as_str()]);
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unhealthy_wave_fails_its_gate_and_rolls_every_touched_target_back() {
    let t = harness::with_spec().await;
    let agents = fleet(&t.admin).await;
    let v1 = t.admin.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let first = t.admin.start_rollout(&start_req(&v1, None)).await.unwrap();
    assert_eq!(finished(&t.admin, &first.id, Duration::from_secs(20)).await.outcome, Some(Outcome::Completed));

    let v2 = t.admin.create_release("web", harness::web_bundle(2), "v2").await.unwrap().release.id;
    for a in agents.iter().filter(|a| a.target.0.starts_with("prod")) {
        a.set_bad(Some(v2.clone()));
    }
    let second = t.admin.start_rollout(&start_req(&v2, None)).await.unwrap();
    let done = finished(&t.admin, &second.id, Duration::from_secs(20)).await;
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{:?}", done.reason);
    assert_eq!(done.phase, PhaseKind::RolledBack);
    assert_eq!(done.touched, 2, "staging and the first prod wave were touched");
    assert_eq!(done.stages[1].state, "failed");
    assert_eq!(done.stages[1].waves[0].state, "rolled_back");
    assert_eq!(done.stages[1].waves[1].state, "pending");
    // Every touched target is desired on, and runs, known-good again.
    let targets = eventually("every target runs v1 again", Duration::from_secs(10), || async {
        let targets = t.admin.targets().await.unwrap();
        targets.iter().all(|t| t.services.iter().all(|s| s.running.as_ref() == Some(&v1))).then_some(targets)
    })
    .await;
    for target in &targets {
        assert_eq!(target.services[0].desired.as_ref(), Some(&v1), "{}", target.id);
    }
    // What agents are told matches the store, version for version.
    let store = sluice_store::SqliteStore::open(t.dir.path()).await.unwrap();
    let stored = sluice_store::Store::all_desired(&store).await.unwrap();
    assert_eq!(stored.len(), agents.len());
    for a in &agents {
        let told = t.admin.with_token(Some(a.credential.clone())).desired(None, Duration::ZERO).await.unwrap();
        let truth = stored.iter().find(|d| d.target == a.target).unwrap();
        assert_eq!(told.version, truth.version, "{}", a.target);
        assert_eq!(told.services.len(), truth.services.len());
        assert_eq!(told.services[0].release, truth.services[0].release);
        assert_eq!(told.services[0].known_good.as_ref(), Some(&v1));
    }
    store.close().await;
    let events = t.admin.events(0, 10_000, Some(&second.id)).await.unwrap();
    assert!(
        events.iter().any(|e| e.kind == "gate" && e.body["eval"]["verdict"] == "fail"),
        "a failing gate evaluation is in the log"
    );
    assert!(events.iter().any(|e| e.kind == "rollback_started"));
    // The service is held: a new rollout is refused until a person clears the hold.
    let v3 = t.admin.create_release("web", harness::web_bundle(3), "v3").await.unwrap().release.id;
    assert_eq!(
        t.admin.create_release("web", harness::web_bundle(3), "v3").await.unwrap().release.parent.as_ref(),
        Some(&v1)
    );
    let err = t.admin.start_rollout(&start_req(&v3, None)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict), "{err}");
    assert!(err.to_string().contains("held"), "{err}");
    // Clearing the hold needs a reason, is audited, and lets the next rollout start.
    let services = t.admin.services().await.unwrap();
    let web = services.iter().find(|s| s.service == "web").unwrap();
    assert_eq!(web.hold.as_ref().map(|h| h.rollout.as_str()), Some(second.id.as_str()));
    let empty = t.admin.clear_hold("web", &sluice_api::ClearHold { reason: " ".into() }).await.unwrap_err();
    assert_eq!(empty.code(), Some(ErrorCode::BadRequest), "{empty}");
    let cleared =
        t.admin.clear_hold("web", &sluice_api::ClearHold { reason: "bad route fixed in v3".into() }).await.unwrap();
    assert!(cleared.hold.is_none() && cleared.known_good.as_ref() == Some(&v1));
    let again = t.admin.clear_hold("web", &sluice_api::ClearHold { reason: "twice".into() }).await.unwrap_err();
    assert_eq!(again.code(), Some(ErrorCode::Conflict), "{again}");
    let log = t.admin.events(0, 10_000, None).await.unwrap();
    assert!(log.iter().any(|e| e.body.to_string().contains("bad route fixed in v3")), "the reason is audited");
    t.admin.start_rollout(&start_req(&v3, None)).await.unwrap();
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn releases_asked_for_while_the_service_is_held_wait_on_the_hold_and_the_latest_starts_when_cleared() {
    let t = harness::with_spec().await;
    let agents = fleet(&t.admin).await;
    let v1 = t.admin.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let first = t.admin.start_rollout(&start_req(&v1, None)).await.unwrap();
    assert_eq!(finished(&t.admin, &first.id, Duration::from_secs(20)).await.outcome, Some(Outcome::Completed));
    let v2 = t.admin.create_release("web", harness::web_bundle(2), "v2").await.unwrap().release.id;
    for a in &agents {
        a.set_bad(Some(v2.clone()));
    }
    let bad = t.admin.start_rollout(&start_req(&v2, None)).await.unwrap();
    assert_eq!(finished(&t.admin, &bad.id, Duration::from_secs(20)).await.outcome, Some(Outcome::RolledBack));
    // Held: a start that may queue waits on the hold; a newer one supersedes it.
    let v3 = t.admin.create_release("web", harness::web_bundle(3), "v3").await.unwrap().release.id;
    let v4 = t.admin.create_release("web", harness::web_bundle(4), "v4").await.unwrap().release.id;
    let StartAnswer::Queued { queued } = t.admin.start_or_queue(&start_req(&v3, None)).await.unwrap() else {
        panic!("v3 should wait on the hold")
    };
    assert_eq!(queued.behind, bad.id);
    let StartAnswer::Queued { queued } = t.admin.start_or_queue(&start_req(&v4, None)).await.unwrap() else {
        panic!("v4 should wait on the hold")
    };
    assert_eq!(queued.superseded.as_ref(), Some(&v3));
    assert!(t.admin.rollouts(true).await.unwrap().is_empty(), "nothing starts while held");
    // Only an approver (or admin) clears it; then the latest waiting release starts.
    let (_, dora) = crate::tokens::token(&t.admin, "dora", sluice_api::Role::Deployer, None).await;
    let (_, abe) = crate::tokens::token(&t.admin, "abe", sluice_api::Role::Approver, None).await;
    let clear = sluice_api::ClearHold { reason: "the error spike was the test rig".into() };
    assert_eq!(dora.clear_hold("web", &clear).await.unwrap_err().code(), Some(ErrorCode::Forbidden));
    abe.clear_hold("web", &clear).await.unwrap();
    let started = eventually("v4 to start once the hold is cleared", Duration::from_secs(10), || async {
        t.admin.rollouts(true).await.unwrap().into_iter().find(|r| r.release == v4)
    })
    .await;
    assert_eq!(started.author.as_deref(), Some("admin"), "its author is who asked for it");
    assert_eq!(finished(&t.admin, &started.id, Duration::from_secs(20)).await.outcome, Some(Outcome::Completed));
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_rollout_of_a_busy_service_is_a_conflict_naming_the_first() {
    let t = harness::with_spec().await;
    let _agents = fleet(&t.admin).await;
    let v1 = t.admin.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let v2 = t.admin.create_release("web", harness::web_bundle(2), "v2").await.unwrap().release.id;
    let first = t.admin.start_rollout(&start_req(&v1, Some("slow"))).await.unwrap();
    let before = all_events(&t.admin).await.len();
    let err = t.admin.start_rollout(&start_req(&v2, None)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict), "{err}");
    assert!(err.to_string().contains(&first.id), "{err}");
    assert_eq!(t.admin.rollouts(false).await.unwrap().len(), 1);
    // Commands: pause/resume, a rollback needs a reason, abort ends it. Every reason given is
    // recorded in the event the command causes.
    let why = |r: &str| RolloutCommand { reason: Some(r.to_string()) };
    let paused = t.admin.command(&first.id, CommandKind::Pause, &why("waiting for the CDN team")).await.unwrap();
    assert_eq!(paused.phase, PhaseKind::Paused);
    let err = t.admin.command(&first.id, CommandKind::Pause, &RolloutCommand::default()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict), "{err}");
    t.admin.command(&first.id, CommandKind::Resume, &why("CDN team says go")).await.unwrap();
    let err = t.admin.command(&first.id, CommandKind::Rollback, &RolloutCommand::default()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest), "{err}");
    let aborted = t.admin.command(&first.id, CommandKind::Abort, &why("wrong release picked")).await.unwrap();
    assert_eq!(aborted.phase, PhaseKind::RollingBack);
    let done = finished(&t.admin, &first.id, Duration::from_secs(10)).await;
    assert_eq!(done.outcome, Some(Outcome::Aborted));
    assert!(done.reason.as_deref().is_some_and(|r| r.contains("wrong release picked")), "{:?}", done.reason);
    let events = t.admin.events(0, 10_000, Some(&first.id)).await.unwrap();
    let reason_of = |kind: &str| {
        events
            .iter()
            .find(|e| e.kind == kind)
            .and_then(|e| e.body.get("reason"))
            .and_then(|r| r.as_str().map(str::to_string))
    };
    assert_eq!(reason_of("paused").as_deref(), Some("waiting for the CDN team"));
    assert_eq!(reason_of("resumed").as_deref(), Some("CDN team says go"));
    assert!(all_events(&t.admin).await.len() > before);
    // Aborting does not hold the service: the next rollout may start.
    let err = t.admin.command(&first.id, CommandKind::Abort, &RolloutCommand::default()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict), "{err}");
    t.admin.start_rollout(&start_req(&v2, Some("slow"))).await.unwrap();
    // Emergencies need a reason; unknown releases are 404.
    let mut emergency = start_req(&v2, None);
    emergency.emergency = true;
    let err = t.admin.start_rollout(&emergency).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest), "{err}");
    let err = t.admin.start_rollout(&start_req(&ReleaseId::from("ffffffff"), None)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_release_started_while_another_runs_waits_behind_it_and_the_latest_wins() {
    use sluice_api::StartAnswer;
    let t = harness::with_spec().await;
    let _agents = fleet(&t.admin).await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(t.admin.create_release("web", harness::web_bundle(n), "v").await.unwrap().release.id);
    }
    let first = t.admin.start_rollout(&start_req(&ids[0], Some("slow"))).await.unwrap();
    // Queued behind the first; a newer release supersedes it (as generated files need).
    let StartAnswer::Queued { queued } = t.admin.start_or_queue(&start_req(&ids[1], None)).await.unwrap() else {
        panic!("the second release should wait");
    };
    assert_eq!(
        (queued.release.clone(), queued.behind.clone(), queued.superseded.clone()),
        (ids[1].clone(), first.id.clone(), None)
    );
    let StartAnswer::Queued { queued } = t.admin.start_or_queue(&start_req(&ids[2], None)).await.unwrap() else {
        panic!("the third release should wait");
    };
    assert_eq!(queued.superseded, Some(ids[1].clone()));
    // Asked again, the waiting release stays as it is; the release rolling out now is not queued.
    let StartAnswer::Queued { queued: again } = t.admin.start_or_queue(&start_req(&ids[2], None)).await.unwrap() else {
        panic!("still waiting");
    };
    assert_eq!((again.release.clone(), again.superseded.clone()), (ids[2].clone(), None));
    let err = t.admin.start_or_queue(&start_req(&ids[0], None)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict), "{err}");
    assert!(err.to_string().contains("nothing to queue"), "{err}");
    let services = t.admin.services().await.unwrap();
    let web = services.iter().find(|s| s.service == "web").expect("web");
    assert_eq!(web.queued.as_ref().map(|q| q.release.clone()), Some(ids[2].clone()), "status shows what waits");
    // Without queueing it is still the refusal.
    let err = t.admin.start_rollout(&start_req(&ids[1], None)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict), "{err}");
    // The first ends: the latest queued release starts on its own, the superseded one never.
    t.admin.command(&first.id, CommandKind::Abort, &RolloutCommand::default()).await.unwrap();
    finished(&t.admin, &first.id, Duration::from_secs(10)).await;
    let next = eventually("the queued release to start", Duration::from_secs(10), || async {
        t.admin.rollouts(true).await.unwrap().into_iter().find(|v| v.release == ids[2])
    })
    .await;
    assert_ne!(next.id, first.id);
    let all = t.admin.rollouts(false).await.unwrap();
    assert!(!all.iter().any(|v| v.release == ids[1]), "the superseded release never started");
    let services = t.admin.services().await.unwrap();
    assert!(services.iter().find(|s| s.service == "web").is_some_and(|s| s.queued.is_none()));
    t.server.shutdown().await.unwrap();
}
