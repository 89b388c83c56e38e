//! Rollouts through the store: the driver's loop end to end, optimistic versions, atomicity of
//! a transition, one active rollout per service, desired-state versions.

use sluice_core::engine::{Command, Event, EventKind, Outcome, Rollout, ServiceState};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;
use sluice_store::{EventSeq, RolloutFilter, SqliteStore, Store, StoreError, Transition, event::kind, split_actions};

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
        let (events, _) = split_actions(&actions);
        let finished = rollout.is_finished();
        if finished {
            state.apply(&sluice_core::engine::ServiceChange::finished(&rollout).expect("finished"), now);
        }
        let t = Transition {
            rollout: &rollout,
            service_state: finished.then_some(&state),
            events: &events,
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

    let pause = rollout.command(Millis(20), &Command::Pause { by: "bob".into(), reason: None }).unwrap();
    let (events, _) = split_actions(&pause);
    let t = Transition { rollout: &rollout, service_state: None, events: &events, actor: "bob", at: Millis(20) };
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
    let t = Transition { rollout: &ghost, service_state: None, events: &[], actor: "bob", at: Millis(20) };
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
    let ea = split_actions(&a.command(Millis(20), &Command::Pause { by: "a".into(), reason: None }).unwrap()).0;
    let eb = split_actions(&b.command(Millis(20), &Command::Abort { by: "b".into(), reason: None }).unwrap()).0;
    let ta = Transition { rollout: &a, service_state: None, events: &ea, actor: "a", at: Millis(20) };
    let tb = Transition { rollout: &b, service_state: None, events: &eb, actor: "b", at: Millis(20) };
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
    let (events, _) = split_actions(&acts);
    assert!(!events.is_empty());
    state.known_good = Some("sha256:v2".into());
    // The last write of the transaction fails (a fault injected in the database): the rollout
    // row and the events were written inside it before.
    let mut raw = fixtures::raw(dir.path()).await;
    for op in ["INSERT", "UPDATE"] {
        sqlx::query(&format!(
            "CREATE TRIGGER fail_{op} BEFORE {op} ON services BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        ))
        .execute(&mut raw)
        .await
        .unwrap();
    }
    let t =
        Transition { rollout: &rollout, service_state: Some(&state), events: &events, actor: "bob", at: Millis(30) };
    match store.commit_transition(first.version, &t).await.unwrap_err() {
        StoreError::Database(e) => assert!(e.to_string().contains("injected fault"), "{e}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(store.get_rollout("r1").await.unwrap(), before_rollout);
    assert_eq!(store.get_service_state(SERVICE).await.unwrap(), before_state);
    assert_eq!(store.last_event_seq().await.unwrap(), before_seq);
    for (t, before) in targets.iter().zip(&before_desired) {
        assert_eq!(&store.desired_for(t).await.unwrap(), before, "the desired state did not move either");
    }
    // Nothing of it is in the file either (another connection, no cache).
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&mut raw).await.unwrap();
    assert_eq!(n as u64, before_seq.0);
    for op in ["INSERT", "UPDATE"] {
        sqlx::query(&format!("DROP TRIGGER fail_{op}")).execute(&mut raw).await.unwrap();
    }

    // An event of another rollout is refused before anything is written.
    let mut foreign = events.clone();
    foreign[0].rollout = "r9".into();
    let t = Transition { rollout: &rollout, service_state: None, events: &foreign, actor: "bob", at: Millis(30) };
    assert!(matches!(store.commit_transition(first.version, &t).await, Err(StoreError::Invalid { .. })));

    // The same transition without the fault goes through, and the desired state follows it.
    let t =
        Transition { rollout: &rollout, service_state: Some(&state), events: &events, actor: "bob", at: Millis(30) };
    let c = store.commit_transition(first.version, &t).await.unwrap();
    assert_eq!(c.version, 2);
    assert_eq!(c.seqs.first(), Some(&EventSeq(before_seq.0 + 1)));
    assert_eq!(store.get_rollout("r1").await.unwrap().rollout.phase_name(), "rolling back");
    let touched: Vec<&TargetId> = rollout.touched().collect();
    assert!(!touched.is_empty());
    for t in &targets {
        let d = store.desired_for(t).await.unwrap();
        if touched.contains(&t) {
            assert_eq!(d.services[0].release, Some(ReleaseId::from("sha256:v1")), "sent back: {t}");
            assert_eq!(d.version, 2, "moved, then sent back: {t}");
        } else {
            assert!(d.services.is_empty(), "{t}: {d:?}");
        }
    }
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
    let (events, _) = split_actions(&r2_actions);
    let t = Transition { rollout: &r2, service_state: None, events: &events, actor: "a", at: Millis(11) };
    match store.create_rollout(&t).await.unwrap_err() {
        StoreError::Conflict { what: "service", found, .. } => assert!(found.contains("r1"), "{found}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The same id twice is a conflict too.
    let events1 = vec![];
    let t1 = Transition { rollout: &r1, service_state: None, events: &events1, actor: "a", at: Millis(11) };
    assert!(store.create_rollout(&t1).await.unwrap_err().is_conflict());
    // Another service may roll out meanwhile (its release must exist).
    let mut other = r2.clone();
    other.id = "d1".into();
    other.service = "dns".into();
    other.release = "sha256:d1".into();
    let t = Transition { rollout: &other, service_state: None, events: &[], actor: "a", at: Millis(12) };
    assert_eq!(store.create_rollout(&t).await.unwrap().version, 1);
    let mut missing = other.clone();
    missing.id = "d2".into();
    missing.service = "mail".into();
    missing.release = "sha256:none".into();
    let t = Transition { rollout: &missing, service_state: None, events: &[], actor: "a", at: Millis(12) };
    assert!(store.create_rollout(&t).await.unwrap_err().is_not_found());

    // Once r1 is over, r2 may start.
    let acts = r1.command(Millis(20), &Command::Abort { by: "bob".into(), reason: None }).unwrap();
    let (events, _) = split_actions(&acts);
    let t = Transition { rollout: &r1, service_state: None, events: &events, actor: "bob", at: Millis(20) };
    let v = store.commit_transition(first.version, &t).await.unwrap().version;
    let obs = Obedient::read(&store).await;
    let acts = r1.step(Millis(21), &obs);
    assert!(r1.is_finished());
    let (events, _) = split_actions(&acts);
    let t = Transition { rollout: &r1, service_state: None, events: &events, actor: "sluice", at: Millis(21) };
    store.commit_transition(v, &t).await.unwrap();
    let (events, _) = split_actions(&r2_actions);
    let t = Transition { rollout: &r2, service_state: None, events: &events, actor: "a", at: Millis(22) };
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

/// Commit `actions` of `rollout` at `at` (the service state when it finished).
async fn commit(
    store: &SqliteStore,
    rollout: &Rollout,
    version: u64,
    actions: &[sluice_core::engine::Action],
    at: u64,
) -> u64 {
    let (events, _) = split_actions(actions);
    let mut state = store.get_service_state(SERVICE).await.unwrap();
    if rollout.is_finished() {
        state.apply(&sluice_core::engine::ServiceChange::finished(rollout).expect("finished"), Millis(at));
    }
    let t = Transition {
        rollout,
        service_state: rollout.is_finished().then_some(&state),
        events: &events,
        actor: "sluice",
        at: Millis(at),
    };
    store.commit_transition(version, &t).await.unwrap().version
}

#[tokio::test]
async fn desired_state_follows_from_the_stored_rollouts_and_folding_changes_nothing() {
    let (_dir, store) = fixtures::open().await;
    let targets = fixtures::fleet(&store, 1, 4).await;
    fixtures::releases(&store).await;
    let all_before = store.all_desired().await.unwrap();
    assert!(all_before.iter().all(|d| d.version == 0 && d.services.is_empty()));

    // r1 moves the first wave, then is aborted: its targets go back to v1.
    let (mut r1, _, first) = fixtures::start(&store, "r1", 10).await;
    let moved: Vec<TargetId> = r1.touched().cloned().collect();
    assert_eq!(moved.len(), 1);
    let d = store.desired_for(&moved[0]).await.unwrap();
    assert_eq!((d.version, d.services[0].release.clone()), (1, Some("sha256:v2".into())));
    assert_eq!(d.services[0].rollout.as_deref(), Some("r1"));
    let acts = r1.command(Millis(20), &Command::Abort { by: "bob".into(), reason: None }).unwrap();
    let v = commit(&store, &r1, first.version, &acts, 20).await;
    let d = store.desired_for(&moved[0]).await.unwrap();
    assert_eq!((d.version, d.services[0].release.clone()), (2, Some("sha256:v1".into())), "sent back");
    // Nothing to fold while it runs.
    assert_eq!(store.fold_finished_rollout().await.unwrap(), None);
    let acts = r1.step(Millis(21), &Obedient::read(&store).await);
    assert!(r1.is_finished());
    commit(&store, &r1, v, &acts, 21).await;

    // r2 runs to completion over everything: each target moves once more.
    let (r2, state, first) = fixtures::start(&store, "r2", 30).await;
    let (r2, _) = drive(&store, r2, first.version, state).await;
    assert_eq!(r2.outcome(), Some(Outcome::Completed));
    let derived = store.all_desired().await.unwrap();
    for d in &derived {
        assert_eq!(d.services[0].release, Some("sha256:v2".into()), "{}", d.target);
        assert_eq!(d.services[0].rollout.as_deref(), Some("r2"));
        let expect = if moved.contains(&d.target) { 3 } else { 1 };
        assert_eq!(d.version, expect, "{}", d.target);
        assert_eq!(d, &store.desired_for(&d.target).await.unwrap(), "one derivation for one target and for all");
    }

    // Folding writes r1, then r2, into the table, oldest first; nothing reads differently.
    assert_eq!(store.fold_finished_rollout().await.unwrap(), Some(("r1".into(), 1)));
    assert_eq!(store.all_desired().await.unwrap(), derived);
    assert_eq!(store.fold_finished_rollout().await.unwrap(), Some(("r2".into(), targets.len())));
    assert_eq!(store.all_desired().await.unwrap(), derived);
    assert_eq!(store.fold_finished_rollout().await.unwrap(), None);
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

#[tokio::test]
async fn a_rollout_stored_before_plans_were_kept_apart_reads_back_whole() {
    let (dir, store) = fixtures::open().await;
    fixtures::fleet(&store, 1, 4).await;
    fixtures::releases(&store).await;
    let (rollout, _, _) = fixtures::start(&store, "r1", 10).await;
    // The old shape: the plan and the moved targets inside the state, no plan column.
    let mut old = serde_json::to_value(&rollout).unwrap();
    old["plan"] = serde_json::to_value(&*rollout.plan).unwrap();
    old["touched"] = serde_json::to_value(rollout.touched().collect::<Vec<_>>()).unwrap();
    let mut raw = fixtures::raw(dir.path()).await;
    sqlx::query("UPDATE rollouts SET plan = NULL, state = $1 WHERE id = 'r1'")
        .bind(old.to_string())
        .execute(&mut raw)
        .await
        .unwrap();
    let back = store.get_rollout("r1").await.unwrap();
    assert_eq!(back.rollout, rollout);
    // Neither the plan nor the state: corrupt, named.
    sqlx::query("UPDATE rollouts SET state = $1 WHERE id = 'r1'")
        .bind(serde_json::to_string(&rollout).unwrap())
        .execute(&mut raw)
        .await
        .unwrap();
    match store.get_rollout("r1").await.unwrap_err() {
        StoreError::Corrupt { what: "rollout", id, why } => {
            assert_eq!(id, "r1");
            assert!(why.contains("plan is missing"), "{why}");
        }
        other => panic!("expected corrupt, got {other:?}"),
    }
}
