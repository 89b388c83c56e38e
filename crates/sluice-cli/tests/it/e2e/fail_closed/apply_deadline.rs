//! A wave agent killed (-9) before it applies never confirms: the wave fails at its
//! `apply_timeout`, naming it, and the others roll back.

use std::time::Duration;

use sluice_core::engine::{EventKind, Outcome};
use sluice_core::release::TargetId;
use sluice_core::time::Dur;

use super::{all_run, first};
use crate::e2e::fail_closed::fleet_on_known_good;

/// `on_silent: hold` and a short `apply_timeout`: the dead agent's silence (3 s at the rig's
/// 1 s report interval) holds the wave instead of failing it, so the apply deadline is what
/// fires.
const SPEC: &str = r#"
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
        bake: 10m
        on_silent: hold
        apply_timeout: 3s
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
"#;

const APPLY_TIMEOUT: Dur = Dur::secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_agent_killed_before_it_applies_fails_the_wave_at_apply_timeout_naming_it() {
    let (mut rig, v1) = fleet_on_known_good(&["prod-1", "prod-2", "prod-3"], SPEC).await;
    rig.agent_mut("prod-3").kill9();
    let v2 = rig.release("files", &[("app.conf", "version=2\n")]).await;
    let r = rig.start_rollout("files", &v2).await;
    let done = rig.wait_finished(&r.id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{done:#?}");
    // The dead agent still runs v1 by its last report: nothing to undo there.
    rig.agents.retain(|a| a.id != "prod-3");
    all_run(&rig, &v1).await;

    let events = rig.engine_events(&r.id).await;
    let started = first(&events, "wave_started", |k| matches!(k, EventKind::WaveStarted { .. }));
    let timed_out = first(&events, "apply_timed_out", |k| matches!(k, EventKind::ApplyTimedOut { .. }));
    let EventKind::ApplyTimedOut { targets, .. } = &timed_out.kind else { unreachable!() };
    assert_eq!(targets, &vec![TargetId("prod-3".into())]);
    let took = timed_out.at.since(started.at);
    eprintln!("apply deadline: timed out {took} after the wave started (apply_timeout {APPLY_TIMEOUT})");
    assert!(took >= APPLY_TIMEOUT && took <= APPLY_TIMEOUT + Dur(1_000), "timed out {took} after the wave started");
    let rb = first(&events, "rollback_started", |k| matches!(k, EventKind::RollbackStarted { .. }));
    let EventKind::RollbackStarted { why, .. } = &rb.kind else { unreachable!() };
    assert!(why.contains("did not confirm the apply within 3s") && why.contains("prod-3"), "{why}");
}
