//! The live fleet as the spec's fleet checks see it (`sluice_core::spec::fleet_check`), run at
//! `POST /v1/specs` and at rollout start: every enrolled target with its labels and facts (as
//! the planner sees them), the services it runs or is being moved to, and per service the gate
//! metrics it produces — what its agent says it reports, and what its recent samples carry.

use std::collections::BTreeSet;

use sluice_core::engine::Sample;
use sluice_core::spec::check::Problem;
use sluice_core::spec::fleet_check::{FleetTarget, Reported};
use sluice_core::time::Dur;

use crate::app::App;
use crate::fleet::ServiceLive;
use crate::http_error::HttpResult;

/// Every enrolled target, by id.
pub async fn live_fleet(app: &App) -> HttpResult<Vec<FleetTarget>> {
    let records = app.store.list_targets().await?;
    let desired: Vec<_> = records.iter().map(|r| app.desired.get(&r.id)).collect();
    let fleet = app.fleet.read();
    let targets = records
        .iter()
        .zip(desired)
        .map(|(r, desired)| {
            let mut t = FleetTarget::new(r.info());
            if let Some(live) = fleet.get(&r.id) {
                for (name, s) in &live.services {
                    if s.running.is_some() {
                        t.running.insert(name.clone());
                    }
                    t.reported.insert(name.clone(), reported(s));
                }
            }
            for (name, d) in desired.iter().flat_map(|d| d.services.iter()) {
                if d.release.is_some() {
                    t.running.insert(name.clone());
                }
            }
            t
        })
        .collect();
    Ok(targets)
}

/// The report interval the checks judge windows by.
pub fn report_interval(app: &App) -> Dur {
    Dur(app.config.report_interval_ms())
}

/// `file:line:col: at `path`: message`, one per problem.
pub fn located(file: &str, problems: &[Problem]) -> Vec<String> {
    problems.iter().map(|p| format!("{file}:{p}")).collect()
}

fn reported(s: &ServiceLive) -> Reported {
    let mut metrics: BTreeSet<String> = s.advertised.clone().unwrap_or_default();
    for sample in &s.samples {
        metrics.extend(carried(sample));
    }
    Reported { metrics, complete: s.advertised.is_some() }
}

/// The gate metrics a sample gives a value for (as `engine::gates` reads them).
fn carried(s: &Sample) -> impl Iterator<Item = String> + '_ {
    let builtins = [
        Some("crash_rate"),
        (s.requests > 0).then_some("error_rate"),
        s.latency_p50_ms.is_some().then_some("latency_p50_ms"),
        s.latency_p99_ms.is_some().then_some("latency_p99_ms"),
    ];
    builtins.into_iter().flatten().map(str::to_string).chain(s.metrics.keys().cloned())
}
