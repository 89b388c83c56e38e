//! Round trips of every record outside rollouts, each with the audit event it must leave.

use serde_json::json;
use sluice_bundle::digest as bundle_digest;
use sluice_core::engine::ServiceState;
use sluice_core::engine::service::Hold;
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;
use sluice_store::event::kind;
use sluice_store::{
    Audit, DroppedService, Enrollment, EventSeq, NewEnrollmentToken, NewSpec, SqliteStore, Store, StoreError,
    StoredEvent,
};

use crate::fixtures::{self, SERVICE};

async fn events(store: &SqliteStore) -> Vec<StoredEvent> {
    store.events_since(EventSeq::ZERO, 10_000).await.unwrap()
}

async fn kinds(store: &SqliteStore) -> Vec<String> {
    events(store).await.into_iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn specs_keep_every_version() {
    let (_dir, store) = fixtures::open().await;
    assert_eq!(store.current_spec().await.unwrap(), None);
    let spec = |text: &str, at| NewSpec {
        text: text.into(),
        parsed: json!({ "version": 1, "services": { "edge": { "text": text } } }),
        applied_by: "alice".into(),
        applied_at: Millis(at),
        dropped: vec![],
    };
    assert_eq!(store.put_spec(&spec("version: 1\n", 10)).await.unwrap(), 1);
    assert_eq!(store.put_spec(&spec("version: 1\nservices: {}\n", 20)).await.unwrap(), 2);
    let current = store.current_spec().await.unwrap().unwrap();
    assert_eq!(current.version, 2);
    assert_eq!(current.text, "version: 1\nservices: {}\n");
    assert_eq!(current.parsed, spec("version: 1\nservices: {}\n", 20).parsed);
    assert_eq!((current.applied_by.as_str(), current.applied_at), ("alice", Millis(20)));
    assert_eq!(store.get_spec(1).await.unwrap().text, "version: 1\n");
    assert!(store.get_spec(3).await.unwrap_err().is_not_found());
    let evs = events(&store).await;
    assert_eq!(evs.len(), 2);
    assert!(evs.iter().all(|e| e.kind == kind::SPEC_APPLIED && e.actor == "alice"));
    assert_eq!(evs[1].body, json!({ "version": 2 }));

    // A forced drop is recorded with the version, in the same transaction.
    let forced = NewSpec {
        dropped: vec![DroppedService { service: "dns".into(), targets: vec!["t1".into(), "t2".into()] }],
        ..spec("version: 1\nservices: {}\n# forced\n", 30)
    };
    assert_eq!(store.put_spec(&forced).await.unwrap(), 3);
    let evs = events(&store).await;
    let last = &evs[evs.len() - 1];
    assert_eq!(
        (last.kind.as_str(), last.actor.as_str(), last.service.as_deref()),
        (kind::SERVICE_DROPPED, "alice", Some("dns"))
    );
    assert_eq!(last.body, json!({ "version": 3, "service": "dns", "targets": ["t1", "t2"], "forced": true }));
}

#[tokio::test]
async fn releases_are_immutable_and_chained() {
    let (_dir, store) = fixtures::open().await;
    let v1 = fixtures::release(SERVICE, "sha256:v1", None, 1);
    let v2 = fixtures::release(SERVICE, "sha256:v2", Some("sha256:v1"), 2);
    assert!(store.put_release(&v1).await.unwrap());
    assert!(store.put_release(&v2).await.unwrap());
    assert_eq!(store.get_release(&"sha256:v2".into()).await.unwrap(), v2);
    assert_eq!(store.list_releases(SERVICE).await.unwrap(), [v2.clone(), v1.clone()], "newest first");
    assert!(store.list_releases("dns").await.unwrap().is_empty());

    // Storing it again changes nothing, even with another message.
    let mut again = v2.clone();
    again.message = "other".into();
    assert!(!store.put_release(&again).await.unwrap());
    assert_eq!(store.get_release(&"sha256:v2".into()).await.unwrap().message, v2.message);

    let mut other_service = v2.clone();
    other_service.service = "dns".into();
    assert!(store.put_release(&other_service).await.unwrap_err().is_conflict());
    let orphan = fixtures::release(SERVICE, "sha256:v3", Some("sha256:v0"), 3);
    assert!(matches!(store.put_release(&orphan).await, Err(StoreError::NotFound { what: "parent release", .. })));
    let cross = fixtures::release("dns", "sha256:d1", Some("sha256:v1"), 3);
    assert!(matches!(store.put_release(&cross).await, Err(StoreError::Invalid { .. })));
    assert!(store.get_release(&"sha256:v9".into()).await.unwrap_err().is_not_found());

    let evs = events(&store).await;
    assert_eq!(evs.len(), 2, "one event per stored release");
    assert_eq!(evs[1].kind, kind::RELEASE_CREATED);
    assert_eq!(evs[1].service.as_deref(), Some(SERVICE));
    assert_eq!(evs[1].body["parent"], json!("sha256:v1"));
}

#[tokio::test]
async fn bundles_are_stored_by_their_digest() {
    let (_dir, store) = fixtures::open().await;
    let bytes = b"a bundle, gzipped tar in real life".to_vec();
    let digest = bundle_digest(&bytes);
    assert!(digest.starts_with("sha256:") && digest.len() == 7 + 64);
    assert!(store.put_bundle(&digest, &bytes, Millis(1)).await.unwrap());
    assert!(!store.put_bundle(&digest, &bytes, Millis(2)).await.unwrap(), "stored once");
    assert_eq!(store.get_bundle(&digest).await.unwrap(), bytes);
    let err = store.put_bundle(&digest, b"other bytes", Millis(3)).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { what: "bundle", .. }), "{err:?}");
    assert!(store.get_bundle(&bundle_digest(b"missing")).await.unwrap_err().is_not_found());
    let empty = bundle_digest(b"");
    assert!(store.put_bundle(&empty, b"", Millis(4)).await.unwrap());
    assert_eq!(store.get_bundle(&empty).await.unwrap(), b"");
}

