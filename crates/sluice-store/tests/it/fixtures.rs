//! Shared test fixtures: a store in a temporary directory, releases, a fleet of targets, a
//! pipeline, and a fake fleet that runs whatever the store says is desired.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;
use sluice_core::engine::{Action, Observations, Rollout, Sample, ServiceState, StartOptions};
use sluice_core::labels::Labels;
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::spec::PipelineSpec;
use sluice_core::spec::parse::from_yaml;
use sluice_core::time::Millis;
use sluice_store::{Committed, Release, SqliteStore, Store, TargetUpsert, Transition, split_actions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};
use tempfile::TempDir;

pub const SERVICE: &str = "edge";

pub async fn open() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    (dir, store)
}

/// A connection to the store's file that bypasses the store, to try what the store forbids.
pub async fn raw(dir: &Path) -> SqliteConnection {
    SqliteConnectOptions::new().filename(dir.join(sluice_store::sqlite::DB_FILE)).connect().await.unwrap()
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn release(service: &str, id: &str, parent: Option<&str>, at: u64) -> Release {
    Release {
        id: ReleaseId(id.to_string()),
        service: service.to_string(),
        parent: parent.map(ReleaseId::from),
        created_at: Millis(at),
        message: format!("release {id}"),
        created_by: "alice".into(),
        manifest: json!({ "files": [{ "path": "edge.conf", "sha256": "00" }], "id": id }),
        size: 1234,
    }
}

pub fn target(id: &str, env: &str, at: u64) -> TargetUpsert {
    TargetUpsert {
        id: TargetId(id.to_string()),
        labels: labels(&[("env", env)]),
        facts: labels(&[("os", "debian-12")]),
        seen_at: Millis(at),
    }
}

/// `staging` targets s0.., `prod` targets p0..
pub async fn fleet(store: &SqliteStore, staging: usize, prod: usize) -> Vec<TargetId> {
    let mut ids = Vec::new();
    for (env, n, prefix) in [("staging", staging, "s"), ("prod", prod, "p")] {
        for i in 0..n {
            let id = format!("{prefix}{i}");
            store.upsert_target(&target(&id, env, 1)).await.unwrap();
            ids.push(TargetId(id));
        }
    }
    ids
}

pub fn pipeline() -> PipelineSpec {
    from_yaml(
        "pipeline.yaml",
        r#"
stages:
  - name: staging
    selector: {env: staging}
    waves: [1, "100%"]
    bake: 1m
    allow_empty: true
  - name: prod
    selector: {env: prod}
    waves: [1, "50%", "100%"]
    bake: 1m
    allow_empty: true
"#,
    )
    .unwrap()
}

/// Release `v1` (known-good) and `v2` (candidate) of [`SERVICE`].
pub async fn releases(store: &SqliteStore) {
    store.put_release(&release(SERVICE, "sha256:v1", None, 1)).await.unwrap();
    store.put_release(&release(SERVICE, "sha256:v2", Some("sha256:v1"), 2)).await.unwrap();
}

/// Start rollout `id` of v2 over the stored fleet and write it; returns the rollout, the
/// service state and the commit.
pub async fn start(store: &SqliteStore, id: &str, at: u64) -> (Rollout, ServiceState, Committed) {
    let targets: Vec<_> = store.list_targets().await.unwrap().iter().map(|t| t.info()).collect();
    let (rollout, actions) = Rollout::start(
        id,
        SERVICE,
        "sha256:v2".into(),
        Some("sha256:v1".into()),
        &pipeline(),
        &targets,
        &StartOptions::default(),
        Millis(at),
    )
    .unwrap();
    let mut state = store.get_service_state(SERVICE).await.unwrap();
    state.apply_all(&actions, Millis(at));
    let committed = write_first(store, &rollout, &state, &actions, at).await;
    (rollout, state, committed)
}

pub async fn write_first(
    store: &SqliteStore,
    rollout: &Rollout,
    state: &ServiceState,
    actions: &[Action],
    at: u64,
) -> Committed {
    let (events, _) = split_actions(actions);
    let t = Transition { rollout, service_state: Some(state), events: &events, actor: "alice", at: Millis(at) };
    store.create_rollout(&t).await.unwrap()
}

/// A fleet in which every target runs what the store says it should, at once.
#[derive(Debug, Default)]
pub struct Obedient(pub BTreeMap<TargetId, ReleaseId>);

impl Obedient {
    pub async fn read(store: &SqliteStore) -> Obedient {
        let mut running = BTreeMap::new();
        for t in store.list_targets().await.unwrap() {
            for d in store.desired_for(&t.id).await.unwrap().services {
                if let (true, Some(r)) = (d.service == SERVICE, d.release) {
                    running.insert(t.id.clone(), r);
                }
            }
        }
        Obedient(running)
    }
}

impl Observations for Obedient {
    fn running(&self, target: &TargetId) -> Option<&ReleaseId> {
        self.0.get(target)
    }
    /// An obedient fleet is never silent: every target reported "just now", whatever the time.
    fn last_report(&self, target: &TargetId) -> Option<Millis> {
        self.0.contains_key(target).then_some(Millis(u64::MAX))
    }
    fn apply_failure(&self, _: &TargetId, _: &ReleaseId) -> Option<String> {
        None
    }
    fn samples(&self, _: &TargetId, _: Millis, _: Millis, _: &mut dyn FnMut(&Sample)) {}
}
