//! Fail closed, with real processes: failures that do not report themselves count against the
//! wave. A hung agent (SIGSTOP) and a dead one (kill -9) fail their wave; one bad member is
//! caught on its own, while another is stopped and whatever the others' request counts; a bake
//! counts only time the server watched; a rollback whose probe fails once still lands.
//!
//! Every bound asserted here comes from the issue and is measured on the server's event times
//! (the same wall clock as the test's); waits for a state have generous deadlines. The server
//! asks for a report every second ([`INTERVAL`]), so default `silent_after` is 3 s.

mod apply_deadline;
mod blind_bake;
mod one_bad_member;
mod rollback_lands;
pub(super) mod service_metrics;
mod silence;

use std::time::Duration;

use sluice_core::engine::{Event, EventKind, Outcome};
use sluice_core::release::ReleaseId;
use sluice_core::time::Dur;

use super::rig::{Rig, points_at, wait_for};

/// The rig's report interval (`sluice server --report-interval 1s`).
pub const INTERVAL: Dur = Dur::secs(1);

/// A spec that lets any release through one `prod` stage at once: how each test gets its
/// known-good release before applying the spec it is about.
const BOOTSTRAP: &str = r#"
version: 1
services:
  files:
    pipeline: p
pipelines:
  p:
    max_blast: 100%  # whole waves on purpose: not a test of the blast radius
    stages:
      - name: prod
        selector: { env: prod }
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
"#;

/// A server with [`BOOTSTRAP`] applied; add agents, then [`on_known_good`].
async fn bootstrap() -> Rig {
    Rig::start(BOOTSTRAP).await
}

/// Adds one `env: prod` agent managing `files` per `(id, extra service config)`.
async fn add_prod_agents(rig: &mut Rig, agents: &[(&str, String)]) {
    for (id, extra) in agents {
        rig.add_agent(id, &[("env", "prod")], &[("files", extra.as_str())]).await;
    }
}

/// Once the fleet reports, rolls `version=1` out under [`BOOTSTRAP`] (it becomes known-good),
/// then applies `spec`. Returns the known-good release.
async fn on_known_good(rig: &Rig, spec: &str) -> ReleaseId {
    rig.wait_fleet_ready().await;
    let v1 = rig.release("files", &[("app.conf", "version=1\n")]).await;
    let r = rig.start_rollout("files", &v1).await;
    let done = rig.wait_finished(&r.id, Duration::from_secs(60)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{done:#?}");
    rig.apply_spec(spec).await;
    v1
}

/// A fleet of plain `env: prod` agents `ids` on known-good `version=1`, under `spec`.
async fn fleet_on_known_good(ids: &[&str], spec: &str) -> (Rig, ReleaseId) {
    let mut rig = bootstrap().await;
    let agents: Vec<(&str, String)> = ids.iter().map(|id| (*id, String::new())).collect();
    add_prod_agents(&mut rig, &agents).await;
    let v1 = on_known_good(&rig, spec).await;
    (rig, v1)
}

/// The first event of `events` that `pred` picks, with its time.
pub(super) fn first<'a>(events: &'a [Event], what: &str, pred: impl Fn(&EventKind) -> bool) -> &'a Event {
    events.iter().find(|e| pred(&e.kind)).unwrap_or_else(|| panic!("no {what} event in {events:#?}"))
}

/// Waits until every agent of the rig runs `release` (the server may say `rolled back` a
/// moment before the last link is read here).
pub(super) async fn all_run(rig: &Rig, release: &ReleaseId) {
    wait_for(&format!("every agent to run {release}"), Duration::from_secs(10), || async {
        rig.agents.iter().all(|a| points_at(a.current_target("files").as_deref(), release)).then_some(())
    })
    .await;
}