#[tokio::test]
async fn service_state_round_trips_and_every_change_is_logged() {
    let (_dir, store) = fixtures::open().await;
    assert_eq!(store.get_service_state(SERVICE).await.unwrap(), ServiceState::default());
    let held = ServiceState {
        known_good: Some(ReleaseId::from("sha256:v1")),
        active: None,
        hold: Some(Hold {
            release: "sha256:v2".into(),
            rollout: "r1".into(),
            why: "gate errors".into(),
            at: Millis(5),
        }),
        previous: vec![ReleaseId::from("sha256:v0")],
        queued: None,
    };
    let audit = Audit::new("sluice", Millis(5));
    store.put_service_state(SERVICE, &held, &audit).await.unwrap();
    assert_eq!(store.get_service_state(SERVICE).await.unwrap(), held);
    store.put_service_state(SERVICE, &held, &audit).await.unwrap();
    assert_eq!(events(&store).await.len(), 1, "writing the same state again is not a change");

    let mut cleared = held.clone();
    cleared.clear_hold();
    store
        .put_service_state(SERVICE, &cleared, &Audit::new("bob", Millis(9)).because("fixed the canary"))
        .await
        .unwrap();
    assert_eq!(store.get_service_state(SERVICE).await.unwrap(), cleared);
    assert_eq!(store.list_service_states().await.unwrap(), [(SERVICE.to_string(), cleared.clone())]);

    let evs = events(&store).await;
    assert_eq!(evs.len(), 2);
    let clear = &evs[1];
    assert_eq!((clear.kind.as_str(), clear.actor.as_str(), clear.at), (kind::SERVICE_STATE_CHANGED, "bob", Millis(9)));
    assert_eq!(clear.body["reason"], json!("fixed the canary"));
    assert_eq!(clear.body["before"]["hold"]["why"], json!("gate errors"));
    assert_eq!(clear.body["after"]["hold"], json!(null));
}

