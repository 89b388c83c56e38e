//! After the wave, with real processes: a stage that passed fails during the approval wait; a
//! failure that starts after the last bake is caught in probation and the release never
//! becomes known-good; `sluice rollout revert` returns every target to the previous release
//! with no approval asked; `max_unavailable: 1` never has two targets switching at once
//! (checked from the agents' own apply times).
//!
//! Each agent scrapes a `/metrics` endpoint the test serves ([`ServiceMetrics`]): every request
//! fails on `version=2` once the test arms it — a failure that starts later.

use sluice_core::engine::PhaseKind;
use std::process::Command;
use std::time::Duration;

use sluice_agent::{HistoryEvent, ServiceState};
use sluice_api::{CommandKind, RolloutCommand};
use sluice_core::engine::{EventKind, Outcome};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;

use super::fail_closed::service_metrics::{ServiceMetrics, Traffic};
use super::fail_closed::{all_run, first};
use super::rig::{BIN, Rig};

/// Gets every agent onto `version=1` at once: it becomes known-good.
const BOOTSTRAP: &str = r#"
version: 1
services:
  files:
    pipeline: p
pipelines:
  p:
    max_blast: 100%  # whole waves on purpose: not a test of the blast radius
    stages:
      - name: staging
        selector: { env: staging }
        allow_empty: true
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
      - name: prod
        selector: { env: prod }
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
"#;

/// Every request fails on this release once armed.
const BAD: &str = "version=2";

