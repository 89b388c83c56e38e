//! The event log: append inside the caller's transaction, read in `seq` order.

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use super::codec::{self, Cols};
use crate::error::{Result, StoreError};
use crate::event::{EventSeq, NewEvent, StoredEvent};

const COLUMNS: &str = "seq, at, actor, kind, rollout, service, body";

/// Append one event; the database assigns the next `seq`.
pub(crate) async fn append(conn: &mut SqliteConnection, e: &NewEvent) -> Result<EventSeq> {
    Ok(append_sized(conn, e).await?.0)
}

/// [`append`], also saying how many bytes of body it wrote.
pub(crate) async fn append_sized(conn: &mut SqliteConnection, e: &NewEvent) -> Result<(EventSeq, u64)> {
    if e.kind.is_empty() || e.actor.is_empty() {
        return Err(StoreError::Invalid {
            what: "event",
            id: e.kind.clone(),
            why: "an event needs a kind and an actor".into(),
        });
    }
    let body = codec::json("event", &e.kind, &e.body)?;
    let bytes = body.len() as u64;
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO events (at, actor, kind, rollout, service, body) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
    )
    .bind(codec::millis("event", &e.kind, e.at)?)
    .bind(&e.actor)
    .bind(&e.kind)
    .bind(&e.rollout)
    .bind(&e.service)
    .bind(body)
    .fetch_one(&mut *conn)
    .await?;
    let seq = u64::try_from(seq).map(EventSeq).map_err(|_| StoreError::Corrupt {
        what: "event",
        id: seq.to_string(),
        why: "negative sequence number".into(),
    })?;
    Ok((seq, bytes))
}

/// Append events that name a rollout only if it exists (a clear error instead of a foreign-key
/// failure).
pub(crate) async fn append_checked(conn: &mut SqliteConnection, events: &[NewEvent]) -> Result<Vec<EventSeq>> {
    let mut seqs = Vec::with_capacity(events.len());
    for e in events {
        if let Some(r) = &e.rollout {
            let found: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM rollouts WHERE id = $1").bind(r).fetch_optional(&mut *conn).await?;
            if found.is_none() {
                return Err(StoreError::NotFound { what: "rollout", id: r.clone() });
            }
        }
        seqs.push(append(conn, e).await?);
    }
    Ok(seqs)
}

pub(crate) async fn since(conn: &mut SqliteConnection, after: EventSeq, limit: u32) -> Result<Vec<StoredEvent>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"))
        .bind(codec::count("event", "cursor", after.0)?)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn for_rollout(conn: &mut SqliteConnection, rollout: &str) -> Result<Vec<StoredEvent>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM events WHERE rollout = $1 ORDER BY seq"))
        .bind(rollout)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn last_seq(conn: &mut SqliteConnection) -> Result<EventSeq> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events").fetch_one(&mut *conn).await?;
    let seq = seq.unwrap_or(0);
    u64::try_from(seq).map(EventSeq).map_err(|_| StoreError::Corrupt {
        what: "event",
        id: seq.to_string(),
        why: "negative sequence number".into(),
    })
}

fn decode(row: &SqliteRow) -> Result<StoredEvent> {
    let seq = Cols::new(row, "event", "?").u64("seq")?;
    let c = Cols::new(row, "event", seq.to_string());
    Ok(StoredEvent {
        seq: EventSeq(seq),
        at: c.millis("at")?,
        actor: c.text("actor")?,
        kind: c.text("kind")?,
        rollout: c.opt_text("rollout")?,
        service: c.opt_text("service")?,
        body: c.json("body")?,
    })
}
