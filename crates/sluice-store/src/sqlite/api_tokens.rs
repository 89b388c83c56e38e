//! Operators' API tokens, stored by the hash of their secret (the caller hashes), with their
//! role and service scope; revoking keeps the row.

use serde_json::json;
use sluice_core::role::Role;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use super::codec::{self, Cols};
use super::events;
use crate::error::{Result, StoreError};
use crate::event::{NewEvent, kind};
use crate::model::{ApiTokenRecord, Audit, NewApiToken};

const COLUMNS: &str = "name, role, services, created_at, created_by, revoked_at";

fn record(row: &SqliteRow) -> Result<ApiTokenRecord> {
    let name: String = Cols::new(row, "api token", "?").text("name")?;
    let c = Cols::new(row, "api token", name.clone());
    let role_text = c.text("role")?;
    let role: Role = role_text.parse().map_err(|why| StoreError::Corrupt {
        what: "api token",
        id: name.clone(),
        why: format!("column role: {why}"),
    })?;
    Ok(ApiTokenRecord {
        role,
        services: c.opt_json("services")?,
        created_at: c.millis("created_at")?,
        created_by: c.text("created_by")?,
        revoked_at: c.opt_millis("revoked_at")?,
        name,
    })
}

pub(crate) async fn create(conn: &mut SqliteConnection, t: &NewApiToken) -> Result<()> {
    if t.name.is_empty() || t.token_hash.is_empty() {
        return Err(StoreError::Invalid { what: "api token", id: t.name.clone(), why: "empty name or hash".into() });
    }
    let taken: Option<String> = sqlx::query_scalar("SELECT name FROM api_tokens WHERE name = $1 OR token_hash = $2")
        .bind(&t.name)
        .bind(&t.token_hash)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(other) = taken {
        return Err(StoreError::Conflict {
            what: "api token",
            id: t.name.clone(),
            expected: "a name never used before".into(),
            found: format!("token {other} (names are never reused, revoked or not)"),
        });
    }
    let services = t.services.as_ref().map(|s| codec::json("api token", &t.name, s)).transpose()?;
    sqlx::query(
        "INSERT INTO api_tokens (name, token_hash, role, services, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&t.name)
    .bind(&t.token_hash)
    .bind(t.role.as_str())
    .bind(services)
    .bind(codec::millis("api token", &t.name, t.created_at)?)
    .bind(&t.created_by)
    .execute(&mut *conn)
    .await?;
    let body = json!({ "name": t.name, "role": t.role, "services": t.services });
    events::append(conn, &NewEvent::new(kind::API_TOKEN_CREATED, &t.created_by, t.created_at, body)).await?;
    Ok(())
}

pub(crate) async fn list(conn: &mut SqliteConnection) -> Result<Vec<ApiTokenRecord>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM api_tokens ORDER BY name")).fetch_all(&mut *conn).await?;
    rows.iter().map(record).collect()
}

pub(crate) async fn revoke(conn: &mut SqliteConnection, name: &str, audit: &Audit) -> Result<ApiTokenRecord> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_tokens WHERE name = $1"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Err(StoreError::NotFound { what: "api token", id: name.to_string() });
    };
    let mut token = record(&row)?;
    if let Some(at) = token.revoked_at {
        return Err(StoreError::Conflict {
            what: "api token",
            id: name.to_string(),
            expected: "a token in use".into(),
            found: format!("a token revoked at {} ms", at.0),
        });
    }
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE name = $2")
        .bind(codec::millis("api token", name, audit.at)?)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    token.revoked_at = Some(audit.at);
    let body = json!({ "name": name, "reason": audit.reason });
    events::append(conn, &NewEvent::new(kind::API_TOKEN_REVOKED, &audit.actor, audit.at, body)).await?;
    Ok(token)
}

pub(crate) async fn by_hash(conn: &mut SqliteConnection, token_hash: &str) -> Result<Option<ApiTokenRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"))
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(record).transpose()
}
