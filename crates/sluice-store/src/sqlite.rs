//! The embedded store: one SQLite file, `<data_dir>/sluice.db`.
//!
//! Set up for durability over speed: WAL journal, `synchronous=FULL` (a committed transaction
//! survives a crash or power loss), foreign keys on, a busy timeout. Writes are serialized in
//! the process by a gate and start with `BEGIN IMMEDIATE`, so a write transaction never fails
//! half-way on a lock upgrade and event sequence numbers follow commit order; reads run
//! concurrently on a small pool, each on a consistent snapshot.

mod api_tokens;
mod codec;
mod desired;
mod events;
mod migrate;
mod releases;
mod rollouts;
mod services;
mod settings;
mod specs;
mod targets;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sluice_core::engine::ServiceState;
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{Result, StoreError};
use crate::event::{EventSeq, NewEvent, StoredEvent};
use crate::model::{
    ApiTokenRecord, Audit, DesiredState, Enrollment, NewApiToken, NewEnrollmentToken, NewSpec, Release, RolloutFilter,
    RolloutRecord, SpecRecord, SpecVersion, TargetRecord, TargetUpsert,
};
use crate::store::Store;
use crate::transition::{Committed, Transition};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "sluice.db";

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections for concurrent reads (writes take one of them, one at a time).
const MAX_CONNECTIONS: u32 = 4;

#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    /// One writer at a time in this process.
    write_gate: Mutex<()>,
}

/// The connection settings in force, as SQLite reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    pub journal_mode: String,
    /// 0 off, 1 normal, 2 full, 3 extra.
    pub synchronous: i64,
    pub foreign_keys: bool,
    pub busy_timeout_ms: i64,
}

/// A write transaction holding the process's write gate.
struct Write<'a> {
    _gate: MutexGuard<'a, ()>,
    tx: Transaction<'static, Sqlite>,
}

