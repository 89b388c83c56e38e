//! A rollback whose health probe fails once: the agent switches back to what it ran (the
//! candidate, which passed its own probe), reports the failure (`rollback_failed`), and tries
//! known-good again after its backoff (the first retry within a second) until it lands; the
//! rollout ends `rolled back` with the target on known-good.

use sluice_core::engine::PhaseKind;
use std::time::Duration;

use sluice_agent::{HistoryEvent, ServiceState};
use sluice_api::{CommandKind, RolloutCommand};
use sluice_core::engine::{EventKind, Outcome};
use sluice_core::release::TargetId;
use sluice_core::time::Dur;

use super::{add_prod_agents, bootstrap, first, on_known_good};
use crate::e2e::rig::points_at;

const SPEC: &str = r#"
version: 1
services:
  files:
    pipeline: p
pipelines:
  p:
    stages:
      - name: prod
        selector: { env: prod }
        bake: 10m
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_whose_probe_fails_once_ends_with_the_target_on_known_good() {
    let mut rig = bootstrap().await;
    // The host's probe fails once, the first time it runs after the test lays `flag` down.
    let flag = rig.agent_dir("prod-1").join("fail-next-probe");
    let f = flag.display();
    let health = format!("health: {{command: \"if [ -e {f} ]; then rm {f}; exit 1; fi\", attempts: 1, timeout: 5s}}");
    add_prod_agents(&mut rig, &[("prod-1", health)]).await;
    let v1 = on_known_good(&rig, SPEC).await;
    let v2 = rig.release("files", &[("app.conf", "version=2\n")]).await;
    let r = rig.start_rollout("files", &v2).await;
    rig.wait_rollout(&r.id, "the wave to bake", Duration::from_secs(30), |v| v.phase == PhaseKind::Baking).await;

    std::fs::write(&flag, "").unwrap();
    let cmd = RolloutCommand { reason: Some("e2e: the rollback's probe fails once".into()) };
    rig.admin().command(&r.id, CommandKind::Rollback, &cmd).await.unwrap();
    let done = rig.wait_finished(&r.id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{done:#?}");
    let agent = rig.agent("prod-1");
    assert!(points_at(agent.current_target("files").as_deref(), &v1), "prod-1 is not on known-good");
    assert!(!flag.exists(), "the probe never ran");

    let events = rig.engine_events(&r.id).await;
    let failed = first(&events, "rollback_failed", |k| matches!(k, EventKind::RollbackFailed { .. }));
    let EventKind::RollbackFailed { target, reason } = &failed.kind else { unreachable!() };
    assert_eq!(target, &TargetId("prod-1".into()));
    assert!(reason.contains("probe_failed"), "{reason}");
    let finished = first(&events, "finished", |k| matches!(k, EventKind::Finished { .. }));
    let took = finished.at.since(failed.at);
    // The first retry comes within a second (not at the rollback's 2 m deadline); two more for
    // the switch, the probe and the report on a loaded machine.
    let bound = Dur::secs(3);
    eprintln!("rollback lands: back on known-good {took} after its first return failed (bound {bound})");
    assert!(took <= bound, "back on known-good {took} after the failure");

    // By the agent's own record: switched to v1, its probe failed, switched back; then v1.
    let state = ServiceState::load(&agent.dir.join("services/files/state.json")).unwrap();
    let h = &state.history;
    let back = h.iter().rposition(|e| e.event == HistoryEvent::SwitchedBack && e.release == v1);
    let back = back.unwrap_or_else(|| panic!("no failed return to v1 in {h:#?}"));
    assert!(h[back..].iter().any(|e| e.event == HistoryEvent::RolledBack && e.release == v1), "{h:#?}");
}
