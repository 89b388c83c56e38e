//! Named operator tokens: created by an admin (the secret shown once), each with a role and
//! maybe a service scope; every route checks it (403 naming what is missing, nothing
//! changed); every event names the token's holder; a revoked token is 401 on the next request.

use sluice_api::{ApiTokenCreated, Client, CommandKind, ErrorCode, NewApiToken, Role, RolloutCommand};

use crate::harness::{self, all_events};
use crate::rollouts::{fleet, start_req};

pub async fn token(admin: &Client, name: &str, role: Role, services: Option<&[&str]>) -> (ApiTokenCreated, Client) {
    let made = admin
        .create_token(&NewApiToken {
            name: name.into(),
            role,
            services: services.map(|s| s.iter().map(|x| x.to_string()).collect()),
        })
        .await
        .unwrap();
    let client = admin.with_token(Some(made.secret.clone()));
    (made, client)
}

fn forbidden(err: &sluice_api::ClientError, needs: &str) {
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    assert!(err.to_string().contains(needs), "{err} should say it needs {needs}");
}

#[tokio::test]
async fn roles_and_scopes_decide_who_may_do_what_and_events_name_who_did() {
    let t = harness::with_spec().await;
    let _agents = fleet(&t.admin).await;
    let (vera_made, vera) = token(&t.admin, "vera", Role::Viewer, None).await;
    let (_, dora) = token(&t.admin, "dora", Role::Deployer, Some(&["web"])).await;
    let (_, dex) = token(&t.admin, "dex", Role::Deployer, Some(&["api"])).await;
    let (_, abe) = token(&t.admin, "abe", Role::Approver, None).await;
    assert!(vera_made.secret.starts_with("sluice_api_") && vera_made.secret.len() > 40);
    assert_eq!(vera_made.token.created_by, "admin");
    // Listed without secrets.
    let listed = t.admin.tokens().await.unwrap();
    assert_eq!(listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["abe", "dex", "dora", "vera"]);
    assert!(!serde_json::to_string(&listed).unwrap().contains("sluice_api_"), "no secret in the list");

    // A viewer reads, and changes nothing.
    let before = all_events(&t.admin).await;
    assert!(vera.services().await.unwrap().iter().any(|s| s.service == "web"));
    forbidden(&vera.create_release("web", harness::web_bundle(1), "v1").await.unwrap_err(), "deployer");
    forbidden(&vera.tokens().await.unwrap_err(), "admin role");
    // A deployer of another service may not touch web.
    forbidden(&dex.create_release("web", harness::web_bundle(1), "v1").await.unwrap_err(), "service web");
    // An approver does not deploy.
    forbidden(&abe.create_release("web", harness::web_bundle(1), "v1").await.unwrap_err(), "deployer");
    assert_eq!(all_events(&t.admin).await, before, "refused requests changed nothing");

    let v1 = dora.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    forbidden(&vera.start_rollout(&start_req(&v1, Some("slow"))).await.unwrap_err(), "deployer");
    let started = dora.start_rollout(&start_req(&v1, Some("slow"))).await.unwrap();
    let why = |r: &str| RolloutCommand { reason: Some(r.to_string()) };
    forbidden(&vera.command(&started.id, CommandKind::Pause, &why("x")).await.unwrap_err(), "deployer, approver");
    forbidden(&vera.command(&started.id, CommandKind::Approve, &why("x")).await.unwrap_err(), "approver");
    forbidden(&dora.command(&started.id, CommandKind::Approve, &why("mine")).await.unwrap_err(), "approver");
    forbidden(&dex.command(&started.id, CommandKind::Abort, &why("x")).await.unwrap_err(), "service web");
    abe.command(&started.id, CommandKind::Pause, &why("checking the graphs")).await.unwrap();
    dora.command(&started.id, CommandKind::Abort, &why("wrong release")).await.unwrap();

    let events = all_events(&t.admin).await;
    let actor_of = |kind: &str| events.iter().find(|e| e.kind == kind).map(|e| e.actor.clone());
    assert_eq!(actor_of("release_created").as_deref(), Some("dora"));
    assert_eq!(actor_of("started").as_deref(), Some("dora"));
    assert_eq!(actor_of("paused").as_deref(), Some("abe"));
    assert_eq!(actor_of("api_token_created").as_deref(), Some("admin"));

    // Revoked: refused at once.
    t.admin.revoke_token("dora", Some("left the team")).await.unwrap();
    let err = dora.services().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{err}");
    let revoked = events_of(&t.admin, "api_token_revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].body["reason"], "left the team");
    t.server.shutdown().await.unwrap();
}

async fn events_of(admin: &Client, kind: &str) -> Vec<sluice_api::EventView> {
    all_events(admin).await.into_iter().filter(|e| e.kind == kind).collect()
}

#[tokio::test]
async fn bad_token_requests_are_refused_with_what_is_wrong_and_change_nothing() {
    let t = harness::with_spec().await;
    let (_, dora) = token(&t.admin, "dora", Role::Deployer, None).await;
    let before = all_events(&t.admin).await;
    let cases: Vec<(NewApiToken, ErrorCode, &str)> = vec![
        (NewApiToken { name: "".into(), role: Role::Viewer, services: None }, ErrorCode::BadRequest, "1 to 64"),
        (NewApiToken { name: "a b".into(), role: Role::Viewer, services: None }, ErrorCode::BadRequest, "' '"),
        (NewApiToken { name: "x".repeat(65), role: Role::Viewer, services: None }, ErrorCode::BadRequest, "1 to 64"),
        (NewApiToken { name: "admin".into(), role: Role::Admin, services: None }, ErrorCode::BadRequest, "reserved"),
        (NewApiToken { name: "sluice".into(), role: Role::Viewer, services: None }, ErrorCode::BadRequest, "reserved"),
        (
            NewApiToken { name: "v".into(), role: Role::Viewer, services: Some(vec!["web".into()]) },
            ErrorCode::BadRequest,
            "only deployer and approver",
        ),
        (
            NewApiToken { name: "d".into(), role: Role::Deployer, services: Some(vec![]) },
            ErrorCode::BadRequest,
            "services",
        ),
        (
            NewApiToken { name: "d".into(), role: Role::Deployer, services: Some(vec![" web".into()]) },
            ErrorCode::BadRequest,
            "not a service name",
        ),
        (NewApiToken { name: "dora".into(), role: Role::Viewer, services: None }, ErrorCode::Conflict, "never reused"),
    ];
    for (req, code, says) in cases {
        let err = t.admin.create_token(&req).await.unwrap_err();
        assert_eq!(err.code(), Some(code), "{:?}: {err}", req.name);
        assert!(err.to_string().contains(says), "{:?}: {err} should say {says}", req.name);
    }
    // Only an admin makes or revokes tokens.
    let err = dora.create_token(&NewApiToken { name: "eve".into(), role: Role::Admin, services: None }).await;
    forbidden(&err.unwrap_err(), "admin role");
    forbidden(&dora.revoke_token("dora", None).await.unwrap_err(), "admin role");
    // Unknown names, a second revoke, the first admin token.
    assert_eq!(t.admin.revoke_token("nobody", None).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    assert_eq!(t.admin.revoke_token("admin", None).await.unwrap_err().code(), Some(ErrorCode::BadRequest));
    assert_eq!(all_events(&t.admin).await, before, "nothing changed");
    t.admin.revoke_token("dora", None).await.unwrap();
    assert_eq!(t.admin.revoke_token("dora", None).await.unwrap_err().code(), Some(ErrorCode::Conflict));
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_author_of_a_rollout_may_not_approve_it_whatever_their_role() {
    let t = harness::with_spec().await;
    let _agents = fleet(&t.admin).await;
    let v1 = t.admin.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let started = t.admin.start_rollout(&start_req(&v1, Some("slow"))).await.unwrap();
    assert_eq!(started.author.as_deref(), Some("admin"));
    let before = all_events(&t.admin).await;
    let err = t.admin.command(&started.id, CommandKind::Approve, &RolloutCommand::default()).await.unwrap_err();
    forbidden(&err, "may not approve it");
    assert_eq!(all_events(&t.admin).await, before, "nothing recorded");
    // Someone else may (here the rollout is not waiting for approval: a conflict, not a 403).
    let (_, abe) = token(&t.admin, "abe", Role::Approver, None).await;
    let err = abe.command(&started.id, CommandKind::Approve, &RolloutCommand::default()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict), "{err}");
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_queued_release_starts_with_whoever_queued_it_as_author() {
    use sluice_api::StartAnswer;
    let t = harness::with_spec().await;
    let _agents = fleet(&t.admin).await;
    let (_, dora) = token(&t.admin, "dora", Role::Deployer, None).await;
    let v1 = t.admin.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let v2 = dora.create_release("web", harness::web_bundle(2), "v2").await.unwrap().release.id;
    let first = t.admin.start_rollout(&start_req(&v1, Some("slow"))).await.unwrap();
    let StartAnswer::Queued { .. } = dora.start_or_queue(&start_req(&v2, Some("slow"))).await.unwrap() else {
        panic!("v2 should wait behind the first rollout");
    };
    t.admin.command(&first.id, CommandKind::Abort, &RolloutCommand { reason: Some("make way".into()) }).await.unwrap();
    let second = harness::eventually("the queued release to start", std::time::Duration::from_secs(20), || async {
        t.admin.rollouts(true).await.unwrap().into_iter().find(|r| r.release == v2)
    })
    .await;
    assert_eq!(second.author.as_deref(), Some("dora"), "the author is who queued it, not the driver");
    t.server.shutdown().await.unwrap();
}
