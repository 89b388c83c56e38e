//! Operators' API tokens: stored by hash with role and scope, names never reused, revoking
//! keeps the row and makes the hash unknown at once; each change leaves its event.

use sluice_core::role::Role;
use sluice_core::time::Millis;
use sluice_store::event::kind;
use sluice_store::{Audit, EventSeq, NewApiToken, Store, StoreError};

use crate::fixtures;

fn token(name: &str, hash: &str, role: Role, services: Option<&[&str]>) -> NewApiToken {
    NewApiToken {
        name: name.into(),
        token_hash: hash.into(),
        role,
        services: services.map(|s| s.iter().map(|x| x.to_string()).collect()),
        created_by: "admin".into(),
        created_at: Millis(100),
    }
}

#[tokio::test]
async fn tokens_are_found_by_hash_until_revoked_and_names_are_never_reused() {
    let (dir, store) = fixtures::open().await;
    store.create_api_token(&token("alice", "h-alice", Role::Deployer, Some(&["edge-rules"]))).await.unwrap();
    store.create_api_token(&token("bob", "h-bob", Role::Approver, None)).await.unwrap();

    let alice = store.api_token_by_hash("h-alice").await.unwrap().unwrap();
    assert_eq!((alice.name.as_str(), alice.role), ("alice", Role::Deployer));
    assert_eq!(alice.services, Some(vec!["edge-rules".to_string()]));
    assert_eq!(store.api_token_by_hash("h-nobody").await.unwrap(), None);

    // A taken name or hash is a conflict, and changes nothing.
    let again = store.create_api_token(&token("alice", "h-other", Role::Admin, None)).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict { .. }), "{again}");
    let same_hash = store.create_api_token(&token("carol", "h-bob", Role::Viewer, None)).await.unwrap_err();
    assert!(matches!(same_hash, StoreError::Conflict { .. }), "{same_hash}");
    assert_eq!(store.list_api_tokens().await.unwrap().len(), 2);

    let revoked = store.revoke_api_token("alice", &Audit::new("admin", Millis(200)).because("left")).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(Millis(200)));
    assert_eq!(store.api_token_by_hash("h-alice").await.unwrap(), None, "a revoked token is unknown at once");
    let twice = store.revoke_api_token("alice", &Audit::new("admin", Millis(300))).await.unwrap_err();
    assert!(matches!(twice, StoreError::Conflict { .. }), "{twice}");
    let unknown = store.revoke_api_token("zed", &Audit::new("admin", Millis(300))).await.unwrap_err();
    assert!(matches!(unknown, StoreError::NotFound { .. }), "{unknown}");
    // Revoked, the name stays taken.
    let reused = store.create_api_token(&token("alice", "h-alice-2", Role::Viewer, None)).await.unwrap_err();
    assert!(matches!(reused, StoreError::Conflict { .. }), "{reused}");

    let events = store.events_since(EventSeq::ZERO, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, [kind::API_TOKEN_CREATED, kind::API_TOKEN_CREATED, kind::API_TOKEN_REVOKED]);
    assert_eq!(events[2].actor, "admin");
    assert_eq!(events[2].body["reason"], "left");

    // Kept across a reopen.
    drop(store);
    let store = sluice_store::SqliteStore::open(dir.path()).await.unwrap();
    let list = store.list_api_tokens().await.unwrap();
    assert_eq!(
        list.iter().map(|t| (t.name.as_str(), t.revoked_at.is_some())).collect::<Vec<_>>(),
        [("alice", true), ("bob", false)]
    );
}