#[tokio::test]
async fn targets_are_upserted_and_label_changes_logged() {
    let (_dir, store) = fixtures::open().await;
    let mut t = fixtures::target("p1", "prod", 100);
    let rec = store.upsert_target(&t).await.unwrap();
    assert_eq!((rec.first_seen, rec.last_seen, rec.desired_version), (Millis(100), Millis(100), 0));
    assert_eq!(rec.labels, t.labels);
    assert_eq!(rec.facts, t.facts);

    // A heartbeat: nothing changed but the time; no event.
    t.seen_at = Millis(200);
    assert_eq!(store.upsert_target(&t).await.unwrap().last_seen, Millis(200));
    // A late report never moves last_seen back.
    t.seen_at = Millis(150);
    assert_eq!(store.upsert_target(&t).await.unwrap().last_seen, Millis(200));
    assert_eq!(kinds(&store).await, [kind::TARGET_REGISTERED]);

    // The agent now reports another OS.
    t.facts = fixtures::labels(&[("os", "ubuntu-24.04")]);
    t.seen_at = Millis(300);
    let rec = store.upsert_target(&t).await.unwrap();
    assert_eq!((rec.first_seen, rec.last_seen), (Millis(100), Millis(300)));
    assert_eq!(kinds(&store).await, [kind::TARGET_REGISTERED, kind::TARGET_CHANGED]);
    let changed = events(&store).await.pop().unwrap();
    assert_eq!(changed.actor, "agent:p1");
    assert_eq!(changed.body["before"]["facts"]["os"], json!("debian-12"));
    assert_eq!(changed.body["after"]["facts"]["os"], json!("ubuntu-24.04"));

    store.upsert_target(&fixtures::target("a0", "dev", 1)).await.unwrap();
    let all = store.list_targets().await.unwrap();
    assert_eq!(all.iter().map(|t| t.id.0.as_str()).collect::<Vec<_>>(), ["a0", "p1"]);
    assert_eq!(store.get_target(&"p1".into()).await.unwrap(), rec);
    assert!(store.get_target(&"zz".into()).await.unwrap_err().is_not_found());

    // The planner's view merges facts and labels; labels win.
    let mut over = fixtures::target("o1", "prod", 1);
    over.labels.insert("os".into(), "pinned".into());
    let info = store.upsert_target(&over).await.unwrap().info();
    assert_eq!(info.labels.get("os").map(String::as_str), Some("pinned"));
    assert_eq!(info.labels.get("env").map(String::as_str), Some("prod"));
}

#[tokio::test]
async fn agent_credentials_map_token_hashes_to_targets() {
    let (_dir, store) = fixtures::open().await;
    store.upsert_target(&fixtures::target("p1", "prod", 1)).await.unwrap();
    store.upsert_target(&fixtures::target("p2", "prod", 1)).await.unwrap();
    let audit = Audit::new("admin", Millis(2));
    let p1 = TargetId::from("p1");
    store.put_agent_credential(&p1, "hash-a", &audit).await.unwrap();
    assert_eq!(store.agent_by_token_hash("hash-a").await.unwrap(), Some(p1.clone()));
    assert_eq!(store.agent_by_token_hash("hash-x").await.unwrap(), None);

    // Re-issuing replaces the old credential.
    store.put_agent_credential(&p1, "hash-b", &audit.clone().because("rotated")).await.unwrap();
    assert_eq!(store.agent_by_token_hash("hash-a").await.unwrap(), None);
    assert_eq!(store.agent_by_token_hash("hash-b").await.unwrap(), Some(p1.clone()));

    assert!(store.put_agent_credential(&"p2".into(), "hash-b", &audit).await.unwrap_err().is_conflict());
    assert!(store.put_agent_credential(&"p9".into(), "hash-c", &audit).await.unwrap_err().is_not_found());
    let evs = events(&store).await;
    let set: Vec<&StoredEvent> = evs.iter().filter(|e| e.kind == kind::AGENT_CREDENTIAL_SET).collect();
    assert_eq!(set.len(), 2);
    assert_eq!(set[1].body["reason"], json!("rotated"));
    assert!(!evs.iter().any(|e| e.body.to_string().contains("hash-")), "no hash in the audit log");
}

