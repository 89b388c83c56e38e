//! How long the fleet keeps health samples: the longest window any gate may judge — the
//! current spec's gates and every active rollout's plan (a rollout keeps the gates it started
//! with) — plus two report intervals, at least [`MIN_RETENTION`], at most
//! [`SAMPLE_RETENTION`](crate::fleet::SAMPLE_RETENTION). Gates read only `now - window ..= now`,
//! so older samples are memory nobody reads: at 10,000 agents reporting every 5 s, 15 minutes of
//! them were most of the server's ~36 KB per agent. A spec applied later with a longer window
//! starts with less history: its gates stay inconclusive (hold, never pass) until the window
//! fills.

use sluice_core::time::Dur;

use crate::app::App;
use crate::fleet::SAMPLE_RETENTION;

/// The shortest retention, whatever the windows.
pub const MIN_RETENTION: Dur = Dur::mins(1);

/// Set the fleet's retention from the current spec and the active rollouts.
pub fn update(app: &App) {
    let spec = app.spec.get();
    let from_spec = spec
        .iter()
        .flat_map(|s| s.spec.pipelines.values())
        .flat_map(|p| p.stages.iter())
        .flat_map(|st| st.gates.iter())
        .map(|g| g.window());
    let snapshot = app.driver.snapshot();
    let from_rollouts = snapshot
        .active
        .values()
        .flat_map(|rec| rec.rollout.plan.stages.iter())
        .flat_map(|st| st.gates.iter())
        .map(|g| g.window());
    let longest = from_spec.chain(from_rollouts).max().unwrap_or(Dur::ZERO);
    let interval = Dur(app.config.report_interval_ms());
    let retention = (longest + interval + interval).max(MIN_RETENTION).min(SAMPLE_RETENTION);
    app.fleet.set_retention(retention);
    tracing::debug!(retention = %retention, "health samples kept for the longest gate window");
}
