//! Long-poll answers name each service's spec by digest; agents fetch the spec itself from
//! `GET /v1/agent/services/{service}/spec`, whose bytes have that digest.

use std::time::Duration;

use sluice_api::{ApplySpec, Client, ErrorCode, StartRollout};
use sluice_core::spec::ServiceSpec;

use crate::fake_agent::FakeAgent;
use crate::harness::{self, SPEC, TestServer, eventually};

/// Starts a rollout of a new `web` release over every target (`slow`: one stage, baking an
/// hour), so each target's desired state names `web`.
async fn roll_out_web(t: &TestServer) {
    let release = t.admin.create_release("web", harness::web_bundle(1), "r").await.unwrap().release.id;
    t.admin
        .start_rollout(&StartRollout {
            service: "web".into(),
            release: release.0.clone(),
            pipeline: Some("slow".into()),
            emergency: false,
            reason: None,
            seed: None,
            queue: false,
            ..StartRollout::default()
        })
        .await
        .unwrap();
}

/// The spec digest of `web` in `agent`'s desired state, once it names `web`.
async fn web_digest(agent: &Client) -> String {
    eventually("the desired state names web", Duration::from_secs(10), || async {
        let view = agent.desired(None, Duration::ZERO).await.unwrap();
        view.services.iter().find(|s| s.service == "web").map(|s| {
            assert!(s.spec.is_none(), "an answer never carries the spec itself: {s:?}");
            s.spec_digest.clone().expect("a digest for a service the spec has")
        })
    })
    .await
}

#[tokio::test]
async fn an_answer_carries_the_digest_of_the_spec_the_agent_fetches() {
    let t = harness::with_spec().await;
    let a = FakeAgent::start(&t.admin, "a", &[("env", "staging")]).await;
    let agent = t.admin.with_token(Some(a.credential.clone()));
    roll_out_web(&t).await;
    let digest = web_digest(&agent).await;
    assert!(sluice_bundle::digest_hex(&digest).is_ok(), "{digest}");

    // The wire form has no spec field at all, only the digest.
    let view = agent.desired(None, Duration::ZERO).await.unwrap();
    let wire = serde_json::to_value(&view).unwrap();
    let web = &wire["services"][0];
    assert!(web.get("spec").is_none(), "{web}");
    assert_eq!(web["spec_digest"], digest.as_str());

    let bytes = agent.service_spec("web").await.unwrap();
    assert_eq!(sluice_bundle::sha256::digest(&bytes), digest, "the served bytes have the named digest");
    let spec: ServiceSpec = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(spec.pipeline, "default");
    assert_eq!(spec.max_bundle_bytes, 20_000);
    // Polls do not change it; a second fetch serves the same bytes.
    assert_eq!(web_digest(&agent).await, digest);
    assert_eq!(agent.service_spec("web").await.unwrap(), bytes);
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_changed_spec_changes_the_digest_and_the_served_spec() {
    let t = harness::with_spec().await;
    let a = FakeAgent::start(&t.admin, "a", &[("env", "staging")]).await;
    // A prod target too: the spec's prod stages must select someone to be applied again.
    let _b = FakeAgent::start(&t.admin, "b", &[("env", "prod")]).await;
    let agent = t.admin.with_token(Some(a.credential.clone()));
    roll_out_web(&t).await;
    let before = web_digest(&agent).await;

    // Re-applying the same text changes nothing.
    let same = t.admin.apply_spec(&ApplySpec { text: SPEC.to_string(), file: None, force: false }).await.unwrap();
    assert!(!same.changed);
    assert_eq!(web_digest(&agent).await, before);

    let text = SPEC.replace("max_bundle_bytes: 20000", "max_bundle_bytes: 30000");
    assert_ne!(text, SPEC);
    t.admin.apply_spec(&ApplySpec { text, file: None, force: false }).await.unwrap();
    let after = web_digest(&agent).await;
    assert_ne!(after, before, "a changed spec has another digest");
    let bytes = agent.service_spec("web").await.unwrap();
    assert_eq!(sluice_bundle::sha256::digest(&bytes), after);
    let spec: ServiceSpec = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(spec.max_bundle_bytes, 30_000);
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn only_an_agent_whose_desired_state_names_the_service_gets_its_spec() {
    let t = harness::with_spec().await;
    let a = FakeAgent::start(&t.admin, "a", &[("env", "staging")]).await;
    let agent = t.admin.with_token(Some(a.credential.clone()));
    // Nothing desired yet: not named.
    let err = agent.service_spec("web").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    roll_out_web(&t).await;
    web_digest(&agent).await;
    assert!(agent.service_spec("web").await.is_ok());
    // A service the spec lacks, and a path that is no service name.
    for service in ["nope", "../web"] {
        let err = agent.service_spec(service).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::NotFound), "{service}: {err}");
    }
    // Agent route: no token, or the admin's, is refused.
    let err = t.admin.with_token(None).service_spec("web").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{err}");
    let err = t.admin.service_spec("web").await.unwrap_err();
    assert!(matches!(err.code(), Some(ErrorCode::Unauthorized | ErrorCode::Forbidden)), "{err}");
    t.server.shutdown().await.unwrap();
}
