//! A prod wave agent hung mid-bake (SIGSTOP: its process and connections stay, it sends
//! nothing) fails the wave within `silent_after` + 1 s; when it wakes it takes its rollback.

use sluice_core::engine::PhaseKind;
use std::time::Duration;

use sluice_core::engine::{EventKind, Outcome};
use sluice_core::time::Dur;

use super::{INTERVAL, all_run, first, fleet_on_known_good};

/// One wave of three; a bake far longer than the test, so only a failure ends it.
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
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_agent_stopped_mid_bake_fails_the_wave_within_silent_after_and_rolls_back() {
    let (rig, v1) = fleet_on_known_good(&["prod-1", "prod-2", "prod-3"], SPEC).await;
    let v2 = rig.release("files", &[("app.conf", "version=2\n")]).await;
    let r = rig.start_rollout("files", &v2).await;
    rig.wait_rollout(&r.id, "the wave to bake", Duration::from_secs(30), |v| v.phase == PhaseKind::Baking).await;

    let stopped_at = sluice_testkit::clock::now();
    let frozen = rig.agent("prod-2").freeze();
    rig.wait_rollout(&r.id, "the wave to fail", Duration::from_secs(30), |v| {
        v.phase == PhaseKind::RollingBack || v.outcome.is_some()
    })
    .await;
    // Awake again, it takes its rollback like the others.
    frozen.thaw();
    let done = rig.wait_finished(&r.id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{done:#?}");
    all_run(&rig, &v1).await;

    let events = rig.engine_events(&r.id).await;
    let rb = first(&events, "rollback_started", |k| matches!(k, EventKind::RollbackStarted { .. }));
    let EventKind::RollbackStarted { why, .. } = &rb.kind else { unreachable!() };
    assert!(why.contains("silent: prod-2"), "{why}");
    // Default silent_after: three report intervals, counted from its last report (before the
    // stop); one more second for the server to notice.
    let silent_after = INTERVAL.0 * 3;
    let took = rb.at.since(stopped_at);
    eprintln!("silence: rolled back {took} after SIGSTOP (bound {}ms)", silent_after + 1_000);
    assert!(rb.at >= stopped_at, "rolled back before the stop");
    assert!(rb.at <= stopped_at + Dur(silent_after + 1_000), "rolled back {took} after the stop");
}
