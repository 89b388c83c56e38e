//! Bearer-token auth: no token or an unknown one is 401, the wrong kind of token is 403, and a
//! refused request changes nothing.

use std::os::unix::fs::PermissionsExt;

use sluice_api::{ApplySpec, Client, ErrorCode, NewEnrollmentTokens, Report};
use sluice_core::time::Millis;

use crate::fake_agent::FakeAgent;
use crate::harness::{self, SPEC, all_events, start_in};

#[tokio::test]
async fn missing_or_unknown_tokens_are_401_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start_in(dir.path()).await;
    let before = all_events(&admin).await;
    let apply = ApplySpec { text: SPEC.to_string(), file: None, force: false };
    for client in [admin.with_token(None), admin.with_token(Some("sluice_admin_nope".into()))] {
        let err = client.apply_spec(&apply).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{err}");
        let err = client.enrollment_tokens(&NewEnrollmentTokens { count: 3, ttl_ms: None }).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{err}");
        let err = client
            .report(&Report { at: Millis(0), facts: Default::default(), services: vec![], agent: Default::default() })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{err}");
        let err = client.targets().await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{err}");
    }
    assert_eq!(admin.current_spec().await.unwrap_err().code(), Some(ErrorCode::NotFound), "no spec was stored");
    assert_eq!(all_events(&admin).await, before, "the event log did not move");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_wrong_kind_of_token_is_403_and_changes_nothing() {
    let t = harness::with_spec().await;
    let agent = FakeAgent::start(&t.admin, "a1", &[("env", "staging")]).await;
    let as_agent = t.admin.with_token(Some(agent.credential.clone()));
    let before = all_events(&t.admin).await;
    let changed = ApplySpec { text: SPEC.replace("bake: 300ms", "bake: 1s"), file: None, force: false };
    let err = as_agent.apply_spec(&changed).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    let err = as_agent.create_release("web", harness::web_bundle(1), "m").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    let err = as_agent.enrollment_tokens(&NewEnrollmentTokens { count: 1, ttl_ms: None }).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    let err = as_agent.events(0, 10, None).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    // The admin token may not act as an agent either.
    let err = t.admin.desired(None, std::time::Duration::ZERO).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    let err = t
        .admin
        .report(&Report { at: Millis(0), facts: Default::default(), services: vec![], agent: Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    assert_eq!(t.admin.current_spec().await.unwrap().version, 1, "the spec did not change");
    assert!(t.admin.list_releases("web").await.unwrap().is_empty());
    let after: Vec<_> = all_events(&t.admin).await.into_iter().filter(|e| e.kind != "target_changed").collect();
    assert_eq!(after, before, "the event log did not move");
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn healthz_needs_no_token_and_unknown_routes_answer_in_the_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start_in(dir.path()).await;
    assert!(Client::new(&server.base_url(), None).unwrap().healthy().await);
    let resp = reqwest::get(format!("{}/v1/nope", server.base_url())).await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: sluice_api::ApiError = resp.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::NotFound);
    drop(admin);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_admin_token_is_private_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start_in(dir.path()).await;
    let path = server.admin_token_path();
    let token = std::fs::read_to_string(&path).unwrap();
    assert!(token.starts_with("sluice_admin_"));
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    admin.targets().await.unwrap();
    server.shutdown().await.unwrap();

    let (server, admin2) = start_in(dir.path()).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token, "the token is not replaced");
    admin2.targets().await.unwrap();
    let set: Vec<_> = all_events(&admin2).await.into_iter().filter(|e| e.kind == "admin_token_set").collect();
    assert_eq!(set.len(), 1);
    server.shutdown().await.unwrap();
}
