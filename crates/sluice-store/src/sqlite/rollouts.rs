//! Rollouts and their transitions. A rollout's plan is written once, when it is created; a
//! transition writes, in one transaction: the rollout's state (its cursor, version checked),
//! the engine's events, and the service state when it changed — O(1) in the fleet size.
//! Desired state is not written here: it follows from the plan and the state (see
//! [`super::desired`]). Any failure on the way rolls all of it back.

use sluice_core::engine::Rollout;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use super::codec::{self, Cols};
use super::{events, services};
use crate::error::{Result, StoreError};
use crate::event::{EventSeq, NewEvent};
use crate::model::{Audit, RolloutFilter, RolloutRecord};
use crate::transition::{Committed, Transition};

const COLUMNS: &str = "id, service, release, phase, active, version, state, created_at, updated_at";
/// The columns read back: the stored ones and the plan.
const READ: &str = "id, service, release, phase, active, version, state, created_at, updated_at, plan";

/// The events must be the rollout's own.
fn check(t: &Transition<'_>) -> Result<()> {
    let r = t.rollout;
    if r.id.is_empty() || r.service.is_empty() {
        return Err(StoreError::Invalid { what: "rollout", id: r.id.clone(), why: "empty id or service".into() });
    }
    if let Some(e) = t.events.iter().find(|e| e.rollout != r.id) {
        return Err(StoreError::Invalid {
            what: "rollout",
            id: r.id.clone(),
            why: format!("the transition carries an event of rollout {}", e.rollout),
        });
    }
    Ok(())
}

fn active(r: &Rollout) -> i64 {
    i64::from(!r.is_finished())
}

/// A unique-key refusal means another active rollout of the service, or the same id, exists.
fn map_unique(e: sqlx::Error, r: &Rollout) -> StoreError {
    if codec::is_unique_violation(&e) {
        StoreError::Conflict {
            what: "rollout",
            id: r.id.clone(),
            expected: format!("a new rollout id and no active rollout of service {}", r.service),
            found: e.to_string(),
        }
    } else {
        e.into()
    }
}

pub(crate) async fn create(conn: &mut SqliteConnection, t: &Transition<'_>) -> Result<Committed> {
    check(t)?;
    let r = t.rollout;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT version FROM rollouts WHERE id = $1").bind(&r.id).fetch_optional(&mut *conn).await?;
    if exists.is_some() {
        return Err(StoreError::Conflict {
            what: "rollout",
            id: r.id.clone(),
            expected: "a new rollout id".into(),
            found: "a stored rollout with this id".into(),
        });
    }
    if !r.is_finished() {
        let other: Option<String> = sqlx::query_scalar("SELECT id FROM rollouts WHERE service = $1 AND active = 1")
            .bind(&r.service)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(other) = other {
            return Err(StoreError::Conflict {
                what: "service",
                id: r.service.clone(),
                expected: "no rollout in progress".into(),
                found: format!("rollout {other} in progress"),
            });
        }
    }
    let release: Option<i64> = sqlx::query_scalar("SELECT 1 FROM releases WHERE id = $1")
        .bind(&r.release.0)
        .fetch_optional(&mut *conn)
        .await?;
    if release.is_none() {
        return Err(StoreError::NotFound { what: "release", id: r.release.0.clone() });
    }
    let at = codec::millis("rollout", &r.id, t.at)?;
    let state = codec::json("rollout", &r.id, r)?;
    let plan = codec::json("rollout plan", &r.id, &*r.plan)?;
    let written = (state.len() + plan.len()) as u64;
    sqlx::query(&format!("INSERT INTO rollouts ({COLUMNS}, plan) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7, $8)"))
        .bind(&r.id)
        .bind(&r.service)
        .bind(&r.release.0)
        .bind(r.phase_name())
        .bind(active(r))
        .bind(state)
        .bind(at)
        .bind(plan)
        .execute(&mut *conn)
        .await
        .map_err(|e| map_unique(e, r))?;
    let (seqs, effects) = write_effects(conn, t).await?;
    Ok(Committed { version: 1, seqs, bytes: written + effects })
}

