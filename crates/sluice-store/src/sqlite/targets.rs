//! Targets, their agent credentials, and one-time enrollment tokens. Tokens are only ever
//! stored as hashes; the caller hashes.

use serde_json::json;
use sluice_core::release::TargetId;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use super::codec::{self, Cols};
use super::events;
use crate::error::{Result, StoreError};
use crate::event::{NewEvent, kind};
use crate::model::{Audit, Enrollment, NewEnrollmentToken, TargetRecord, TargetUpsert};

const COLUMNS: &str = "id, labels, facts, first_seen, last_seen, desired_version";

/// The actor of changes an agent reports about itself.
fn agent_actor(id: &TargetId) -> String {
    format!("agent:{id}")
}

/// A token hash as it may appear in messages: a prefix, enough to tell tokens apart.
fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

pub(crate) async fn find(conn: &mut SqliteConnection, id: &TargetId) -> Result<Option<TargetRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM targets WHERE id = $1"))
        .bind(&id.0)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(decode).transpose()
}

pub(crate) async fn get(conn: &mut SqliteConnection, id: &TargetId) -> Result<TargetRecord> {
    find(conn, id).await?.ok_or_else(|| StoreError::NotFound { what: "target", id: id.0.clone() })
}

pub(crate) async fn list(conn: &mut SqliteConnection) -> Result<Vec<TargetRecord>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM targets ORDER BY id")).fetch_all(&mut *conn).await?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn upsert(conn: &mut SqliteConnection, t: &TargetUpsert) -> Result<TargetRecord> {
    let id = t.id.0.as_str();
    if id.is_empty() {
        return Err(StoreError::Invalid { what: "target", id: String::new(), why: "empty id".into() });
    }
    let labels = codec::json("target", id, &t.labels)?;
    let facts = codec::json("target", id, &t.facts)?;
    let seen = codec::millis("target", id, t.seen_at)?;
    let actor = agent_actor(&t.id);
    match find(conn, &t.id).await? {
        None => {
            sqlx::query(&format!("INSERT INTO targets ({COLUMNS}) VALUES ($1, $2, $3, $4, $4, 0)"))
                .bind(id)
                .bind(labels)
                .bind(facts)
                .bind(seen)
                .execute(&mut *conn)
                .await?;
            let body = json!({ "target": t.id, "labels": t.labels, "facts": t.facts });
            events::append(conn, &NewEvent::new(kind::TARGET_REGISTERED, actor, t.seen_at, body)).await?;
        }
        Some(before) => {
            // Reports may arrive out of order: last_seen never moves back.
            let last_seen = codec::millis("target", id, before.last_seen.max(t.seen_at))?;
            sqlx::query("UPDATE targets SET labels = $2, facts = $3, last_seen = $4 WHERE id = $1")
                .bind(id)
                .bind(labels)
                .bind(facts)
                .bind(last_seen)
                .execute(&mut *conn)
                .await?;
            if before.labels != t.labels || before.facts != t.facts {
                let body = json!({
                    "target": t.id,
                    "before": { "labels": before.labels, "facts": before.facts },
                    "after": { "labels": t.labels, "facts": t.facts },
                });
                events::append(conn, &NewEvent::new(kind::TARGET_CHANGED, actor, t.seen_at, body)).await?;
            }
        }
    }
    get(conn, &t.id).await
}

pub(crate) async fn put_credential(
    conn: &mut SqliteConnection,
    target: &TargetId,
    token_hash: &str,
    audit: &Audit,
) -> Result<()> {
    get(conn, target).await?;
    if token_hash.is_empty() {
        return Err(StoreError::Invalid { what: "agent credential", id: target.0.clone(), why: "empty hash".into() });
    }
    if let Some(owner) = by_token_hash(conn, token_hash).await?
        && owner != *target
    {
        return Err(StoreError::Conflict {
            what: "agent credential",
            id: short(token_hash),
            expected: format!("a hash no target uses (for {target})"),
            found: format!("the hash of target {owner}"),
        });
    }
    sqlx::query(
        "INSERT INTO agent_credentials (target, token_hash, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (target) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
    )
    .bind(&target.0)
    .bind(token_hash)
    .bind(codec::millis("agent credential", &target.0, audit.at)?)
    .execute(&mut *conn)
    .await?;
    let body = json!({ "target": target, "reason": audit.reason });
    events::append(conn, &NewEvent::new(kind::AGENT_CREDENTIAL_SET, &audit.actor, audit.at, body)).await?;
    Ok(())
}

