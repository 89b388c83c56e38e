//! Rollouts through the store: the driver's loop end to end, optimistic versions, atomicity of
//! a transition, one active rollout per service, desired-state versions.

use sluice_core::engine::{Command, Event, EventKind, Outcome, Rollout, ServiceState};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;
use sluice_store::{
    DesiredChange, EventSeq, RolloutFilter, SqliteStore, Store, StoreError, Transition, event::kind, split_actions,
};

use crate::fixtures::{self, Obedient, SERVICE};

/// Step the engine against a fleet that runs what the store says, write each transition, until
/// the rollout finishes. Returns the final rollout and its version.
async fn drive(store: &SqliteStore, mut rollout: Rollout, mut version: u64, mut state: ServiceState) -> (Rollout, u64) {
    let mut now = rollout.started_at;
    for _ in 0..100 {
        now = now + sluice_core::time::Dur::secs(61);
        let obs = Obedient::read(store).await;
        let actions = rollout.step(now, &obs);
        if actions.is_empty() {
            continue;
        }
        let (events, desired) = split_actions(&actions);
        let finished = rollout.is_finished();
        if finished {
            state.finished(&rollout, now);
        }
        let t = Transition {
            rollout: &rollout,
            service_state: finished.then_some(&state),
            events: &events,
            desired: &desired,
            actor: "sluice",
            at: now,
        };
        let c = store.commit_transition(version, &t).await.unwrap();
        assert_eq!(c.version, version + 1);
        assert_eq!(c.seqs.len(), events.len());
        assert!(c.seqs.windows(2).all(|w| w[1].0 == w[0].0 + 1), "a transition's events are consecutive");
        version = c.version;
        if finished {
            break;
        }
    }
    (rollout, version)
}