/// A fleet of `(id, env)` agents on known-good `version=1` under [`BOOTSTRAP`], each scraping
/// an endpoint of its own (disarmed), then `spec` applied.
async fn fleet(agents: &[(&str, &str)], spec: &str) -> (Rig, ReleaseId, Vec<ServiceMetrics>) {
    let mut rig = Rig::start(BOOTSTRAP).await;
    let mut endpoints = Vec::new();
    for (id, env) in agents {
        let current = rig.agent_dir(id).join("services").join("files").join("current");
        let m = ServiceMetrics::serve_armed(current, Traffic { per_scrape: 100, fails_on: Some(BAD) }, false).await;
        rig.add_agent(id, &[("env", env)], &[("files", &m.agent_config())]).await;
        endpoints.push(m);
    }
    rig.wait_fleet_ready().await;
    let v1 = rig.release("files", &[("app.conf", "version=1\n")]).await;
    let r = rig.start_rollout("files", &v1).await;
    let done = rig.wait_finished(&r.id, Duration::from_secs(60)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{done:#?}");
    rig.apply_spec(spec).await;
    (rig, v1, endpoints)
}

async fn known_good(rig: &Rig) -> Option<ReleaseId> {
    let services = rig.admin().services().await.unwrap();
    services.into_iter().find(|s| s.service == "files").and_then(|s| s.known_good)
}

fn rollback_why(events: &[sluice_core::engine::Event]) -> String {
    let rb = first(events, "rollback_started", |k| matches!(k, EventKind::RollbackStarted { .. }));
    let EventKind::RollbackStarted { why, .. } = &rb.kind else { unreachable!() };
    why.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_failing_during_the_approval_wait_rolls_everything_back() {
    const SPEC: &str = r#"
version: 1
services:
  files:
    pipeline: p
pipelines:
  p:
    max_blast: 100%  # whole waves on purpose: not a test of the blast radius
    stages:
      - name: staging
        selector: { env: staging }
        bake: 2s
        gates:
          - threshold: { name: http-errors, metric: error_rate, max: 0.01, window: 5s, min_samples: 2 }
      - name: prod
        selector: { env: prod }
        approval: true
        gates:
          - threshold: { name: http-errors, metric: error_rate, max: 0.01, window: 5s, min_samples: 2 }
"#;
    let (rig, v1, endpoints) =
        fleet(&[("staging-1", "staging"), ("staging-2", "staging"), ("prod-1", "prod")], SPEC).await;
    let v2 = rig.release("files", &[("app.conf", &format!("{BAD}\n"))]).await;
    let r = rig.start_rollout("files", &v2).await;
    rig.wait_rollout(&r.id, "the approval wait", Duration::from_secs(60), |v| v.phase == PhaseKind::AwaitingApproval)
        .await;
    // Staging passed and prod waits for a person; now staging starts failing every request.
    endpoints[0].arm();
    endpoints[1].arm();
    let done = rig.wait_finished(&r.id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{done:#?}");
    let events = rig.engine_events(&r.id).await;
    let watch = first(&events, "watch_failed", |k| matches!(k, EventKind::WatchFailed { .. }));
    assert!(matches!(&watch.kind, EventKind::WatchFailed { stage, .. } if stage == "staging"), "{watch:?}");
    let why = rollback_why(&events);
    assert!(why.contains("stage staging (passed earlier; failed while awaiting approval)"), "{why}");
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::Approved { .. })), "nobody approved");
    all_run(&rig, &v1).await;
    assert_eq!(known_good(&rig).await, Some(v1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_probation_rolls_back_and_the_release_never_becomes_known_good() {
    const SPEC: &str = r#"
version: 1
services:
  files:
    pipeline: p
pipelines:
  p:
    probation: 60s
    max_blast: 100%  # whole waves on purpose: not a test of the blast radius
    stages:
      - name: prod
        selector: { env: prod }
        bake: 2s
        gates:
          - threshold: { name: http-errors, metric: error_rate, max: 0.01, window: 5s, min_samples: 2 }
"#;
    let (rig, v1, endpoints) = fleet(&[("prod-1", "prod"), ("prod-2", "prod")], SPEC).await;
    let v2 = rig.release("files", &[("app.conf", &format!("{BAD}\n"))]).await;
    let r = rig.start_rollout("files", &v2).await;
    let on_probation =
        rig.wait_rollout(&r.id, "probation", Duration::from_secs(60), |v| v.phase == PhaseKind::OnProbation).await;
    assert!(on_probation.deadlines.iter().any(|d| d.what == "probation"), "{:?}", on_probation.deadlines);
    assert_eq!(known_good(&rig).await, Some(v1.clone()), "not known-good while on probation");
    // Past the last bake: one host starts failing every request.
    endpoints[1].arm();
    let done = rig.wait_finished(&r.id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{done:#?}");
    let events = rig.engine_events(&r.id).await;
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::ProbationStarted { .. })));
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::ProbationPassed { .. })));
    let why = rollback_why(&events);
    assert!(why.contains("failed in probation") && why.contains("never became known-good"), "{why}");
    all_run(&rig, &v1).await;
    assert_eq!(known_good(&rig).await, Some(v1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_revert_after_a_completed_rollout_returns_every_target_without_approval() {
    const SPEC: &str = r#"
version: 1
services:
  files:
    pipeline: p
pipelines:
  p:
    probation: 1s
    max_blast: 100%  # whole waves on purpose: not a test of the blast radius
    stages:
      - name: staging
        selector: { env: staging }
        bake: 1s
        gates:
          - threshold: { name: http-errors, metric: error_rate, max: 0.01, window: 5s, min_samples: 2 }
      - name: prod
        selector: { env: prod }
        approval: true
        bake: 1s
        gates:
          - threshold: { name: http-errors, metric: error_rate, max: 0.01, window: 5s, min_samples: 2 }
"#;
    let (rig, v1, _endpoints) = fleet(&[("staging-1", "staging"), ("prod-1", "prod"), ("prod-2", "prod")], SPEC).await;
    let v2 = rig.release("files", &[("app.conf", "version=3\n")]).await;
    let r = rig.start_rollout("files", &v2).await;
    rig.wait_rollout(&r.id, "the approval", Duration::from_secs(60), |v| v.phase == PhaseKind::AwaitingApproval).await;
    // The author (the admin token) may not approve its own rollout; a second person does.
    let own = rig.admin().command(&r.id, CommandKind::Approve, &RolloutCommand::default()).await.unwrap_err();
    assert_eq!(own.code(), Some(sluice_api::ErrorCode::Forbidden), "{own}");
    let bob = rig
        .admin()
        .create_token(&sluice_api::NewApiToken { name: "bob".into(), role: sluice_api::Role::Approver, services: None })
        .await
        .unwrap();
    rig.admin()
        .with_token(Some(bob.secret))
        .command(&r.id, CommandKind::Approve, &RolloutCommand { reason: Some("looks fine".into()) })
        .await
        .unwrap();
    let done = rig.wait_finished(&r.id, Duration::from_secs(60)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{done:#?}");
    all_run(&rig, &v2).await;
    assert_eq!(known_good(&rig).await, Some(v2.clone()));

    // The release turns out bad after all: revert, from the command line.
    let token = std::fs::read_to_string(rig.data_dir().join("admin.token")).unwrap();
    let out = Command::new(BIN)
        .args(["rollout", "revert", "files", "--reason", "v3 corrupts carts", "--wait", "--server"])
        .arg(rig.base_url())
        .env("SLUICE_TOKEN", token.trim())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "revert failed: {stdout}\n{stderr}");
    let revert_id = stdout.lines().next().unwrap_or_default().trim().to_string();
    let reverted = rig.admin().rollout(&revert_id).await.unwrap();
    assert_eq!(reverted.outcome, Some(Outcome::Completed), "{reverted:#?}");
    assert_eq!(reverted.release, v1);
    all_run(&rig, &v1).await;
    assert_eq!(known_good(&rig).await, Some(v1.clone()));
    let events = rig.engine_events(&revert_id).await;
    let started = first(&events, "started", |k| matches!(k, EventKind::Started { .. }));
    let EventKind::Started { revert, reason, emergency, .. } = &started.kind else { unreachable!() };
    assert!(*revert && *emergency, "{started:?}");
    assert_eq!(reason.as_deref(), Some("revert by admin: v3 corrupts carts"));
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::AwaitingApproval { .. })), "no approval asked");
    // A revert is not itself rolled back to somewhere older.
    let err = rig
        .admin()
        .command(&revert_id, CommandKind::Rollback, &RolloutCommand { reason: Some("undo".into()) })
        .await
        .expect_err("a revert cannot be rolled back");
    assert!(err.to_string().contains("was a revert"), "{err}");
    // Nothing earlier to go back to now: a second revert is refused, clearly.
    let again = rig.admin().revert("files", &sluice_api::Revert { reason: "again".into() }).await;
    let err = again.expect_err("nothing to revert to");
    assert!(err.to_string().contains("no earlier known-good"), "{err}");
}

/// When `agent` switched to `release`, by its own record.
fn applied_at(rig: &Rig, agent: &str, release: &ReleaseId) -> Millis {
    let state = ServiceState::load(&rig.agent(agent).dir.join("services/files/state.json")).unwrap();
    state
        .history
        .iter()
        .rev()
        .find(|h| &h.release == release && h.event == HistoryEvent::Applied)
        .unwrap_or_else(|| panic!("{agent} never applied {release}: {:#?}", state.history))
        .at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_unavailable_one_never_has_two_targets_switching_at_once() {
    const SPEC: &str = r#"
version: 1
services:
  files:
    pipeline: p
pipelines:
  p:
    probation: 0s
    max_blast: 100%  # whole waves on purpose: not a test of the blast radius
    stages:
      - name: prod
        selector: { env: prod }
        max_unavailable: 1
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
"#;
    let ids: Vec<String> = (1..=6).map(|i| format!("prod-{i}")).collect();
    let agents: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "prod")).collect();
    let (rig, _v1, _endpoints) = fleet(&agents, SPEC).await;
    let v2 = rig.release("files", &[("app.conf", "version=4\n")]).await;
    let r = rig.start_rollout("files", &v2).await;
    let done = rig.wait_finished(&r.id, Duration::from_secs(90)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{done:#?}");
    let events = rig.engine_events(&r.id).await;
    // The events name the moves by their place in the stage's wave order; the rollout's
    // targets give the names.
    let plan = rig.admin().rollout_targets(&r.id).await.unwrap();
    let order = &plan.stages.iter().find(|s| s.name == "prod").unwrap().targets;
    let released: Vec<(Millis, TargetId)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MovesReleased { begin, end, .. } => {
                assert_eq!(end - begin, 1, "one move at a time: {:?}", e.kind);
                Some((e.at, order[*begin].clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(released.len(), 6, "{released:?}");
    // Each move was released only after the one before it had switched, by that agent's own
    // clock (the same machine's): never two switching at once.
    for pair in released.windows(2) {
        let (_, before) = &pair[0];
        let (at, after) = &pair[1];
        let switched = applied_at(&rig, &before.0, &v2);
        eprintln!("{before} switched at {switched:?}; {after} told at {at:?}");
        assert!(*at >= switched, "{after} was told at {at:?}, before {before} switched at {switched:?}");
    }
}
