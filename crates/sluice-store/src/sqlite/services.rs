//! Each service's standing between rollouts (`ServiceState`: known-good, active, hold).

use serde_json::json;
use sluice_core::engine::ServiceState;
use sqlx::SqliteConnection;

use super::codec::{self, Cols};
use super::events;
use crate::error::Result;
use crate::event::{NewEvent, kind};
use crate::model::Audit;

pub(crate) async fn get(conn: &mut SqliteConnection, service: &str) -> Result<Option<ServiceState>> {
    let row =
        sqlx::query("SELECT state FROM services WHERE name = $1").bind(service).fetch_optional(&mut *conn).await?;
    row.as_ref().map(|row| Cols::new(row, "service state", service).json("state")).transpose()
}

pub(crate) async fn list(conn: &mut SqliteConnection) -> Result<Vec<(String, ServiceState)>> {
    let rows = sqlx::query("SELECT name, state FROM services ORDER BY name").fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            let name = Cols::new(row, "service state", "?").text("name")?;
            let state = Cols::new(row, "service state", name.clone()).json("state")?;
            Ok((name, state))
        })
        .collect()
}

/// Write a service's state if it changed, with a `service_state_changed` event (tied to
/// `rollout` when a rollout transition changed it). Returns the bytes of data written (the
/// state and the event's body; 0 when the state did not change).
pub(crate) async fn put(
    conn: &mut SqliteConnection,
    service: &str,
    state: &ServiceState,
    audit: &Audit,
    rollout: Option<&str>,
) -> Result<u64> {
    let before = get(conn, service).await?;
    if before.as_ref() == Some(state) || (before.is_none() && *state == ServiceState::default()) {
        return Ok(0);
    }
    let json = codec::json("service state", service, state)?;
    let state_bytes = json.len() as u64;
    sqlx::query(
        "INSERT INTO services (name, state, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
    )
    .bind(service)
    .bind(json)
    .bind(codec::millis("service state", service, audit.at)?)
    .execute(&mut *conn)
    .await?;
    let body = json!({
        "before": before.unwrap_or_default(),
        "after": state,
        "reason": audit.reason,
    });
    let mut event = NewEvent::new(kind::SERVICE_STATE_CHANGED, &audit.actor, audit.at, body).service(service);
    event.rollout = rollout.map(str::to_string);
    let (_, event_bytes) = events::append_sized(conn, &event).await?;
    Ok(state_bytes + event_bytes)
}
