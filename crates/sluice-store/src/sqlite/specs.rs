//! Applied specs, every version kept.

use serde_json::json;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use super::codec::{self, Cols};
use super::events;
use crate::error::{Result, StoreError};
use crate::event::{NewEvent, kind};
use crate::model::{NewSpec, SpecRecord, SpecVersion};

const COLUMNS: &str = "version, applied_at, applied_by, text, parsed";

pub(crate) async fn put(conn: &mut SqliteConnection, spec: &NewSpec) -> Result<SpecVersion> {
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO specs (applied_at, applied_by, text, parsed) VALUES ($1, $2, $3, $4) RETURNING version",
    )
    .bind(codec::millis("spec", "new", spec.applied_at)?)
    .bind(&spec.applied_by)
    .bind(&spec.text)
    .bind(codec::json("spec", "new", &spec.parsed)?)
    .fetch_one(&mut *conn)
    .await?;
    let version = u64::try_from(version).map_err(|_| StoreError::Corrupt {
        what: "spec",
        id: version.to_string(),
        why: "negative version".into(),
    })?;
    events::append(
        conn,
        &NewEvent::new(kind::SPEC_APPLIED, &spec.applied_by, spec.applied_at, json!({ "version": version })),
    )
    .await?;
    for d in &spec.dropped {
        let body = json!({ "version": version, "service": d.service, "targets": d.targets, "forced": true });
        let event = NewEvent::new(kind::SERVICE_DROPPED, &spec.applied_by, spec.applied_at, body).service(&d.service);
        events::append(conn, &event).await?;
    }
    Ok(version)
}

pub(crate) async fn current(conn: &mut SqliteConnection) -> Result<Option<SpecRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM specs ORDER BY version DESC LIMIT 1"))
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(decode).transpose()
}

pub(crate) async fn get(conn: &mut SqliteConnection, version: SpecVersion) -> Result<SpecRecord> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM specs WHERE version = $1"))
        .bind(codec::count("spec", &version.to_string(), version)?)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => decode(&row),
        None => Err(StoreError::NotFound { what: "spec version", id: version.to_string() }),
    }
}

fn decode(row: &SqliteRow) -> Result<SpecRecord> {
    let version = Cols::new(row, "spec", "?").u64("version")?;
    let c = Cols::new(row, "spec", version.to_string());
    Ok(SpecRecord {
        version,
        text: c.text("text")?,
        parsed: c.json("parsed")?,
        applied_by: c.text("applied_by")?,
        applied_at: c.millis("applied_at")?,
    })
}
