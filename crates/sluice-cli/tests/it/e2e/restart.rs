//! kill -9 the server mid-bake, start it again: the rollout resumes at the same wave and
//! completes, and the audit log has every event exactly once.

use sluice_api::Position;
use sluice_core::engine::PhaseKind;
use std::collections::BTreeMap;
use std::time::Duration;

use sluice_core::engine::Outcome;

use super::rig::{Rig, points_at};

pub const SPEC: &str = r#"
version: 1
services:
  files:
    pipeline: p
pipelines:
  p:
    stages:
      - name: dev
        selector: { env: dev }
        bake: 1s
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
      - name: prod
        selector: { env: prod }
        waves: [1, "100%"]
        bake: 4s
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 2 }
"#;

pub async fn fleet(spec: &str) -> Rig {
    let mut rig = Rig::start(spec).await;
    rig.add_agent("dev-1", &[("env", "dev")], &[("files", "")]).await;
    for i in 1..=3 {
        rig.add_agent(&format!("prod-{i}"), &[("env", "prod")], &[("files", "")]).await;
    }
    rig.wait_fleet_ready().await;
    rig
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_bake_resumes_at_the_same_wave_with_no_event_lost_or_doubled() {
    let mut rig = fleet(SPEC).await;
    let v1 = rig.release("files", &[("app.conf", "version=1\n")]).await;
    let r1 = rig.start_rollout("files", &v1).await;
    let done = rig.wait_finished(&r1.id, Duration::from_secs(60)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{done:#?}");

    let v2 = rig.release("files", &[("app.conf", "version=2\n")]).await;
    let r2 = rig.start_rollout("files", &v2).await;
    let baking = rig
        .wait_rollout(&r2.id, "prod wave 1 to bake", Duration::from_secs(60), |v| {
            v.phase == PhaseKind::Baking && v.position == Some(Position { stage: 1, wave: 0 })
        })
        .await;
    let before = rig.admin().events(0, 10_000, None).await.unwrap();
    rig.kill9_server();

    rig.start_server().await;
    let after_restart = rig.admin().rollout(&r2.id).await.unwrap();
    assert_eq!(
        after_restart.position,
        Some(Position { stage: 1, wave: 0 }),
        "resumed elsewhere: {}",
        after_restart.phase
    );
    assert_eq!(after_restart.version, baking.version.max(after_restart.version));

    let done = rig.wait_finished(&r2.id, Duration::from_secs(60)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{done:#?}");
    let agents_on_v2 = super::rig::wait_for("every agent to run v2", Duration::from_secs(10), || async {
        rig.agents.iter().all(|a| points_at(a.current_target("files").as_deref(), &v2)).then_some(())
    });
    agents_on_v2.await;

    // The log: contiguous sequence numbers; what was there before the kill is unchanged.
    let events = rig.admin().events(0, 10_000, None).await.unwrap();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "gap or duplicate at {i}: {e:?}");
    }
    assert_eq!(&events[..before.len()], &before[..], "events before the kill changed");
    // Each step of the second rollout happened exactly once.
    let mut steps: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for e in events.iter().filter(|e| e.rollout.as_deref() == Some(r2.id.as_str())) {
        if matches!(e.kind.as_str(), "started" | "wave_started" | "wave_passed" | "stage_passed" | "finished") {
            let field = |k: &str| e.body.get(k).map(|v| v.to_string()).unwrap_or_default();
            *steps.entry((e.kind.clone(), field("stage"), field("wave"))).or_default() += 1;
        }
    }
    assert!(steps.values().all(|&n| n == 1), "a step was recorded twice: {steps:?}");
    // dev wave, prod wave 1 and 2.
    assert_eq!(steps.keys().filter(|k| k.0 == "wave_started").count(), 3, "{steps:?}");
}

/// The window between the commit and the wake-up: the server commits the transition that
/// starts prod's first wave and dies (a failpoint aborts it, as kill -9 would) before any
/// long-poll hears of it. Nothing in the store says "these targets were told" per target: the
/// restarted server derives the desired state from the rollout's stored plan and state, the
/// wave's agents get the candidate, and no step is taken twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_commit_and_the_wake_up_loses_no_move() {
    let mut rig = fleet(SPEC).await;
    let v1 = rig.release("files", &[("app.conf", "version=1\n")]).await;
    let r1 = rig.start_rollout("files", &v1).await;
    let done = rig.wait_finished(&r1.id, Duration::from_secs(60)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{done:#?}");

    // Armed: the first transition that moves targets is the start (dev), the second prod's
    // first wave.
    rig.kill9_server();
    rig.start_server_with(&[("SLUICE_FAILPOINT", "abort-after-moves:2")]).await;
    let v2 = rig.release("files", &[("app.conf", "version=2\n")]).await;
    let r2 = rig.start_rollout("files", &v2).await;
    let status = rig.wait_server_exit(Duration::from_secs(60)).await;
    assert!(!status.success(), "the failpoint aborts the server: {status}");
    // Nobody in prod was told before the crash.
    for a in rig.agents.iter().filter(|a| a.id.starts_with("prod")) {
        assert!(points_at(a.current_target("files").as_deref(), &v1), "{} moved before the wake-up", a.id);
    }

    rig.start_server().await;
    let after = rig.admin().rollout(&r2.id).await.unwrap();
    assert_eq!(after.stages[1].waves[0].state, "applying", "prod wave 1 was committed: {after:#?}");
    let targets = rig.admin().rollout_targets(&r2.id).await.unwrap();
    let first: Vec<String> =
        targets.stages[1].targets[..targets.stages[1].wave_ends[0]].iter().map(|t| t.0.clone()).collect();
    assert_eq!(targets.stages[1].told, first.len());
    // The wave's agents hear of it from the restarted server.
    super::rig::wait_for("prod wave 1 to run v2", Duration::from_secs(20), || async {
        rig.agents
            .iter()
            .filter(|a| first.contains(&a.id))
            .all(|a| points_at(a.current_target("files").as_deref(), &v2))
            .then_some(())
    })
    .await;
    let done = rig.wait_finished(&r2.id, Duration::from_secs(60)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{done:#?}");

    let events = rig.admin().events(0, 10_000, None).await.unwrap();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "gap or duplicate at {i}: {e:?}");
    }
    let waves: Vec<String> = events
        .iter()
        .filter(|e| e.rollout.as_deref() == Some(r2.id.as_str()) && e.kind == "wave_started")
        .map(|e| format!("{}/{}", e.body["stage"], e.body["wave"]))
        .collect();
    assert_eq!(waves, ["\"dev\"/0", "\"prod\"/0", "\"prod\"/1"], "each wave started once");
}