impl Write<'_> {
    async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl SqliteStore {
    /// Open (creating if missing) `<data_dir>/sluice.db` and apply the embedded migrations.
    pub async fn open(data_dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io { path: data_dir.to_path_buf(), source })?;
        let path = data_dir.join(DB_FILE);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS).connect_with(options).await?;
        migrate::run(&pool).await?;
        Ok(SqliteStore { pool, path, write_gate: Mutex::new(()) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Close every connection (checkpointing the WAL). Further calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The settings a connection of this store runs with.
    pub async fn settings(&self) -> Result<SqliteSettings> {
        let mut conn = self.pool.acquire().await?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await?;
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *conn).await?;
        let busy_timeout_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await?;
        Ok(SqliteSettings { journal_mode, synchronous, foreign_keys: foreign_keys == 1, busy_timeout_ms })
    }

    /// SQLite's own consistency checks (`integrity_check`, `foreign_key_check`).
    pub async fn integrity_check(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut *conn).await?;
        if problems != ["ok"] {
            return Err(StoreError::Corrupt {
                what: "database",
                id: self.path.display().to_string(),
                why: problems.join("; "),
            });
        }
        let dangling = sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut *conn).await?;
        if !dangling.is_empty() {
            return Err(StoreError::Corrupt {
                what: "database",
                id: self.path.display().to_string(),
                why: format!("{} rows break a foreign key", dangling.len()),
            });
        }
        Ok(())
    }

    async fn write(&self) -> Result<Write<'_>> {
        let gate = self.write_gate.lock().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Write { _gate: gate, tx })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn admin_token_hash(&self) -> Result<Option<String>> {
        settings::admin_token_hash(&mut *self.pool.acquire().await?).await
    }

    async fn init_admin_token_hash(&self, hash: &str, audit: &Audit) -> Result<bool> {
        let mut w = self.write().await?;
        let set = settings::set_admin_token_hash(&mut w.tx, hash, false, audit).await?;
        w.commit().await?;
        Ok(set)
    }

    async fn replace_admin_token_hash(&self, hash: &str, audit: &Audit) -> Result<()> {
        let mut w = self.write().await?;
        settings::set_admin_token_hash(&mut w.tx, hash, true, audit).await?;
        w.commit().await
    }

    async fn put_spec(&self, spec: &NewSpec) -> Result<SpecVersion> {
        let mut w = self.write().await?;
        let version = specs::put(&mut w.tx, spec).await?;
        w.commit().await?;
        Ok(version)
    }

    async fn current_spec(&self) -> Result<Option<SpecRecord>> {
        specs::current(&mut *self.pool.acquire().await?).await
    }

    async fn get_spec(&self, version: SpecVersion) -> Result<SpecRecord> {
        specs::get(&mut *self.pool.acquire().await?, version).await
    }

    async fn put_release(&self, release: &Release) -> Result<bool> {
        let mut w = self.write().await?;
        let created = releases::put(&mut w.tx, release).await?;
        w.commit().await?;
        Ok(created)
    }

    async fn get_release(&self, id: &ReleaseId) -> Result<Release> {
        releases::get(&mut *self.pool.acquire().await?, id).await
    }

    async fn list_releases(&self, service: &str) -> Result<Vec<Release>> {
        releases::list(&mut *self.pool.acquire().await?, service).await
    }

    async fn put_bundle(&self, digest: &str, bytes: &[u8], at: Millis) -> Result<bool> {
        let mut w = self.write().await?;
        let stored = releases::put_bundle(&mut w.tx, digest, bytes, at).await?;
        w.commit().await?;
        Ok(stored)
    }

    async fn get_bundle(&self, digest: &str) -> Result<Vec<u8>> {
        releases::get_bundle(&mut *self.pool.acquire().await?, digest).await
    }

    async fn get_service_state(&self, service: &str) -> Result<ServiceState> {
        Ok(services::get(&mut *self.pool.acquire().await?, service).await?.unwrap_or_default())
    }

    async fn list_service_states(&self) -> Result<Vec<(String, ServiceState)>> {
        services::list(&mut *self.pool.acquire().await?).await
    }

    async fn put_service_state(&self, service: &str, state: &ServiceState, audit: &Audit) -> Result<()> {
        let mut w = self.write().await?;
        services::put(&mut w.tx, service, state, audit, None).await?;
        w.commit().await
    }

    async fn create_rollout(&self, transition: &Transition<'_>) -> Result<Committed> {
        let mut w = self.write().await?;
        let committed = rollouts::create(&mut w.tx, transition).await?;
        w.commit().await?;
        Ok(committed)
    }

    async fn commit_transition(&self, expected_version: u64, transition: &Transition<'_>) -> Result<Committed> {
        let mut w = self.write().await?;
        let committed = rollouts::commit(&mut w.tx, expected_version, transition).await?;
        w.commit().await?;
        Ok(committed)
    }

    async fn get_rollout(&self, id: &str) -> Result<RolloutRecord> {
        rollouts::get(&mut *self.pool.acquire().await?, id).await
    }

    async fn list_rollouts(&self, filter: &RolloutFilter) -> Result<Vec<RolloutRecord>> {
        rollouts::list(&mut *self.pool.acquire().await?, filter).await
    }

    async fn upsert_target(&self, target: &TargetUpsert) -> Result<TargetRecord> {
        let mut w = self.write().await?;
        let record = targets::upsert(&mut w.tx, target).await?;
        w.commit().await?;
        Ok(record)
    }

    async fn upsert_targets(&self, list: &[TargetUpsert]) -> Result<()> {
        if list.is_empty() {
            return Ok(());
        }
        let mut w = self.write().await?;
        for target in list {
            targets::upsert(&mut w.tx, target).await?;
        }
        w.commit().await
    }

    async fn get_target(&self, id: &TargetId) -> Result<TargetRecord> {
        targets::get(&mut *self.pool.acquire().await?, id).await
    }

    async fn list_targets(&self) -> Result<Vec<TargetRecord>> {
        targets::list(&mut *self.pool.acquire().await?).await
    }

    async fn put_agent_credential(&self, target: &TargetId, token_hash: &str, audit: &Audit) -> Result<()> {
        let mut w = self.write().await?;
        targets::put_credential(&mut w.tx, target, token_hash, audit).await?;
        w.commit().await
    }

    async fn agent_by_token_hash(&self, token_hash: &str) -> Result<Option<TargetId>> {
        targets::by_token_hash(&mut *self.pool.acquire().await?, token_hash).await
    }

    async fn create_api_token(&self, token: &NewApiToken) -> Result<()> {
        let mut w = self.write().await?;
        api_tokens::create(&mut w.tx, token).await?;
        w.commit().await
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>> {
        api_tokens::list(&mut *self.pool.acquire().await?).await
    }

    async fn revoke_api_token(&self, name: &str, audit: &Audit) -> Result<ApiTokenRecord> {
        let mut w = self.write().await?;
        let token = api_tokens::revoke(&mut w.tx, name, audit).await?;
        w.commit().await?;
        Ok(token)
    }

    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiTokenRecord>> {
        api_tokens::by_hash(&mut *self.pool.acquire().await?, token_hash).await
    }

    async fn create_enrollment_token(&self, token: &NewEnrollmentToken) -> Result<()> {
        let mut w = self.write().await?;
        targets::create_enrollment_token(&mut w.tx, token).await?;
        w.commit().await
    }

    async fn create_enrollment_tokens(&self, tokens: &[NewEnrollmentToken]) -> Result<()> {
        let mut w = self.write().await?;
        for token in tokens {
            targets::create_enrollment_token(&mut w.tx, token).await?;
        }
        w.commit().await
    }

    async fn enroll(&self, enrollment: &Enrollment) -> Result<TargetRecord> {
        let mut w = self.write().await?;
        let record = targets::enroll(&mut w.tx, enrollment).await?;
        w.commit().await?;
        Ok(record)
    }

    async fn desired_for(&self, target: &TargetId) -> Result<DesiredState> {
        // One read transaction: the version and the rows come from the same snapshot.
        let mut tx = self.pool.begin().await?;
        let state = desired::for_target(&mut tx, target).await?;
        tx.commit().await?;
        Ok(state)
    }

    async fn desired_version(&self, target: &TargetId) -> Result<u64> {
        Ok(self.desired_for(target).await?.version)
    }

    async fn fold_finished_rollout(&self) -> Result<Option<(String, usize)>> {
        let mut w = self.write().await?;
        let Some(rec) = desired::next_to_fold(&mut w.tx).await? else {
            return Ok(None);
        };
        let n = desired::fold(&mut w.tx, &rec).await?;
        w.commit().await?;
        Ok(Some((rec.rollout.id, n)))
    }

    async fn rollouts_with_prefix(&self, prefix: &str, limit: u32) -> Result<Vec<RolloutRecord>> {
        rollouts::with_prefix(&mut *self.pool.acquire().await?, prefix, limit).await
    }

    async fn all_desired(&self) -> Result<Vec<DesiredState>> {
        let mut tx = self.pool.begin().await?;
        let all = desired::all(&mut tx).await?;
        tx.commit().await?;
        Ok(all)
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<EventSeq>> {
        let mut w = self.write().await?;
        let seqs = events::append_checked(&mut w.tx, events).await?;
        w.commit().await?;
        Ok(seqs)
    }

    async fn events_since(&self, after: EventSeq, limit: u32) -> Result<Vec<StoredEvent>> {
        events::since(&mut *self.pool.acquire().await?, after, limit).await
    }

    async fn events_for_rollout(&self, rollout: &str) -> Result<Vec<StoredEvent>> {
        events::for_rollout(&mut *self.pool.acquire().await?, rollout).await
    }

    async fn last_event_seq(&self) -> Result<EventSeq> {
        events::last_seq(&mut *self.pool.acquire().await?).await
    }
}
