//! Crash safety: a child process (this test binary, running [`crash_child`]) writes rollout
//! transitions as fast as it can and is killed with SIGKILL mid-way, several times, each time a
//! little later after its last report so the kills land at different points of a transaction;
//! after each kill it resumes from what the store holds. Every transition it reported
//! committed must be there whole, none may be there in part, and across the crashes no step is
//! lost or repeated. (Checked against a store that splits a transition in two: this test
//! catches it.)

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sluice_core::engine::{Event, EventKind, Rollout, ServiceState, StartOptions, Told};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;
use sluice_store::{EventSeq, SqliteStore, Store, Transition, split_actions};

use crate::fixtures::{self, SERVICE};

const DIR_VAR: &str = "SLUICE_STORE_CRASH_DIR";
const ID: &str = "crash";
/// A fleet big enough that a transition that wrote per target would take most of the time.
const TARGETS: usize = 300;
const EVENTS_PER_STEP: usize = 3;
/// Transitions the child must report before it is killed, per round.
const STEPS_PER_ROUND: u64 = 4;
const ROUNDS: u64 = 8;

/// What transition `i` writes: each part names `i`, so a partial write would show. Each step
/// also tells one more prod target to move (a batch mark), so the desired state derived from
/// the stored state moves with it.
fn step(rollout: &mut Rollout, i: u64) -> (ServiceState, Vec<Event>) {
    rollout.excluded.insert(TargetId(format!("x{i}")));
    let prod = &mut rollout.marks[1];
    let end = (prod.told_end() + 1).min(rollout.plan.stages[1].targets.len());
    prod.told.push(Told { end, at: Millis(i) });
    let state = ServiceState {
        known_good: Some(ReleaseId(format!("k{i}"))),
        active: Some(ID.into()),
        hold: None,
        previous: Vec::new(),
        queued: None,
    };
    let events = (0..EVENTS_PER_STEP)
        .map(|k| Event {
            at: Millis(i),
            rollout: ID.into(),
            kind: EventKind::Held { stage: "crash".into(), wave: i as usize, why: format!("step {i} event {k}") },
        })
        .collect();
    (state, events)
}

/// The child: set up (or resume), then write transitions until killed.
#[tokio::test]
#[ignore = "the child process of `kill_9_mid_way_loses_no_committed_transition_and_leaves_no_partial_one`"]
async fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else { return };
    let store = SqliteStore::open(Path::new(&dir)).await.unwrap();
    let (mut rollout, mut version) = match store.get_rollout(ID).await {
        Ok(rec) => (rec.rollout, rec.version),
        Err(e) if e.is_not_found() => {
            for i in 0..TARGETS {
                store.upsert_target(&fixtures::target(&format!("t{i:02}"), "prod", 1)).await.unwrap();
            }
            fixtures::releases(&store).await;
            let infos: Vec<_> = store.list_targets().await.unwrap().iter().map(|t| t.info()).collect();
            let (rollout, actions) = Rollout::start(
                ID,
                SERVICE,
                "sha256:v2".into(),
                Some("sha256:v1".into()),
                &fixtures::pipeline(),
                &infos,
                &StartOptions::default(),
                Millis(0),
            )
            .unwrap();
            let (events, _) = split_actions(&actions);
            let t =
                Transition { rollout: &rollout, service_state: None, events: &events, actor: "sluice", at: Millis(0) };
            let c = store.create_rollout(&t).await.unwrap();
            (rollout, c.version)
        }
        Err(e) => panic!("{e}"),
    };
    let mut out = std::io::stdout();
    for _ in 0..100_000 {
        // Transition i takes the rollout from version i to i + 1.
        let i = version;
        let (state, events) = step(&mut rollout, i);
        let t = Transition {
            rollout: &rollout,
            service_state: Some(&state),
            events: &events,
            actor: "sluice",
            at: Millis(i),
        };
        version = store.commit_transition(version, &t).await.unwrap().version;
        writeln!(out, "committed {i}").unwrap();
        out.flush().unwrap();
    }
}

