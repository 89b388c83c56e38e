//! Desired state: what each target should run, per service, and a per-target version that
//! grows by one with every change so long-polls can wait for one.

use std::collections::{BTreeMap, BTreeSet};

use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;
use sqlx::SqliteConnection;

use super::codec::{self, Cols};
use crate::error::{Result, StoreError};
use crate::model::{Desired, DesiredState};
use crate::transition::DesiredChange;

/// Apply `changes` to `service`'s desired releases, in order; bump the version of each target
/// whose desired state changed. A target that is not stored fails the whole transaction.
pub(crate) async fn apply(
    conn: &mut SqliteConnection,
    service: &str,
    rollout: &str,
    changes: &[DesiredChange],
    at: Millis,
) -> Result<()> {
    let at = codec::millis("desired state", service, at)?;
    let mut known: BTreeSet<&TargetId> = BTreeSet::new();
    let mut changed: BTreeSet<&TargetId> = BTreeSet::new();
    for c in changes {
        if !known.contains(&c.target) {
            version(conn, &c.target).await?;
            known.insert(&c.target);
        }
        let current: Option<Option<String>> =
            sqlx::query_scalar("SELECT release FROM desired WHERE target = $1 AND service = $2")
                .bind(&c.target.0)
                .bind(service)
                .fetch_optional(&mut *conn)
                .await?;
        let wanted = c.release.as_ref().map(|r| r.0.clone());
        if current.as_ref() == Some(&wanted) {
            continue;
        }
        sqlx::query(
            "INSERT INTO desired (target, service, release, rollout, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (target, service) DO UPDATE SET \
             release = excluded.release, rollout = excluded.rollout, updated_at = excluded.updated_at",
        )
        .bind(&c.target.0)
        .bind(service)
        .bind(wanted)
        .bind(rollout)
        .bind(at)
        .execute(&mut *conn)
        .await?;
        changed.insert(&c.target);
    }
    for target in changed {
        sqlx::query("UPDATE targets SET desired_version = desired_version + 1 WHERE id = $1")
            .bind(&target.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub(crate) async fn version(conn: &mut SqliteConnection, target: &TargetId) -> Result<u64> {
    let row = sqlx::query("SELECT desired_version FROM targets WHERE id = $1")
        .bind(&target.0)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Cols::new(&row, "target", target.0.clone()).u64("desired_version"),
        None => Err(StoreError::NotFound { what: "target", id: target.0.clone() }),
    }
}

/// Read in the caller's (read) transaction, so the version matches the rows.
pub(crate) async fn for_target(conn: &mut SqliteConnection, target: &TargetId) -> Result<DesiredState> {
    let version = version(conn, target).await?;
    let rows =
        sqlx::query("SELECT service, release, rollout, updated_at FROM desired WHERE target = $1 ORDER BY service")
            .bind(&target.0)
            .fetch_all(&mut *conn)
            .await?;
    let services = rows
        .iter()
        .map(|row| {
            let c = Cols::new(row, "desired state", target.0.clone());
            Ok(Desired {
                service: c.text("service")?,
                release: c.opt_text("release")?.map(ReleaseId),
                rollout: c.opt_text("rollout")?,
                updated_at: c.millis("updated_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DesiredState { target: target.clone(), version, services })
}

/// Every target's desired state, in the caller's (read) transaction.
pub(crate) async fn all(conn: &mut SqliteConnection) -> Result<Vec<DesiredState>> {
    let targets = sqlx::query("SELECT id, desired_version FROM targets ORDER BY id").fetch_all(&mut *conn).await?;
    let mut out: Vec<DesiredState> = Vec::with_capacity(targets.len());
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for row in &targets {
        let id = Cols::new(row, "target", "?").text("id")?;
        let version = Cols::new(row, "target", id.clone()).u64("desired_version")?;
        index.insert(id.clone(), out.len());
        out.push(DesiredState { target: TargetId(id), version, services: Vec::new() });
    }
    let rows =
        sqlx::query("SELECT target, service, release, rollout, updated_at FROM desired ORDER BY target, service")
            .fetch_all(&mut *conn)
            .await?;
    for row in &rows {
        let target = Cols::new(row, "desired state", "?").text("target")?;
        let c = Cols::new(row, "desired state", target.clone());
        let desired = Desired {
            service: c.text("service")?,
            release: c.opt_text("release")?.map(ReleaseId),
            rollout: c.opt_text("rollout")?,
            updated_at: c.millis("updated_at")?,
        };
        match index.get(&target).and_then(|&i| out.get_mut(i)) {
            Some(state) => state.services.push(desired),
            None => {
                return Err(StoreError::Corrupt {
                    what: "desired state",
                    id: target,
                    why: "a desired release of a target that is not stored".into(),
                });
            }
        }
    }
    Ok(out)
}