#[tokio::test]
async fn a_rollout_runs_to_completion_through_the_store() {
    let (_dir, store) = fixtures::open().await;
    let targets = fixtures::fleet(&store, 2, 4).await;
    fixtures::releases(&store).await;
    let (rollout, state, first) = fixtures::start(&store, "r1", 10).await;
    assert_eq!(first.version, 1);
    assert_eq!(store.get_service_state(SERVICE).await.unwrap().active.as_deref(), Some("r1"));
    let active = store.list_rollouts(&RolloutFilter::active()).await.unwrap();
    assert_eq!(active.len(), 1);

    let (rollout, version) = drive(&store, rollout, first.version, state).await;
    assert_eq!(rollout.outcome(), Some(Outcome::Completed));

    let stored = store.get_rollout("r1").await.unwrap();
    assert_eq!(stored.rollout, rollout);
    assert_eq!(stored.version, version);
    assert_eq!(stored.created_at, Millis(10));
    assert!(store.list_rollouts(&RolloutFilter::active()).await.unwrap().is_empty());
    let state = store.get_service_state(SERVICE).await.unwrap();
    assert_eq!(state.known_good, Some(ReleaseId::from("sha256:v2")));
    assert_eq!(state.active, None);

    for t in &targets {
        let d = store.desired_for(t).await.unwrap();
        assert_eq!(d.services.len(), 1);
        assert_eq!(d.services[0].release, Some(ReleaseId::from("sha256:v2")));
        assert_eq!(d.services[0].rollout.as_deref(), Some("r1"));
        assert_eq!(d.version, 1, "each target was moved once");
        assert_eq!(store.desired_version(t).await.unwrap(), 1);
    }
    // The snapshot of every target agrees with the per-target reads.
    let all = store.all_desired().await.unwrap();
    assert_eq!(all.len(), targets.len());
    for d in &all {
        assert_eq!(d, &store.desired_for(&d.target).await.unwrap());
    }

    let events = store.events_for_rollout("r1").await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert!(kinds.contains(&"wave_started") && kinds.contains(&"stage_passed"));
    assert_eq!(kinds.iter().filter(|k| **k == kind::SERVICE_STATE_CHANGED).count(), 2, "started and finished");
    assert_eq!(kinds.last(), Some(&kind::SERVICE_STATE_CHANGED));
    assert!(kinds.contains(&"finished"));
    // Every engine event reads back as the engine wrote it.
    let engine: Vec<Event> = events.iter().filter_map(|e| e.engine_event().unwrap()).collect();
    assert!(matches!(engine.last().map(|e| &e.kind), Some(EventKind::Finished { outcome: Outcome::Completed, .. })));
    assert!(events.iter().all(|e| e.service.as_deref() == Some(SERVICE)));
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_and_writes_nothing() {
    let (_dir, store) = fixtures::open().await;
    fixtures::fleet(&store, 1, 2).await;
    fixtures::releases(&store).await;
    let (mut rollout, _, first) = fixtures::start(&store, "r1", 10).await;

    let pause = rollout.command(Millis(20), &Command::Pause { by: "bob".into() }).unwrap();
    let (events, desired) = split_actions(&pause);
    let t = Transition {
        rollout: &rollout,
        service_state: None,
        events: &events,
        desired: &desired,
        actor: "bob",
        at: Millis(20),
    };
    assert_eq!(store.commit_transition(first.version, &t).await.unwrap().version, 2);
    let before = store.last_event_seq().await.unwrap();

    // A second driver that read version 1 too.
    let err = store.commit_transition(first.version, &t).await.unwrap_err();
    match err {
        StoreError::Conflict { what: "rollout", id, expected, found } => {
            assert_eq!((id.as_str(), expected.as_str(), found.as_str()), ("r1", "version 1", "version 2"));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.last_event_seq().await.unwrap(), before);
    assert_eq!(store.get_rollout("r1").await.unwrap().version, 2);
    // A version from the future is no better.
    assert!(store.commit_transition(7, &t).await.unwrap_err().is_conflict());
    // Unknown rollouts are not found.
    let mut ghost = rollout.clone();
    ghost.id = "ghost".into();
    let t =
        Transition { rollout: &ghost, service_state: None, events: &[], desired: &[], actor: "bob", at: Millis(20) };
    assert!(store.commit_transition(1, &t).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn two_drivers_racing_on_one_version_one_wins() {
    let (_dir, store) = fixtures::open().await;
    fixtures::fleet(&store, 1, 2).await;
    fixtures::releases(&store).await;
    let (rollout, _, first) = fixtures::start(&store, "r1", 10).await;
    let mut a = rollout.clone();
    let mut b = rollout.clone();
    let ea = split_actions(&a.command(Millis(20), &Command::Pause { by: "a".into() }).unwrap()).0;
    let eb = split_actions(&b.command(Millis(20), &Command::Abort { by: "b".into() }).unwrap()).0;
    let ta = Transition { rollout: &a, service_state: None, events: &ea, desired: &[], actor: "a", at: Millis(20) };
    let tb = Transition { rollout: &b, service_state: None, events: &eb, desired: &[], actor: "b", at: Millis(20) };
    let (ra, rb) =
        tokio::join!(store.commit_transition(first.version, &ta), store.commit_transition(first.version, &tb));
    assert_eq!(ra.is_ok() as u8 + rb.is_ok() as u8, 1, "exactly one driver writes: {ra:?} {rb:?}");
    let loser = if ra.is_ok() { rb } else { ra };
    assert!(loser.unwrap_err().is_conflict());
    let stored = store.get_rollout("r1").await.unwrap();
    let winner = if stored.rollout == a { "a" } else { "b" };
    let events = store.events_for_rollout("r1").await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.actor, winner, "only the winner's events are in the log");
    assert_eq!(stored.version, 2);
}

#[tokio::test]
async fn a_transition_that_fails_half_way_leaves_nothing_behind() {
    let (dir, store) = fixtures::open().await;
    let targets = fixtures::fleet(&store, 1, 2).await;
    fixtures::releases(&store).await;
    let (mut rollout, mut state, first) = fixtures::start(&store, "r1", 10).await;

    let before_rollout = store.get_rollout("r1").await.unwrap();
    let before_state = store.get_service_state(SERVICE).await.unwrap();
    let before_seq = store.last_event_seq().await.unwrap();
    let mut before_desired = Vec::new();
    for t in &targets {
        before_desired.push(store.desired_for(t).await.unwrap());
    }

    // A real next state: rolled back by a person, the service held.
    let acts = rollout.command(Millis(30), &Command::Rollback { by: "bob".into(), reason: "smoke".into() }).unwrap();
    let (events, mut desired) = split_actions(&acts);
    assert!(!events.is_empty());
    state.known_good = Some("sha256:v2".into());
    // The last write of the transaction fails: after the rollout row, the events and the
    // service state were written inside it.
    let bad_changes = [
        // The database refuses it: foreign key to releases.
        DesiredChange { target: targets[0].clone(), release: Some(ReleaseId::from("sha256:nope")) },
        // The store refuses it: no such target.
        DesiredChange { target: TargetId::from("nobody"), release: Some(ReleaseId::from("sha256:v1")) },
    ];
    for bad in bad_changes {
        desired.push(bad.clone());
        let t = Transition {
            rollout: &rollout,
            service_state: Some(&state),
            events: &events,
            desired: &desired,
            actor: "bob",
            at: Millis(30),
        };
        match store.commit_transition(first.version, &t).await.unwrap_err() {
            StoreError::Database(e) => assert!(e.to_string().contains("FOREIGN KEY"), "{e}"),
            StoreError::NotFound { what: "target", id } => assert_eq!(id, "nobody"),
            other => panic!("unexpected {other:?}"),
        }
        desired.pop();

        assert_eq!(store.get_rollout("r1").await.unwrap(), before_rollout);
        assert_eq!(store.get_service_state(SERVICE).await.unwrap(), before_state);
        assert_eq!(store.last_event_seq().await.unwrap(), before_seq);
        for (t, before) in targets.iter().zip(&before_desired) {
            assert_eq!(&store.desired_for(t).await.unwrap(), before);
        }
    }
    // Nothing of it is in the file either (another connection, no cache).
    let mut raw = fixtures::raw(dir.path()).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&mut raw).await.unwrap();
    assert_eq!(n as u64, before_seq.0);

    // An event of another rollout is refused before anything is written.
    let mut foreign = events.clone();
    foreign[0].rollout = "r9".into();
    let t = Transition {
        rollout: &rollout,
        service_state: None,
        events: &foreign,
        desired: &[],
        actor: "bob",
        at: Millis(30),
    };
    assert!(matches!(store.commit_transition(first.version, &t).await, Err(StoreError::Invalid { .. })));

    // The same transition without the bad change goes through.
    let t = Transition {
        rollout: &rollout,
        service_state: Some(&state),
        events: &events,
        desired: &desired,
        actor: "bob",
        at: Millis(30),
    };
    let c = store.commit_transition(first.version, &t).await.unwrap();
    assert_eq!(c.version, 2);
    assert_eq!(c.seqs.first(), Some(&EventSeq(before_seq.0 + 1)));
    assert_eq!(store.get_rollout("r1").await.unwrap().rollout.phase_name(), "rolling back");
}

#[tokio::test]
async fn one_active_rollout_per_service() {
    let (_dir, store) = fixtures::open().await;
    fixtures::fleet(&store, 1, 2).await;
    fixtures::releases(&store).await;
    store.put_release(&fixtures::release("dns", "sha256:d1", None, 3)).await.unwrap();
    let (mut r1, _, first) = fixtures::start(&store, "r1", 10).await;

    let (r2, acts) = {
        let targets: Vec<_> = store.list_targets().await.unwrap().iter().map(|t| t.info()).collect();
        Rollout::start(
            "r2",
            SERVICE,
            "sha256:v2".into(),
            None,
            &fixtures::pipeline(),
            &targets,
            &Default::default(),
            Millis(11),
        )
        .unwrap()
    };
    let r2_actions = acts;
    let (events, desired) = split_actions(&r2_actions);
    let t = Transition {
        rollout: &r2,
        service_state: None,
        events: &events,
        desired: &desired,
        actor: "a",
        at: Millis(11),
    };
    match store.create_rollout(&t).await.unwrap_err() {
        StoreError::Conflict { what: "service", found, .. } => assert!(found.contains("r1"), "{found}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The same id twice is a conflict too.
    let (events1, desired1) = (vec![], vec![]);
    let t1 = Transition {
        rollout: &r1,
        service_state: None,
        events: &events1,
        desired: &desired1,
        actor: "a",
        at: Millis(11),
    };
    assert!(store.create_rollout(&t1).await.unwrap_err().is_conflict());
    // Another service may roll out meanwhile (its release must exist).
    let mut other = r2.clone();
    other.id = "d1".into();
    other.service = "dns".into();
    other.release = "sha256:d1".into();
    let t = Transition { rollout: &other, service_state: None, events: &[], desired: &[], actor: "a", at: Millis(12) };
    assert_eq!(store.create_rollout(&t).await.unwrap().version, 1);
    let mut missing = other.clone();
    missing.id = "d2".into();
    missing.service = "mail".into();
    missing.release = "sha256:none".into();
    let t =
        Transition { rollout: &missing, service_state: None, events: &[], desired: &[], actor: "a", at: Millis(12) };
    assert!(store.create_rollout(&t).await.unwrap_err().is_not_found());

    // Once r1 is over, r2 may start.
    let acts = r1.command(Millis(20), &Command::Abort { by: "bob".into() }).unwrap();
    let (events, desired) = split_actions(&acts);
    let t = Transition {
        rollout: &r1,
        service_state: None,
        events: &events,
        desired: &desired,
        actor: "bob",
        at: Millis(20),
    };
    let v = store.commit_transition(first.version, &t).await.unwrap().version;
    let obs = Obedient::read(&store).await;
    let acts = r1.step(Millis(21), &obs);
    assert!(r1.is_finished());
    let (events, desired) = split_actions(&acts);
    let t = Transition {
        rollout: &r1,
        service_state: None,
        events: &events,
        desired: &desired,
        actor: "sluice",
        at: Millis(21),
    };
    store.commit_transition(v, &t).await.unwrap();
    let (events, desired) = split_actions(&r2_actions);
    let t = Transition {
        rollout: &r2,
        service_state: None,
        events: &events,
        desired: &desired,
        actor: "a",
        at: Millis(22),
    };
    assert_eq!(store.create_rollout(&t).await.unwrap().version, 1);

    let all = store.list_rollouts(&RolloutFilter::all()).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|r| r.rollout.id.as_str()).collect();
    assert_eq!(ids, ["r2", "d1", "r1"], "newest first");
    let edge = store.list_rollouts(&RolloutFilter::all().service(SERVICE)).await.unwrap();
    assert_eq!(edge.iter().map(|r| r.rollout.id.as_str()).collect::<Vec<_>>(), ["r2", "r1"]);
    let active = store.list_rollouts(&RolloutFilter::active()).await.unwrap();
    assert_eq!(active.iter().map(|r| r.rollout.id.as_str()).collect::<Vec<_>>(), ["r2", "d1"]);
    let limited = store.list_rollouts(&RolloutFilter { limit: Some(1), ..RolloutFilter::all() }).await.unwrap();
    assert_eq!(limited.len(), 1);
}

#[tokio::test]
async fn desired_version_moves_only_when_the_desired_state_changes() {
    let (_dir, store) = fixtures::open().await;
    let targets = fixtures::fleet(&store, 1, 0).await;
    fixtures::releases(&store).await;
    let (rollout, _, first) = fixtures::start(&store, "r1", 10).await;
    let t0 = &targets[0];
    assert_eq!(store.desired_version(t0).await.unwrap(), 1, "the first wave moved it");

    let mut version = first.version;
    let steps: [(Option<&str>, u64); 5] = [
        (Some("sha256:v2"), 1), // unchanged
        (Some("sha256:v1"), 2), // back to known-good
        (None, 3),              // to nothing at all
        (None, 3),              // unchanged
        (Some("sha256:v2"), 4),
    ];
    for (release, expect) in steps {
        let desired = [DesiredChange { target: t0.clone(), release: release.map(ReleaseId::from) }];
        let t = Transition {
            rollout: &rollout,
            service_state: None,
            events: &[],
            desired: &desired,
            actor: "sluice",
            at: Millis(20),
        };
        version = store.commit_transition(version, &t).await.unwrap().version;
        let d = store.desired_for(t0).await.unwrap();
        assert_eq!(d.version, expect);
        assert_eq!(d.services[0].release, release.map(ReleaseId::from));
    }
    // The same target twice in one transition: the last change wins, one bump.
    let desired = [
        DesiredChange { target: t0.clone(), release: None },
        DesiredChange { target: t0.clone(), release: Some("sha256:v1".into()) },
    ];
    let t = Transition {
        rollout: &rollout,
        service_state: None,
        events: &[],
        desired: &desired,
        actor: "sluice",
        at: Millis(30),
    };
    store.commit_transition(version, &t).await.unwrap();
    let d = store.desired_for(t0).await.unwrap();
    assert_eq!((d.version, d.services[0].release.clone()), (5, Some("sha256:v1".into())));
    assert!(store.desired_for(&TargetId::from("nobody")).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn a_corrupt_rollout_is_reported_not_panicked_on() {
    let (dir, store) = fixtures::open().await;
    fixtures::fleet(&store, 1, 1).await;
    fixtures::releases(&store).await;
    fixtures::start(&store, "r1", 10).await;
    let mut raw = fixtures::raw(dir.path()).await;
    sqlx::query("UPDATE rollouts SET state = '{\"id\": \"r1\", \"phase\": 7}' WHERE id = 'r1'")
        .execute(&mut raw)
        .await
        .unwrap();
    match store.get_rollout("r1").await.unwrap_err() {
        StoreError::Corrupt { what: "rollout", id, .. } => assert_eq!(id, "r1"),
        other => panic!("expected corrupt, got {other:?}"),
    }
    assert!(matches!(store.list_rollouts(&RolloutFilter::all()).await, Err(StoreError::Corrupt { .. })));
    sqlx::query("UPDATE targets SET labels = 'not json' WHERE id = 's0'").execute(&mut raw).await.unwrap();
    assert!(matches!(store.get_target(&TargetId::from("s0")).await, Err(StoreError::Corrupt { what: "target", .. })));
    sqlx::query("UPDATE targets SET desired_version = -1 WHERE id = 'p0'").execute(&mut raw).await.unwrap();
    assert!(matches!(store.desired_version(&TargetId::from("p0")).await, Err(StoreError::Corrupt { .. })));
}
