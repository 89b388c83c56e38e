//! One bad member is judged on its own: caught while another member of its wave is stopped
//! (gates run from the first apply, not once the whole wave confirmed), and not hidden by a
//! member that counts a million good requests (each target may breach a threshold alone at
//! most `max_failing_targets` times, default 0). The traffic is the agents' real scrape of a
//! `/metrics` endpoint the test serves ([`ServiceMetrics`]).

use sluice_core::engine::PhaseKind;
use std::time::Duration;

use sluice_agent::{HistoryEvent, ServiceState};
use sluice_core::engine::{EventKind, Outcome, Verdict};
use sluice_core::release::ReleaseId;
use sluice_core::time::{Dur, Millis};

use super::service_metrics::{ServiceMetrics, Traffic};
use super::{INTERVAL, add_prod_agents, all_run, bootstrap, first, on_known_good};
use crate::e2e::rig::Rig;

/// One wave; `min_samples: 2` — a member breaches alone on two reports of its own. `on_silent:
/// hold`, so the stopped member holds the wave rather than failing it: what catches the bad
/// member is its own gate, not the other's silence.
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
        gates:
          - threshold: { name: http-errors, metric: error_rate, max: 0.01, window: 30s, min_samples: 2 }
"#;

/// What a report takes from its scrape to the server's step, at most, on a loaded machine.
const LATENCY: Dur = Dur(500);

/// `version=2` fails every request on the hosts that play it so.
const BAD: &str = "version=2";

/// A fleet on known-good under [`SPEC`], each agent scraping its own endpoint.
async fn fleet(members: &[(&'static str, Traffic)]) -> (Rig, ReleaseId, Vec<ServiceMetrics>) {
    let mut rig = bootstrap().await;
    let mut endpoints = Vec::new();
    let mut agents = Vec::new();
    for (id, traffic) in members {
        let current = rig.agent_dir(id).join("services").join("files").join("current");
        let m = ServiceMetrics::serve(current, *traffic).await;
        agents.push((*id, m.agent_config()));
        endpoints.push(m);
    }
    add_prod_agents(&mut rig, &agents).await;
    let v1 = on_known_good(&rig, SPEC).await;
    (rig, v1, endpoints)
}

/// When `agent` switched to `release`, by its own record.
fn applied_at(rig: &Rig, agent: &str, release: &ReleaseId) -> Millis {
    let state = ServiceState::load(&rig.agent(agent).dir.join("services/files/state.json")).unwrap();
    state
        .history
        .iter()
        .find(|h| &h.release == release && h.event == HistoryEvent::Applied)
        .unwrap_or_else(|| panic!("{agent} never applied {release}: {:#?}", state.history))
        .at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_failing_every_request_is_caught_within_two_intervals_while_another_is_stopped() {
    let steady = Traffic { per_scrape: 100, fails_on: None };
    let bad = Traffic { per_scrape: 100, fails_on: Some(BAD) };
    // A wave of two, as one bad member among few: the aggregate is the bad member's alone.
    let (rig, v1, _endpoints) = fleet(&[("prod-1", steady), ("prod-2", bad)]).await;
    // prod-1 hangs before it is told anything: it will never confirm the apply.
    let frozen = rig.agent("prod-1").freeze();
    let v2 = rig.release("files", &[("app.conf", &format!("{BAD}\n"))]).await;
    let r = rig.start_rollout("files", &v2).await;
    rig.wait_rollout(&r.id, "the wave to fail", Duration::from_secs(30), |v| {
        v.phase == PhaseKind::RollingBack || v.outcome.is_some()
    })
    .await;
    let events = rig.engine_events(&r.id).await;
    // Caught while the wave was still applying: prod-1 never confirmed.
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::WaveApplied { .. })), "{events:#?}");
    let rb = first(&events, "rollback_started", |k| matches!(k, EventKind::RollbackStarted { .. }));
    let EventKind::RollbackStarted { why, .. } = &rb.kind else { unreachable!() };
    assert!(why.contains("breaching on their own: prod-2 error_rate = 1"), "{why}");
    // Judged on prod-2's second report of its own (the aggregate is prod-2's alone: prod-1
    // never ran the candidate)…
    let failed = first(
        &events,
        "failing gate",
        |k| matches!(k, EventKind::Gate { eval, .. } if eval.gate == "http-errors" && eval.verdict == Verdict::Fail),
    );
    let EventKind::Gate { eval, .. } = &failed.kind else { unreachable!() };
    assert_eq!(eval.samples, 2, "{eval:#?}");
    // …which the agent sends within two report intervals of its apply (the first interval
    // after the switch may be cut short). Allowed on top: the scrape, the post and the
    // server's step, on a loaded test machine.
    let applied = applied_at(&rig, "prod-2", &v2);
    let took = rb.at.since(applied);
    let bound = Dur(INTERVAL.0 * 2) + LATENCY;
    eprintln!("one bad member, another stopped: rolled back {took} after prod-2 applied (bound {bound})");
    assert!(rb.at <= applied + bound, "rolled back {took} after prod-2 applied");

    // prod-1 still ran v1 when it stopped: nothing to undo there.
    let done = rig.wait_finished(&r.id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{done:#?}");
    frozen.thaw();
    all_run(&rig, &v1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_inflating_its_request_count_does_not_hide_another_failing_every_request() {
    let inflating = Traffic { per_scrape: 1_000_000, fails_on: None };
    let bad = Traffic { per_scrape: 10, fails_on: Some(BAD) };
    let steady = Traffic { per_scrape: 100, fails_on: None };
    let (rig, v1, _endpoints) = fleet(&[("prod-1", inflating), ("prod-2", bad), ("prod-3", steady)]).await;
    let v2 = rig.release("files", &[("app.conf", &format!("{BAD}\n"))]).await;
    let r = rig.start_rollout("files", &v2).await;
    let done = rig.wait_finished(&r.id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{done:#?}");
    all_run(&rig, &v1).await;

    let events = rig.engine_events(&r.id).await;
    let failed = first(
        &events,
        "failing gate",
        |k| matches!(k, EventKind::Gate { eval, .. } if eval.gate == "http-errors" && eval.verdict == Verdict::Fail),
    );
    let EventKind::Gate { eval, .. } = &failed.kind else { unreachable!() };
    // The wave's aggregate is within bounds — a million good requests drown ten bad ones —
    // and the gate fails on prod-2 alone.
    let aggregate = eval.value.unwrap_or_else(|| panic!("no aggregate value: {eval:#?}"));
    assert!(aggregate <= 0.01, "the aggregate alone fails: {eval:#?}");
    assert_eq!(eval.max_failing_targets, Some(0));
    assert_eq!(eval.failing_targets.len(), 1, "{eval:#?}");
    assert!(eval.failing_targets[0].starts_with("prod-2 error_rate = 1"), "{eval:#?}");
    eprintln!("inflated neighbour: aggregate error_rate {aggregate}, {}", eval.reason);
}
