//! Releases (immutable, content-addressed, with their change record) and bundle bytes by
//! digest.

use serde_json::json;
use sluice_core::release::ReleaseId;
use sluice_core::time::Millis;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use super::codec::{self, Cols};
use super::events;
use crate::error::{Result, StoreError};
use crate::event::{NewEvent, kind};
use crate::model::Release;

const COLUMNS: &str = "id, service, parent, created_at, created_by, message, manifest, size";

async fn service_of(conn: &mut SqliteConnection, id: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT service FROM releases WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?)
}

pub(crate) async fn put(conn: &mut SqliteConnection, r: &Release) -> Result<bool> {
    let id = r.id.0.as_str();
    if id.is_empty() || r.service.is_empty() {
        return Err(StoreError::Invalid { what: "release", id: id.into(), why: "empty id or service".into() });
    }
    if let Some(service) = service_of(conn, id).await? {
        if service == r.service {
            return Ok(false);
        }
        return Err(StoreError::Conflict {
            what: "release",
            id: id.into(),
            expected: format!("service {}", r.service),
            found: format!("service {service}"),
        });
    }
    if let Some(parent) = &r.parent {
        match service_of(conn, &parent.0).await? {
            None => return Err(StoreError::NotFound { what: "parent release", id: parent.0.clone() }),
            Some(s) if s != r.service => {
                return Err(StoreError::Invalid {
                    what: "release",
                    id: id.into(),
                    why: format!("parent {parent} belongs to service {s}, not {}", r.service),
                });
            }
            Some(_) => {}
        }
    }
    sqlx::query(&format!("INSERT INTO releases ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
        .bind(id)
        .bind(&r.service)
        .bind(r.parent.as_ref().map(|p| p.0.as_str()))
        .bind(codec::millis("release", id, r.created_at)?)
        .bind(&r.created_by)
        .bind(&r.message)
        .bind(codec::json("release", id, &r.manifest)?)
        .bind(codec::count("release", id, r.size)?)
        .execute(&mut *conn)
        .await?;
    let body = json!({
        "release": r.id, "service": r.service, "parent": r.parent, "size": r.size, "message": r.message,
    });
    let event = NewEvent::new(kind::RELEASE_CREATED, &r.created_by, r.created_at, body).service(&r.service);
    events::append(conn, &event).await?;
    Ok(true)
}

pub(crate) async fn get(conn: &mut SqliteConnection, id: &ReleaseId) -> Result<Release> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM releases WHERE id = $1"))
        .bind(&id.0)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => decode(&row),
        None => Err(StoreError::NotFound { what: "release", id: id.0.clone() }),
    }
}

pub(crate) async fn list(conn: &mut SqliteConnection, service: &str) -> Result<Vec<Release>> {
    let rows =
        sqlx::query(&format!("SELECT {COLUMNS} FROM releases WHERE service = $1 ORDER BY created_at DESC, id DESC"))
            .bind(service)
            .fetch_all(&mut *conn)
            .await?;
    rows.iter().map(decode).collect()
}

fn decode(row: &SqliteRow) -> Result<Release> {
    let id = Cols::new(row, "release", "?").text("id")?;
    let c = Cols::new(row, "release", id.clone());
    Ok(Release {
        id: ReleaseId(id),
        service: c.text("service")?,
        parent: c.opt_text("parent")?.map(ReleaseId),
        created_at: c.millis("created_at")?,
        created_by: c.text("created_by")?,
        message: c.text("message")?,
        manifest: c.json("manifest")?,
        size: c.u64("size")?,
    })
}

pub(crate) async fn put_bundle(conn: &mut SqliteConnection, digest: &str, bytes: &[u8], at: Millis) -> Result<bool> {
    let actual = sluice_bundle::digest(bytes);
    if actual != digest {
        return Err(StoreError::Invalid {
            what: "bundle",
            id: digest.into(),
            why: format!("the bytes' digest is {actual}"),
        });
    }
    let size = codec::count("bundle", digest, bytes.len() as u64)?;
    let done = sqlx::query(
        "INSERT INTO bundles (digest, size, bytes, stored_at) VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING",
    )
    .bind(digest)
    .bind(size)
    .bind(bytes)
    .bind(codec::millis("bundle", digest, at)?)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn get_bundle(conn: &mut SqliteConnection, digest: &str) -> Result<Vec<u8>> {
    let row =
        sqlx::query("SELECT bytes FROM bundles WHERE digest = $1").bind(digest).fetch_optional(&mut *conn).await?;
    match row {
        Some(row) => Cols::new(&row, "bundle", digest).bytes("bytes"),
        None => Err(StoreError::NotFound { what: "bundle", id: digest.into() }),
    }
}
