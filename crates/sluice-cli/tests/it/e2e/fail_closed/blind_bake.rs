//! The server down for longer than the bake: nobody watched, so none of that time counts. The
//! wave passes only after a full bake observed — time before the kill plus time after the
//! restart — never on the wall clock's say-so.

use sluice_core::engine::PhaseKind;
use std::time::Duration;

use sluice_core::engine::{EventKind, Outcome};
use sluice_core::time::Dur;

use super::{all_run, first, fleet_on_known_good};

/// `silent_after: 15s`: agents rejoin a restarted server within their reconnect backoff (up to
/// 5 s), which must not read as silence; this test is about the bake clock.
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
        bake: 4s
        silent_after: 15s
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
"#;

const BAKE: Dur = Dur::secs(4);
/// Longer than the bake.
const OUTAGE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_longer_than_the_bake_the_wave_passes_only_after_a_full_observed_bake() {
    let (mut rig, _v1) = fleet_on_known_good(&["prod-1", "prod-2"], SPEC).await;
    let v2 = rig.release("files", &[("app.conf", "version=2\n")]).await;
    let r = rig.start_rollout("files", &v2).await;
    rig.wait_rollout(&r.id, "a second of bake observed", Duration::from_secs(30), |v| {
        v.phase == PhaseKind::Baking && v.observed_ms.is_some_and(|o| o >= Dur::secs(1).0)
    })
    .await;
    rig.kill9_server();
    let killed = sluice_testkit::clock::now();
    // The outage itself: this is the scenario's length, not a wait for a state.
    tokio::time::sleep(OUTAGE).await;
    let restarted = sluice_testkit::clock::now();
    rig.start_server().await;
    let done = rig.wait_finished(&r.id, Duration::from_secs(60)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{done:#?}");
    all_run(&rig, &v2).await;

    let events = rig.engine_events(&r.id).await;
    let baking = first(&events, "wave_applied", |k| matches!(k, EventKind::WaveApplied { .. }));
    let passed = first(&events, "wave_passed", |k| matches!(k, EventKind::WavePassed { .. }));
    // At most the wall time from the bake's start to the kill was observed before; the rest
    // of the bake must be observed after the restart (which the server cannot start watching
    // before it was launched).
    let before = killed.since(baking.at);
    assert!(before < BAKE, "killed {before} into a {BAKE} bake: the test did not kill mid-bake");
    let needed = Dur(BAKE.0 - before.0);
    let after = passed.at.since(restarted);
    eprintln!(
        "blind bake: {before} baked before the kill, {}ms down, passed {after} after the restart (at least {needed} needed)",
        OUTAGE.as_millis()
    );
    assert!(passed.at >= restarted, "passed during the outage");
    assert!(after >= needed, "passed {after} after the restart, only {before} baked before a {BAKE} bake");
}
