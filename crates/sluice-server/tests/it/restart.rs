//! A server stopped in the middle of a bake and started again on the same data dir resumes the
//! rollout at the same wave and completes it, and the event log has no duplicate and no gap.

use std::collections::BTreeSet;
use std::time::Duration;

use sluice_core::engine::{Outcome, Phase, PhaseKind};

use crate::harness::{self, eventually, start_in};
use crate::rollouts::{finished, fleet, start_req};

/// How the first server stops.
#[derive(Clone, Copy)]
enum Stop {
    /// `shutdown().await`: in-flight work finishes.
    Graceful,
    /// Dropped: its tasks are aborted wherever they are, as in a crash.
    Crash,
}

#[tokio::test]
async fn a_rollout_resumes_after_a_graceful_restart_mid_bake() {
    resumes_after(Stop::Graceful).await;
}

#[tokio::test]
async fn a_rollout_resumes_after_a_crash_mid_bake() {
    resumes_after(Stop::Crash).await;
}

async fn resumes_after(stop: Stop) {
    let t = harness::with_spec().await;
    let agents = fleet(&t.admin).await;
    let v1 = t.admin.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let started = t.admin.start_rollout(&start_req(&v1, Some("restart"))).await.unwrap();
    let baking = eventually("the first prod wave to bake", Duration::from_secs(20), || async {
        let v = t.admin.rollout(&started.id).await.unwrap();
        (v.phase == PhaseKind::Baking && v.position == Some(sluice_api::Position { stage: 1, wave: 0 })).then_some(v)
    })
    .await;
    assert!(baking.bake_ends_at.is_some());
    let harness::TestServer { server, admin: _, dir } = t;
    match stop {
        Stop::Graceful => server.shutdown().await.unwrap(),
        Stop::Crash => drop(server),
    }

    let (server, admin) = start_in(dir.path()).await;
    let resumed = admin.rollout(&started.id).await.unwrap();
    assert_eq!(
        resumed.position,
        Some(sluice_api::Position { stage: 1, wave: 0 }),
        "same stage and wave: {:?}",
        resumed.phase
    );
    assert!(resumed.version >= baking.version);
    for a in &agents {
        a.retarget(&server.base_url());
    }
    let done = finished(&admin, &started.id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{:?}", done.reason);
    for a in &agents {
        assert_eq!(a.running("web").as_ref(), Some(&v1));
    }

    let all = admin.events(0, 10_000, None).await.unwrap();
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>(), "no gap in the log");
    let mine: Vec<_> = all.iter().filter(|e| e.rollout.as_deref() == Some(started.id.as_str())).collect();
    let mut seen = BTreeSet::new();
    for e in &mine {
        if matches!(
            e.kind.as_str(),
            "started" | "wave_started" | "wave_applied" | "wave_passed" | "stage_passed" | "finished"
        ) {
            let key = (e.kind.clone(), e.body["stage"].to_string(), e.body["wave"].to_string());
            assert!(seen.insert(key.clone()), "duplicate event {key:?}");
        }
    }
    let waves: Vec<(String, u64)> = mine
        .iter()
        .filter(|e| e.kind == "wave_started")
        .map(|e| (e.body["stage"].as_str().unwrap().to_string(), e.body["wave"].as_u64().unwrap()))
        .collect();
    assert_eq!(waves, vec![("staging".into(), 0), ("prod".into(), 0), ("prod".into(), 1)]);
    for kind in ["wave_applied", "wave_passed"] {
        assert_eq!(mine.iter().filter(|e| e.kind == kind).count(), 3, "{kind} once per wave");
    }
    assert_eq!(mine.iter().filter(|e| e.kind == "finished").count(), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_refuses_to_start_and_the_first_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (first, admin) = harness::start_in(dir.path()).await;
    let err = sluice_server::start(harness::config(dir.path())).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(&format!("another sluice server (pid {})", std::process::id())), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    // The first one is untouched.
    assert!(admin.targets().await.unwrap().is_empty());
    // Once it stops, the directory is free again.
    first.shutdown().await.unwrap();
    let (again, _) = harness::start_in(dir.path()).await;
    again.shutdown().await.unwrap();
}

/// The active rollout's last transition was committed, then the server died before it started
/// the release queued behind it: the next server starts it (a queue never waits on an event
/// that already happened).
#[tokio::test]
async fn a_queued_release_whose_rollout_ended_before_a_crash_starts_at_the_next_start() {
    use sluice_api::StartAnswer;
    use sluice_core::engine::Command;
    use sluice_store::{Store, Transition, split_actions};
    let t = harness::with_spec().await;
    let _agents = fleet(&t.admin).await;
    let v1 = t.admin.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let v2 = t.admin.create_release("web", harness::web_bundle(2), "v2").await.unwrap().release.id;
    let first = t.admin.start_rollout(&start_req(&v1, Some("slow"))).await.unwrap();
    let StartAnswer::Queued { .. } = t.admin.start_or_queue(&start_req(&v2, None)).await.unwrap() else {
        panic!("v2 should wait behind the first rollout");
    };
    let harness::TestServer { server, admin: _, dir } = t;
    drop(server); // a crash

    // What the dead server had committed last: the first rollout aborted and finished.
    let store = sluice_store::SqliteStore::open(dir.path()).await.unwrap();
    let mut rec = store.get_rollout(&first.id).await.unwrap();
    let mut actions = rec.rollout.command(rec.updated_at, &Command::Abort { by: "test".into(), reason: None }).unwrap();
    let now = rec.updated_at + sluice_core::time::Dur(1);
    rec.rollout.phase = Phase::Finished { outcome: Outcome::Aborted, at: now, why: "aborted by test".into() };
    actions.retain(|a| !matches!(a, sluice_core::engine::Action::RollBack { .. }));
    let mut state = store.get_service_state("web").await.unwrap();
    state.apply(&sluice_core::engine::ServiceChange::finished(&rec.rollout).expect("finished"), now);
    assert!(state.queued.is_some() && state.active.is_none());
    let (events, _) = split_actions(&actions);
    let tr = Transition { rollout: &rec.rollout, service_state: Some(&state), events: &events, actor: "test", at: now };
    store.commit_transition(rec.version, &tr).await.unwrap();
    drop(store);

    let (_server, admin) = start_in(dir.path()).await;
    let next = eventually("the queued release to start", Duration::from_secs(10), || async {
        admin.rollouts(true).await.unwrap().into_iter().find(|v| v.release == v2)
    })
    .await;
    assert_ne!(next.id, first.id);
    let services = admin.services().await.unwrap();
    assert!(services.iter().find(|s| s.service == "web").is_some_and(|s| s.queued.is_none()));
}