pub(crate) async fn commit(conn: &mut SqliteConnection, expected: u64, t: &Transition<'_>) -> Result<Committed> {
    check(t)?;
    let r = t.rollout;
    let row = sqlx::query("SELECT service, release, version FROM rollouts WHERE id = $1")
        .bind(&r.id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Err(StoreError::NotFound { what: "rollout", id: r.id.clone() });
    };
    let c = Cols::new(&row, "rollout", r.id.clone());
    let (service, release, found) = (c.text("service")?, c.text("release")?, c.u64("version")?);
    if service != r.service || release != r.release.0 {
        return Err(StoreError::Invalid {
            what: "rollout",
            id: r.id.clone(),
            why: format!("a rollout keeps its service and release (stored: {service} {release})"),
        });
    }
    let conflict = |found: String| StoreError::Conflict {
        what: "rollout",
        id: r.id.clone(),
        expected: format!("version {expected}"),
        found,
    };
    if found != expected {
        return Err(conflict(format!("version {found}")));
    }
    let next = expected.checked_add(1).ok_or_else(|| conflict("the last version".into()))?;
    let state = codec::json("rollout", &r.id, r)?;
    let written = state.len() as u64;
    let updated = sqlx::query(
        "UPDATE rollouts SET phase = $3, active = $4, version = $5, state = $6, updated_at = $7 \
         WHERE id = $1 AND version = $2",
    )
    .bind(&r.id)
    .bind(codec::count("rollout", &r.id, expected)?)
    .bind(r.phase_name())
    .bind(active(r))
    .bind(codec::count("rollout", &r.id, next)?)
    .bind(state)
    .bind(codec::millis("rollout", &r.id, t.at)?)
    .execute(&mut *conn)
    .await
    .map_err(|e| map_unique(e, r))?;
    if updated.rows_affected() != 1 {
        return Err(conflict("a concurrent write".into()));
    }
    let (seqs, effects) = write_effects(conn, t).await?;
    Ok(Committed { version: next, seqs, bytes: written + effects })
}

/// Events, then service state; their sequence numbers and the bytes of their data.
async fn write_effects(conn: &mut SqliteConnection, t: &Transition<'_>) -> Result<(Vec<EventSeq>, u64)> {
    let r = t.rollout;
    let mut seqs = Vec::with_capacity(t.events.len());
    let mut bytes = 0u64;
    for e in t.events {
        let (seq, written) = events::append_sized(conn, &NewEvent::from_engine(e, &r.service, t.actor)?).await?;
        seqs.push(seq);
        bytes += written;
    }
    if let Some(state) = t.service_state {
        bytes += services::put(conn, &r.service, state, &Audit::new(t.actor, t.at), Some(&r.id)).await?;
    }
    Ok((seqs, bytes))
}

pub(crate) async fn get(conn: &mut SqliteConnection, id: &str) -> Result<RolloutRecord> {
    let row =
        sqlx::query(&format!("SELECT {READ} FROM rollouts WHERE id = $1")).bind(id).fetch_optional(&mut *conn).await?;
    match row {
        Some(row) => decode(&row),
        None => Err(StoreError::NotFound { what: "rollout", id: id.into() }),
    }
}

pub(crate) async fn list(conn: &mut SqliteConnection, f: &RolloutFilter) -> Result<Vec<RolloutRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {READ} FROM rollouts WHERE ($1 = 0 OR active = 1) AND ($2 IS NULL OR service = $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(i64::from(f.active_only))
    .bind(&f.service)
    .bind(f.limit.map_or(i64::MAX, i64::from))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(decode).collect()
}

/// Rollouts whose id starts with `prefix`, newest first, at most `limit`.
pub(crate) async fn with_prefix(conn: &mut SqliteConnection, prefix: &str, limit: u32) -> Result<Vec<RolloutRecord>> {
    // `LIKE` would read `_` and `%` in the prefix as patterns: compare the leading characters.
    let rows = sqlx::query(&format!(
        "SELECT {READ} FROM rollouts WHERE substr(id, 1, length($1)) = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(prefix)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(decode).collect()
}

/// The rollouts not folded into the desired table yet, oldest first: the ones desired state is
/// derived from.
pub(crate) async fn unfolded(conn: &mut SqliteConnection) -> Result<Vec<RolloutRecord>> {
    let rows = sqlx::query(&format!("SELECT {READ} FROM rollouts WHERE folded = 0 ORDER BY created_at, id"))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(decode).collect()
}

pub(crate) fn decode(row: &SqliteRow) -> Result<RolloutRecord> {
    let id = Cols::new(row, "rollout", "?").text("id")?;
    let c = Cols::new(row, "rollout", id.clone());
    let mut rollout: Rollout = c.json("state")?;
    let plan = c.opt_json("plan")?;
    rollout.attach_plan(plan).map_err(|e| StoreError::Corrupt {
        what: "rollout",
        id: id.clone(),
        why: e.to_string(),
    })?;
    if rollout.id != id {
        return Err(StoreError::Corrupt {
            what: "rollout",
            id,
            why: format!("its state names rollout {}", rollout.id),
        });
    }
    Ok(RolloutRecord {
        rollout,
        version: c.u64("version")?,
        created_at: c.millis("created_at")?,
        updated_at: c.millis("updated_at")?,
    })
}
