//! The agent protocol: enrollment, long-polls, identity from the credential only.

use std::time::Duration;

use tokio::time::Instant;

use sluice_api::{Enroll, ErrorCode, StartRollout};
use sluice_core::release::TargetId;

use crate::fake_agent::FakeAgent;
use crate::harness::{self, all_events, enrollment_token, eventually};

fn enroll_req(token: String, id: &str) -> Enroll {
    Enroll {
        enrollment_token: token,
        target: TargetId::from(id),
        labels: [("env".to_string(), "staging".to_string())].into(),
        facts: Default::default(),
    }
}

#[tokio::test]
async fn enrollment_tokens_are_one_time_and_re_enrolling_replaces_the_credential() {
    let t = harness::with_spec().await;
    let anon = t.admin.with_token(None);
    let token = enrollment_token(&t.admin).await;
    let first = anon.enroll(&enroll_req(token.clone(), "n1")).await.unwrap();
    let err = anon.enroll(&enroll_req(token, "n2")).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict), "{err}");
    let err = anon.enroll(&enroll_req("sluice_enroll_unknown".into(), "n2")).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{err}");

    let old = t.admin.with_token(Some(first.credential.clone()));
    assert_eq!(old.desired(None, Duration::ZERO).await.unwrap().target, TargetId::from("n1"));
    let second = anon.enroll(&enroll_req(enrollment_token(&t.admin).await, "n1")).await.unwrap();
    assert_ne!(first.credential, second.credential);
    let err = old.desired(None, Duration::ZERO).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "the replaced credential is dead: {err}");
    let new = t.admin.with_token(Some(second.credential));
    assert_eq!(new.desired(None, Duration::ZERO).await.unwrap().target, TargetId::from("n1"));
    let err = anon.enroll(&enroll_req(enrollment_token(&t.admin).await, "bad id/../x")).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest), "{err}");
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_long_poll_answers_soon_after_a_change_and_waits_otherwise() {
    let t = harness::with_spec().await;
    let anon = t.admin.with_token(None);
    let enrolled = anon.enroll(&enroll_req(enrollment_token(&t.admin).await, "n1")).await.unwrap();
    let agent = t.admin.with_token(Some(enrolled.credential));
    let v0 = agent.desired(None, Duration::ZERO).await.unwrap();
    assert_eq!(v0.version, 0);
    assert!(v0.services.is_empty());
    assert_eq!(v0.report_interval_ms, 1000);

    let started = Instant::now();
    let same = agent.desired(Some(v0.version), Duration::from_millis(300)).await.unwrap();
    assert_eq!(same.version, v0.version);
    assert!(started.elapsed() >= Duration::from_millis(250), "it waited");

    let err = agent.desired(Some(0), Duration::from_millis(60_001)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest), "{err}");

    let release = t.admin.create_release("web", harness::web_bundle(1), "r").await.unwrap().release.id;
    let poll = {
        let agent = agent.clone();
        tokio::spawn(async move {
            let r = agent.desired(Some(0), Duration::from_secs(30)).await.unwrap();
            (r, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // `slow` takes every target in one stage; `default` would need a prod target too.
    let start = StartRollout {
        service: "web".into(),
        release: release.0.clone(),
        pipeline: Some("slow".into()),
        emergency: false,
        reason: None,
        seed: None,
        queue: false,
        ..StartRollout::default()
    };
    t.admin.start_rollout(&start).await.unwrap();
    let decided = Instant::now();
    let (view, answered) = poll.await.unwrap();
    assert_eq!(view.version, 1);
    assert_eq!(view.services.len(), 1);
    let svc = &view.services[0];
    assert_eq!(svc.release.as_ref(), Some(&release));
    assert_eq!(svc.bundle.as_deref(), Some(release.0.as_str()));
    assert!(svc.spec_digest.is_some(), "the spec goes by digest");
    assert!(answered.saturating_duration_since(decided) < Duration::from_secs(1), "the long-poll woke at once");
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn reports_only_touch_the_reporting_target() {
    let t = harness::with_spec().await;
    let a = FakeAgent::start(&t.admin, "a", &[("env", "staging")]).await;
    let _b = FakeAgent::start(&t.admin, "b", &[("env", "prod")]).await;
    let release = t.admin.create_release("web", harness::web_bundle(1), "r").await.unwrap().release.id;
    t.admin
        .start_rollout(&StartRollout {
            service: "web".into(),
            release: release.0[7..15].to_string(),
            pipeline: Some("slow".into()),
            emergency: false,
            reason: None,
            seed: None,
            queue: false,
            ..StartRollout::default()
        })
        .await
        .unwrap();
    eventually("both targets report the release", Duration::from_secs(10), || async {
        let targets = t.admin.targets().await.unwrap();
        targets
            .iter()
            .all(|t| t.connected && t.services.iter().any(|s| s.running.as_ref() == Some(&release)))
            .then_some(())
    })
    .await;
    // A's credential reports for A, whatever the report says.
    let as_a = t.admin.with_token(Some(a.credential.clone()));
    drop(a);
    let report = sluice_api::Report {
        at: sluice_core::time::Millis(0),
        facts: [("os".to_string(), "plan9".to_string())].into(),
        services: vec![],
        agent: Default::default(),
    };
    let targets = eventually("a's facts are stored", Duration::from_secs(5), || async {
        let ack = as_a.report(&report).await.unwrap();
        assert_eq!(ack.desired_version, 1);
        let targets = t.admin.targets().await.unwrap();
        let a = targets.iter().find(|t| t.id.0 == "a").unwrap();
        (a.facts.get("os").map(String::as_str) == Some("plan9")).then_some(targets)
    })
    .await;
    let b = targets.iter().find(|t| t.id.0 == "b").unwrap();
    assert_eq!(b.facts.get("os"), None);
    // The store learns of it with the next heartbeat batch (within a second).
    let stored = eventually("a's change is in the event log", Duration::from_secs(5), || async {
        let stored = all_events(&t.admin).await;
        stored.iter().any(|e| e.kind == "target_changed" && e.body["target"] == "a").then_some(stored)
    })
    .await;
    assert!(!stored.iter().any(|e| e.kind == "target_changed" && e.body["target"] == "b"));
    t.server.shutdown().await.unwrap();
}