/// Run the child until it reported `until` or more, wait `delay`, then kill -9 it; returns the
/// last step it reported committed.
fn run_and_kill(dir: &Path, until: u64, delay: Duration) -> u64 {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["crash::crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last = None;
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            let n: u64 = n.trim().parse().unwrap();
            last = Some(n);
            if n >= until && !killed {
                std::thread::sleep(delay);
                child.kill().unwrap(); // SIGKILL: no destructor, no flush, no rollback runs
                killed = true;
            }
        }
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(killed, "the child stopped before it was killed ({status}): {stderr}");
    last.unwrap()
}

/// Check the store holds exactly transitions 1..=n, each whole; returns n.
async fn verify(dir: &Path, reported: u64) -> u64 {
    let store = SqliteStore::open(dir).await.unwrap();
    store.integrity_check().await.unwrap();
    let rec = store.get_rollout(ID).await.unwrap();
    let n = rec.version - 1;
    assert!(n == reported || n == reported + 1, "reported {reported} committed, the store has {n}");

    // The rollout's state.
    let mut xs: Vec<u64> =
        rec.rollout.excluded.iter().filter_map(|t| t.0.strip_prefix('x')).map(|i| i.parse().unwrap()).collect();
    xs.sort_unstable();
    let expect: Vec<u64> = (1..=n).collect();
    assert_eq!(xs, expect, "the rollout state holds every step once");

    // Its events: three per step, in step order, none of step n + 1.
    let steps: Vec<u64> = store
        .events_for_rollout(ID)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| match e.engine_event().unwrap()?.kind {
            EventKind::Held { stage, wave, .. } if stage == "crash" => Some(wave as u64),
            _ => None,
        })
        .collect();
    let expect: Vec<u64> = (1..=n).flat_map(|i| [i; EVENTS_PER_STEP]).collect();
    assert_eq!(steps, expect, "every step's events, once, in order");

    // The service state.
    let state = store.get_service_state(SERVICE).await.unwrap();
    assert_eq!(state.known_good, Some(ReleaseId(format!("k{n}"))));

    // The desired state, derived from the stored state: the first wave and one more prod
    // target per step on the candidate (version 1), every other target on nothing.
    let prod = &rec.rollout.plan.stages[1];
    let moved: Vec<&TargetId> =
        prod.targets[..(prod.wave_ends[0] + n as usize).min(prod.targets.len())].iter().collect();
    let targets = store.list_targets().await.unwrap();
    assert_eq!(targets.len(), TARGETS);
    let all = store.all_desired().await.unwrap();
    assert_eq!(all.len(), TARGETS);
    for (t, from_all) in targets.iter().zip(&all) {
        let d = store.desired_for(&t.id).await.unwrap();
        assert_eq!(&d, from_all, "one derivation for one target and for all");
        if moved.contains(&&t.id) {
            assert_eq!(d.services.len(), 1, "{}", t.id);
            assert_eq!(d.services[0].release, Some(ReleaseId::from("sha256:v2")), "{}", t.id);
            assert_eq!(d.version, 1, "{}", t.id);
        } else {
            assert!(d.services.is_empty(), "{}: {d:?}", t.id);
            assert_eq!(d.version, 0, "{}", t.id);
        }
    }

    // The log as a whole is gap-free.
    let all = store.events_since(EventSeq::ZERO, u32::MAX).await.unwrap();
    assert!(all.iter().enumerate().all(|(i, e)| e.seq == EventSeq(i as u64 + 1)));
    store.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_way_loses_no_committed_transition_and_leaves_no_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for round in 0..ROUNDS {
        let path = dir.path().to_path_buf();
        let until = n + STEPS_PER_ROUND;
        let delay = Duration::from_millis(round * 3);
        let reported = tokio::task::spawn_blocking(move || run_and_kill(&path, until, delay)).await.unwrap();
        assert!(reported >= until, "round {round}");
        n = verify(dir.path(), reported).await;
    }
    assert!(n >= ROUNDS * STEPS_PER_ROUND);
}