pub(crate) async fn by_token_hash(conn: &mut SqliteConnection, token_hash: &str) -> Result<Option<TargetId>> {
    let target: Option<String> = sqlx::query_scalar("SELECT target FROM agent_credentials WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(target.map(TargetId))
}

pub(crate) async fn create_enrollment_token(conn: &mut SqliteConnection, t: &NewEnrollmentToken) -> Result<()> {
    let id = short(&t.token_hash);
    if t.token_hash.is_empty() {
        return Err(StoreError::Invalid { what: "enrollment token", id, why: "empty hash".into() });
    }
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM enrollment_tokens WHERE token_hash = $1")
        .bind(&t.token_hash)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_some() {
        return Err(StoreError::Conflict {
            what: "enrollment token",
            id,
            expected: "a new token".into(),
            found: "a stored token".into(),
        });
    }
    let expires_at = t.expires_at.map(|e| codec::millis("enrollment token", &id, e)).transpose()?;
    sqlx::query(
        "INSERT INTO enrollment_tokens (token_hash, created_at, created_by, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&t.token_hash)
    .bind(codec::millis("enrollment token", &id, t.created_at)?)
    .bind(&t.created_by)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    let body = json!({ "expires_at": t.expires_at });
    events::append(conn, &NewEvent::new(kind::ENROLLMENT_TOKEN_CREATED, &t.created_by, t.created_at, body)).await?;
    Ok(())
}

pub(crate) async fn enroll(conn: &mut SqliteConnection, e: &Enrollment) -> Result<TargetRecord> {
    let id = short(&e.enrollment_token_hash);
    let at = e.target.seen_at;
    let row = sqlx::query("SELECT expires_at, used_at, used_by FROM enrollment_tokens WHERE token_hash = $1")
        .bind(&e.enrollment_token_hash)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Err(StoreError::NotFound { what: "enrollment token", id });
    };
    let c = Cols::new(&row, "enrollment token", id.clone());
    if let Some(used_at) = c.opt_millis("used_at")? {
        let by = c.opt_text("used_by")?.unwrap_or_default();
        return Err(StoreError::Conflict {
            what: "enrollment token",
            id,
            expected: "an unused token".into(),
            found: format!("used by target {by} at {}", used_at.0),
        });
    }
    if let Some(expires_at) = c.opt_millis("expires_at")?
        && expires_at <= at
    {
        return Err(StoreError::Conflict {
            what: "enrollment token",
            id,
            expected: "an unexpired token".into(),
            found: format!("expired at {}", expires_at.0),
        });
    }
    let spent = sqlx::query(
        "UPDATE enrollment_tokens SET used_at = $2, used_by = $3 WHERE token_hash = $1 AND used_at IS NULL",
    )
    .bind(&e.enrollment_token_hash)
    .bind(codec::millis("enrollment token", &id, at)?)
    .bind(&e.target.id.0)
    .execute(&mut *conn)
    .await?;
    if spent.rows_affected() != 1 {
        return Err(StoreError::Conflict {
            what: "enrollment token",
            id,
            expected: "an unused token".into(),
            found: "a token spent concurrently".into(),
        });
    }
    upsert(conn, &e.target).await?;
    let actor = agent_actor(&e.target.id);
    let audit = Audit::new(actor.clone(), at).because("enrolled");
    put_credential(conn, &e.target.id, &e.credential_hash, &audit).await?;
    let body = json!({ "target": e.target.id });
    events::append(conn, &NewEvent::new(kind::TARGET_ENROLLED, actor, at, body)).await?;
    get(conn, &e.target.id).await
}

fn decode(row: &SqliteRow) -> Result<TargetRecord> {
    let id = Cols::new(row, "target", "?").text("id")?;
    let c = Cols::new(row, "target", id.clone());
    Ok(TargetRecord {
        id: TargetId(id),
        labels: c.json("labels")?,
        facts: c.json("facts")?,
        first_seen: c.millis("first_seen")?,
        last_seen: c.millis("last_seen")?,
        desired_version: c.u64("desired_version")?,
    })
}
