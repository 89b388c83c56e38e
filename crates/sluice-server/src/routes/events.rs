//! `GET /v1/events?after=N&limit=L&rollout=ID`: the audit log, in order, paged by sequence
//! number, optionally one rollout's.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use sluice_api::EventView;
use sluice_store::{EventSeq, StoredEvent};

use crate::app::SharedApp;
use crate::auth::Operator;
use crate::body::QueryParams;
use crate::http_error::{HttpError, HttpResult};

/// Most events one request returns.
pub const MAX_LIMIT: u32 = 10_000;
const DEFAULT_LIMIT: u32 = 1_000;

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    rollout: Option<String>,
}

pub async fn list(
    _: Operator,
    State(app): State<SharedApp>,
    QueryParams(q): QueryParams<EventsQuery>,
) -> HttpResult<Json<Vec<EventView>>> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit > MAX_LIMIT {
        return Err(HttpError::bad_request(format!("limit {limit} is over the maximum of {MAX_LIMIT}")));
    }
    let after = EventSeq(q.after.unwrap_or(0));
    let events = match q.rollout.as_deref().filter(|r| !r.is_empty()) {
        Some(given) => {
            // The id or a unique prefix of it, as everywhere a rollout is named.
            let id = super::rollouts::resolve_rollout(&app, given).await?;
            app.store
                .events_for_rollout(&id)
                .await?
                .into_iter()
                .filter(|e| e.seq > after)
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .collect()
        }
        None => app.store.events_since(after, limit).await?,
    };
    Ok(Json(events.into_iter().map(view).collect()))
}

fn view(e: StoredEvent) -> EventView {
    EventView {
        seq: e.seq.0,
        at: e.at,
        actor: e.actor,
        kind: e.kind,
        rollout: e.rollout,
        service: e.service,
        body: e.body,
    }
}
