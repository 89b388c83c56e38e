//! The file is the store: reopening it finds everything, with the durability settings on.

use serde_json::json;
use sluice_bundle::digest as bundle_digest;
use sluice_core::engine::Command;
use sluice_core::time::Millis;
use sluice_store::{
    Audit, DesiredState, EventSeq, NewEnrollmentToken, NewSpec, RolloutFilter, RolloutRecord, SpecRecord, SqliteStore,
    Store, StoreError, StoredEvent, TargetRecord, Transition, split_actions,
};

use crate::fixtures::{self, SERVICE};

#[derive(Debug, PartialEq)]
struct Snapshot {
    spec: Option<SpecRecord>,
    releases: Vec<sluice_store::Release>,
    bundle: Vec<u8>,
    services: Vec<(String, sluice_core::engine::ServiceState)>,
    rollouts: Vec<RolloutRecord>,
    targets: Vec<TargetRecord>,
    desired: Vec<DesiredState>,
    credential: Option<sluice_core::release::TargetId>,
    admin: Option<String>,
    events: Vec<StoredEvent>,
}

async fn snapshot(store: &SqliteStore) -> Snapshot {
    let targets = store.list_targets().await.unwrap();
    let mut desired = Vec::new();
    for t in &targets {
        desired.push(store.desired_for(&t.id).await.unwrap());
    }
    Snapshot {
        spec: store.current_spec().await.unwrap(),
        releases: store.list_releases(SERVICE).await.unwrap(),
        bundle: store.get_bundle(&bundle_digest(b"bundle")).await.unwrap(),
        services: store.list_service_states().await.unwrap(),
        rollouts: store.list_rollouts(&RolloutFilter::all()).await.unwrap(),
        targets,
        desired,
        credential: store.agent_by_token_hash("cred").await.unwrap(),
        admin: store.admin_token_hash().await.unwrap(),
        events: store.events_since(EventSeq::ZERO, 100_000).await.unwrap(),
    }
}

#[tokio::test]
async fn everything_is_there_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let spec = NewSpec {
        text: "version: 1\n".into(),
        parsed: json!({ "version": 1 }),
        applied_by: "alice".into(),
        applied_at: Millis(1),
        dropped: vec![],
    };
    store.put_spec(&spec).await.unwrap();
    fixtures::fleet(&store, 2, 3).await;
    fixtures::releases(&store).await;
    store.put_bundle(&bundle_digest(b"bundle"), b"bundle", Millis(2)).await.unwrap();
    let (mut rollout, _, first) = fixtures::start(&store, "r1", 10).await;
    let acts = rollout.command(Millis(20), &Command::Pause { by: "bob".into(), reason: None }).unwrap();
    let (events, _) = split_actions(&acts);
    let t = Transition { rollout: &rollout, service_state: None, events: &events, actor: "bob", at: Millis(20) };
    store.commit_transition(first.version, &t).await.unwrap();
    store.put_agent_credential(&"p0".into(), "cred", &Audit::new("admin", Millis(3))).await.unwrap();
    let token = NewEnrollmentToken {
        token_hash: "tok".into(),
        created_by: "admin".into(),
        created_at: Millis(4),
        expires_at: None,
    };
    store.create_enrollment_token(&token).await.unwrap();
    store.init_admin_token_hash("admin-hash", &Audit::new("sluice", Millis(0))).await.unwrap();

    let before = snapshot(&store).await;
    assert_eq!(before.rollouts.len(), 1);
    assert_eq!(before.rollouts[0].version, 2);
    assert!(before.events.len() > 10);
    store.close().await;
    drop(store);

    let store = SqliteStore::open(dir.path()).await.unwrap();
    assert_eq!(snapshot(&store).await, before);
    // The token survived too: it can be spent exactly once, after the reopen.
    assert!(store.create_enrollment_token(&token).await.unwrap_err().is_conflict());
    // And the store goes on where it stopped.
    let seqs = store.append_events(&[sluice_store::NewEvent::new("note", "a", Millis(5), json!({}))]).await.unwrap();
    assert_eq!(seqs, [EventSeq(before.events.len() as u64 + 1)]);
}

#[tokio::test]
async fn opening_creates_the_directory_and_sets_durability() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let store = SqliteStore::open(&data).await.unwrap();
    assert!(data.join("sluice.db").is_file());
    assert_eq!(store.path(), data.join("sluice.db"));
    let s = store.settings().await.unwrap();
    assert_eq!(s.journal_mode, "wal");
    assert_eq!(s.synchronous, 2, "synchronous=FULL");
    assert!(s.foreign_keys);
    assert!(s.busy_timeout_ms >= 1000);
    store.integrity_check().await.unwrap();
    // Opening twice at once (a second process would) is fine: migrations are applied once.
    let again = SqliteStore::open(&data).await.unwrap();
    again.integrity_check().await.unwrap();
}

#[tokio::test]
async fn a_database_from_a_newer_sluice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path()).await.unwrap().close().await;
    let mut raw = fixtures::raw(dir.path()).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    let err = SqliteStore::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::Migrate(_)), "{err:?}");
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_created_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let err = SqliteStore::open(&file.join("data")).await.unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
}
