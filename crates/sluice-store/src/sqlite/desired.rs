//! Desired state: what each target should run, per service, and a per-target version that
//! grows with every change so long-polls can wait for one.
//!
//! Nothing here is written per target while a rollout runs. A target's desired release for a
//! service is what the newest rollout not yet folded that touched it says — derived from the
//! rollout's plan and state ([`Rollout::touched`], [`Rollout::desired_release`]) — else the
//! `desired` row earlier rollouts left. Its version is the stored one (`targets.desired_version`,
//! what folded rollouts counted) plus [`Rollout::desired_changes`] of every unfolded rollout
//! that touched it: the same count the server's in-memory board keeps action by action
//! (invariant `desired-follows-from-cursor`), so versions never go back across a restart.
//!
//! Folding ([`fold`]) writes a finished rollout's touched targets into the `desired` table once,
//! oldest rollout first, and marks it folded: the derived state is the same before and after.

use std::collections::{BTreeSet, HashMap};

use sluice_core::engine::Rollout;
use sluice_core::release::{ReleaseId, TargetId};
use sqlx::SqliteConnection;

use super::codec::{self, Cols};
use super::rollouts;
use crate::error::{Result, StoreError};
use crate::model::{Desired, DesiredState, RolloutRecord};

pub(crate) async fn stored_version(conn: &mut SqliteConnection, target: &TargetId) -> Result<u64> {
    let row = sqlx::query("SELECT desired_version FROM targets WHERE id = $1")
        .bind(&target.0)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Cols::new(&row, "target", target.0.clone()).u64("desired_version"),
        None => Err(StoreError::NotFound { what: "target", id: target.0.clone() }),
    }
}

fn decode_row(row: &sqlx::sqlite::SqliteRow, target: &str) -> Result<Desired> {
    let c = Cols::new(row, "desired state", target.to_string());
    Ok(Desired {
        service: c.text("service")?,
        release: c.opt_text("release")?.map(ReleaseId),
        rollout: c.opt_text("rollout")?,
        updated_at: c.millis("updated_at")?,
    })
}

/// Lay `rec` over `state` if it touched the target.
fn overlay(state: &mut DesiredState, rec: &RolloutRecord, touched: bool) {
    if !touched {
        return;
    }
    let r = &rec.rollout;
    state.version = state.version.saturating_add(r.desired_changes());
    let d = Desired {
        service: r.service.clone(),
        release: r.desired_release().cloned(),
        rollout: Some(r.id.clone()),
        updated_at: rec.updated_at,
    };
    match state.services.iter_mut().find(|s| s.service == r.service) {
        Some(s) => *s = d,
        None => {
            state.services.push(d);
            state.services.sort_by(|a, b| a.service.cmp(&b.service));
        }
    }
}

/// A target's desired state, in the caller's (read) transaction so every part comes from one
/// snapshot.
pub(crate) async fn for_target(conn: &mut SqliteConnection, target: &TargetId) -> Result<DesiredState> {
    let version = stored_version(conn, target).await?;
    let rows =
        sqlx::query("SELECT service, release, rollout, updated_at FROM desired WHERE target = $1 ORDER BY service")
            .bind(&target.0)
            .fetch_all(&mut *conn)
            .await?;
    let services = rows.iter().map(|row| decode_row(row, &target.0)).collect::<Result<Vec<_>>>()?;
    let mut state = DesiredState { target: target.clone(), version, services };
    for rec in rollouts::unfolded(conn).await? {
        let touched = rec.rollout.touched().any(|t| t == target);
        overlay(&mut state, &rec, touched);
    }
    Ok(state)
}

/// Every target's desired state, in the caller's (read) transaction.
pub(crate) async fn all(conn: &mut SqliteConnection) -> Result<Vec<DesiredState>> {
    let targets = sqlx::query("SELECT id, desired_version FROM targets ORDER BY id").fetch_all(&mut *conn).await?;
    let mut out: Vec<DesiredState> = Vec::with_capacity(targets.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(targets.len());
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
        let desired = decode_row(row, &target)?;
        match index.get(&target).and_then(|&i| out.get_mut(i)) {
            Some(state) => state.services.push(desired),
            None => return Err(orphan(&target)),
        }
    }
    for rec in rollouts::unfolded(conn).await? {
        for t in rec.rollout.touched() {
            match index.get(&t.0).and_then(|&i| out.get_mut(i)) {
                Some(state) => overlay(state, &rec, true),
                None => return Err(orphan(&t.0)),
            }
        }
    }
    Ok(out)
}

fn orphan(target: &str) -> StoreError {
    StoreError::Corrupt {
        what: "desired state",
        id: target.to_string(),
        why: "a desired release of a target that is not stored".into(),
    }
}

/// The oldest finished rollout not folded yet, if every rollout before it is folded (folding
/// goes in creation order, so a later rollout's release is never overwritten by an earlier one).
pub(crate) async fn next_to_fold(conn: &mut SqliteConnection) -> Result<Option<RolloutRecord>> {
    let unfolded = rollouts::unfolded(conn).await?;
    let mut blocked: BTreeSet<String> = BTreeSet::new();
    for rec in unfolded {
        if rec.rollout.is_finished() && !blocked.contains(&rec.rollout.service) {
            return Ok(Some(rec));
        }
        blocked.insert(rec.rollout.service.clone());
    }
    Ok(None)
}

/// Fold a finished rollout into the `desired` table: its touched targets' rows and versions,
/// then mark it folded — in the caller's (write) transaction. The derived desired state of
/// every target is the same before and after.
pub(crate) async fn fold(conn: &mut SqliteConnection, rec: &RolloutRecord) -> Result<usize> {
    let r: &Rollout = &rec.rollout;
    if !r.is_finished() {
        return Err(StoreError::Invalid {
            what: "rollout",
            id: r.id.clone(),
            why: "only a finished rollout is folded into the desired table".into(),
        });
    }
    let release = r.desired_release().map(|x| x.0.clone());
    let changes = codec::count("rollout", &r.id, r.desired_changes())?;
    let at = codec::millis("rollout", &r.id, rec.updated_at)?;
    let mut n = 0;
    for t in r.touched() {
        sqlx::query(
            "INSERT INTO desired (target, service, release, rollout, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (target, service) DO UPDATE SET \
             release = excluded.release, rollout = excluded.rollout, updated_at = excluded.updated_at",
        )
        .bind(&t.0)
        .bind(&r.service)
        .bind(&release)
        .bind(&r.id)
        .bind(at)
        .execute(&mut *conn)
        .await?;
        let bumped = sqlx::query("UPDATE targets SET desired_version = desired_version + $2 WHERE id = $1")
            .bind(&t.0)
            .bind(changes)
            .execute(&mut *conn)
            .await?;
        if bumped.rows_affected() != 1 {
            return Err(orphan(&t.0));
        }
        n += 1;
    }
    let marked = sqlx::query("UPDATE rollouts SET folded = 1 WHERE id = $1 AND folded = 0")
        .bind(&r.id)
        .execute(&mut *conn)
        .await?;
    if marked.rows_affected() != 1 {
        return Err(StoreError::Conflict {
            what: "rollout",
            id: r.id.clone(),
            expected: "a rollout not folded yet".into(),
            found: "it was folded already".into(),
        });
    }
    Ok(n)
}
