//! `GET /metrics`: the server's own metrics as Prometheus text. No token needed: it holds no
//! secrets (see `crate::metrics`).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::app::SharedApp;
use crate::clock;
use crate::metrics::Snapshot;

pub async fn get(State(app): State<SharedApp>) -> impl IntoResponse {
    let phases = app.driver.phases();
    let now = clock::now();
    let connected_within = app.config.report_interval.saturating_mul(3);
    let (connected, targets) = {
        let fleet = app.fleet.read();
        let connected =
            fleet.values().filter(|t| u128::from(now.since(t.last_seen).0) <= connected_within.as_millis()).count();
        (connected, fleet.len())
    };
    let snap = Snapshot {
        phases,
        connected: i64::try_from(connected).unwrap_or(i64::MAX),
        targets: i64::try_from(targets).unwrap_or(i64::MAX),
    };
    let text = app.metrics.encode(&snap);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}