#[tokio::test]
async fn enrollment_tokens_are_spent_once() {
    let (_dir, store) = fixtures::open().await;
    let token = |hash: &str, expires_at| NewEnrollmentToken {
        token_hash: hash.into(),
        created_by: "admin".into(),
        created_at: Millis(1),
        expires_at,
    };
    store.create_enrollment_token(&token("enroll-1", None)).await.unwrap();
    store.create_enrollment_token(&token("enroll-2", Some(Millis(50)))).await.unwrap();
    assert!(store.create_enrollment_token(&token("enroll-1", None)).await.unwrap_err().is_conflict());

    let enrollment = |hash: &str, target: &str, at| Enrollment {
        enrollment_token_hash: hash.into(),
        target: fixtures::target(target, "prod", at),
        credential_hash: format!("cred-{target}"),
    };
    let rec = store.enroll(&enrollment("enroll-1", "p1", 10)).await.unwrap();
    assert_eq!(rec.id, TargetId::from("p1"));
    assert_eq!(store.agent_by_token_hash("cred-p1").await.unwrap(), Some("p1".into()));

    // Spent: a second agent cannot use it, and nothing of its attempt stays.
    let err = store.enroll(&enrollment("enroll-1", "p2", 11)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict { found, .. } if found.contains("p1")), "{err:?}");
    assert!(store.get_target(&"p2".into()).await.unwrap_err().is_not_found());
    assert_eq!(store.agent_by_token_hash("cred-p2").await.unwrap(), None);
    // Expired, unknown.
    assert!(store.enroll(&enrollment("enroll-2", "p3", 50)).await.unwrap_err().is_conflict());
    assert!(store.enroll(&enrollment("enroll-9", "p3", 10)).await.unwrap_err().is_not_found());
    // Before it expires it works.
    store.enroll(&enrollment("enroll-2", "p3", 49)).await.unwrap();

    let ks = kinds(&store).await;
    assert_eq!(
        ks,
        [
            kind::ENROLLMENT_TOKEN_CREATED,
            kind::ENROLLMENT_TOKEN_CREATED,
            kind::TARGET_REGISTERED,
            kind::AGENT_CREDENTIAL_SET,
            kind::TARGET_ENROLLED,
            kind::TARGET_REGISTERED,
            kind::AGENT_CREDENTIAL_SET,
            kind::TARGET_ENROLLED,
        ]
    );
}

#[tokio::test]
async fn enrollment_tokens_in_a_batch_are_all_created_or_none() {
    let (_dir, store) = fixtures::open().await;
    let token = |hash: &str| NewEnrollmentToken {
        token_hash: hash.into(),
        created_by: "admin".into(),
        created_at: Millis(1),
        expires_at: None,
    };
    store.create_enrollment_tokens(&[token("b-1"), token("b-2")]).await.unwrap();
    assert_eq!(kinds(&store).await, [kind::ENROLLMENT_TOKEN_CREATED, kind::ENROLLMENT_TOKEN_CREATED]);
    // A repeated hash refuses the whole batch.
    let err = store.create_enrollment_tokens(&[token("b-3"), token("b-1")]).await.unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(kinds(&store).await.len(), 2, "nothing of the refused batch stays");
    let enrollment = Enrollment {
        enrollment_token_hash: "b-3".into(),
        target: fixtures::target("p1", "prod", 5),
        credential_hash: "cred-p1".into(),
    };
    assert!(store.enroll(&enrollment).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn the_admin_token_hash_is_set_once_then_only_replaced() {
    let (_dir, store) = fixtures::open().await;
    assert_eq!(store.admin_token_hash().await.unwrap(), None);
    let audit = Audit::new("sluice", Millis(1));
    assert!(store.init_admin_token_hash("first", &audit).await.unwrap());
    assert!(!store.init_admin_token_hash("second", &audit).await.unwrap(), "a second start keeps the first");
    assert_eq!(store.admin_token_hash().await.unwrap().as_deref(), Some("first"));
    store.replace_admin_token_hash("rotated", &Audit::new("alice", Millis(2)).because("leaked")).await.unwrap();
    assert_eq!(store.admin_token_hash().await.unwrap().as_deref(), Some("rotated"));
    let evs = events(&store).await;
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].body, json!({ "replaced": false, "reason": null }));
    assert_eq!(evs[1].body, json!({ "replaced": true, "reason": "leaked" }));
}

#[tokio::test]
async fn the_store_works_as_a_trait_object() {
    // The server picks SQLite or PostgreSQL at start-up and holds `Arc<dyn Store>`.
    let (_dir, store) = fixtures::open().await;
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
    let task = {
        let store = std::sync::Arc::clone(&store);
        tokio::spawn(async move { store.upsert_target(&fixtures::target("p1", "prod", 1)).await })
    };
    task.await.unwrap().unwrap();
    assert_eq!(store.list_targets().await.unwrap().len(), 1);
}
