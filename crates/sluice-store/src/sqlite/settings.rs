//! Single values: the admin token hash.

use serde_json::json;
use sqlx::SqliteConnection;

use super::codec;
use super::events;
use crate::error::Result;
use crate::event::{NewEvent, kind};
use crate::model::Audit;

const ADMIN_TOKEN_HASH: &str = "admin_token_hash";

pub(crate) async fn admin_token_hash(conn: &mut SqliteConnection) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(ADMIN_TOKEN_HASH)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Set the admin token hash; unless `replace`, only when none is set. True if it was written.
pub(crate) async fn set_admin_token_hash(
    conn: &mut SqliteConnection,
    hash: &str,
    replace: bool,
    audit: &Audit,
) -> Result<bool> {
    let existed = admin_token_hash(conn).await?.is_some();
    if existed && !replace {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(ADMIN_TOKEN_HASH)
    .bind(hash)
    .bind(codec::millis("setting", ADMIN_TOKEN_HASH, audit.at)?)
    .execute(&mut *conn)
    .await?;
    let body = json!({ "replaced": existed, "reason": audit.reason });
    events::append(conn, &NewEvent::new(kind::ADMIN_TOKEN_SET, &audit.actor, audit.at, body)).await?;
    Ok(true)
}
