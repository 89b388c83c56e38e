//! `GET /v1/targets`: every enrolled target with its labels and facts, when it was last seen,
//! whether it is connected (reported within three report intervals), and per service what it
//! should run, runs, and holds as known-good, and its last apply failure.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use sluice_api::{TargetServiceView, TargetView};
use sluice_core::time::Dur;

use crate::app::SharedApp;
use crate::auth::Operator;
use crate::clock;
use crate::http_error::HttpResult;

pub async fn list(_: Operator, State(app): State<SharedApp>) -> HttpResult<Json<Vec<TargetView>>> {
    let records = app.store.list_targets().await?;
    let now = clock::now();
    let window = Dur(app.config.report_interval_ms().saturating_mul(3));
    let fleet = app.fleet.read();
    let views = records
        .into_iter()
        .map(|rec| {
            let live = fleet.get(&rec.id);
            let desired = app.desired.get(&rec.id);
            let last_seen = live.map_or(rec.last_seen, |l| l.last_seen.max(rec.last_seen));
            let mut names: BTreeSet<&String> = BTreeSet::new();
            if let Some(d) = &desired {
                names.extend(d.services.keys());
            }
            if let Some(l) = live {
                names.extend(l.services.keys());
            }
            let services = names
                .into_iter()
                .map(|name| {
                    let reported = live.and_then(|l| l.services.get(name));
                    TargetServiceView {
                        service: name.clone(),
                        desired: desired.as_ref().and_then(|d| d.services.get(name)).and_then(|d| d.release.clone()),
                        running: reported.and_then(|s| s.running.clone()),
                        known_good: reported.and_then(|s| s.known_good.clone()),
                        last_failure: reported.and_then(|s| s.last_apply.as_ref()).filter(|a| !a.ok).map(|a| {
                            a.reason.clone().or_else(|| a.detail.clone()).unwrap_or_else(|| "apply failed".into())
                        }),
                    }
                })
                .collect();
            TargetView {
                id: rec.id.clone(),
                labels: live.map_or_else(|| rec.labels.clone(), |l| l.labels.clone()),
                facts: live.map_or_else(|| rec.facts.clone(), |l| l.facts.clone()),
                first_seen: rec.first_seen,
                last_seen,
                connected: now.since(last_seen) <= window,
                services,
            }
        })
        .collect();
    Ok(Json(views))
}
