//! The poller against a fake server: each service's spec is fetched once per digest and kept;
//! a changed spec (a new digest) is fetched again; a spec that cannot be had leaves the
//! service as it runs and is asked for again with the next poll; polls, fetches and reports
//! share the agent's pooled connections.

use std::sync::atomic::Ordering;

use sluice_api::DesiredService;
use sluice_core::release::ReleaseId;

use crate::config::AgentConfig;
use crate::test_desired_server::{DesiredServer, Fake};
use crate::test_server::until;

/// A release of `web`, told apart by `n`, put on the server; its id.
fn release(fake: &Fake, n: u32) -> ReleaseId {
    let files = [("index.html".to_string(), format!("v{n}\n").into_bytes())].into_iter().collect();
    let bundle = sluice_bundle::pack(&files).unwrap();
    let id = sluice_bundle::digest(&bundle);
    fake.bundles.lock().unwrap().insert(id.clone(), bundle);
    ReleaseId(id)
}

/// A spec of `web` (told apart by its bundle limit) as canonical JSON, and its digest.
fn spec(max_bundle_bytes: u64) -> (Vec<u8>, String) {
    let json =
        serde_json::to_vec(&serde_json::json!({"pipeline": "default", "max_bundle_bytes": max_bundle_bytes})).unwrap();
    let digest = sluice_bundle::sha256::digest(&json);
    (json, digest)
}

fn desired(release: &ReleaseId, spec_digest: &str) -> Vec<DesiredService> {
    vec![DesiredService {
        service: "web".into(),
        release: Some(release.clone()),
        bundle: Some(release.0.clone()),
        rollout: Some("r".into()),
        spec_digest: Some(spec_digest.to_string()),
        spec: None,
        known_good: None,
    }]
}

/// Runs an agent with one service, `web`, against `server` until the returned sender fires.
fn agent(
    server: &DesiredServer,
    dir: &tempfile::TempDir,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), super::AgentError>>) {
    let text = format!(
        "server: http://{}\nid: edge-1\nenrollment_token: tok\nstate_dir: {}\nreport_interval: 1s\nservices:\n  web: {{}}\n",
        server.addr,
        dir.path().display()
    );
    let config = AgentConfig::parse("a.yaml", &text).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(super::run(config, async {
        let _ = stopped.await;
    }));
    (stop, run)
}

#[tokio::test]
async fn the_spec_is_fetched_once_per_digest_and_again_when_it_changes() {
    let server = DesiredServer::start().await;
    let fake = server.fake.clone();
    let (json1, digest1) = spec(100_000);
    fake.specs.lock().unwrap().insert("web".into(), json1);
    let (r1, r2, r3) = (release(&fake, 1), release(&fake, 2), release(&fake, 3));
    let dir = tempfile::tempdir().unwrap();
    let (stop, run) = agent(&server, &dir);

    fake.set(desired(&r1, &digest1));
    until("r1 runs", || fake.running("web").as_ref() == Some(&r1)).await;
    assert_eq!(fake.spec_fetches.load(Ordering::SeqCst), 1);
    // Another release, the same spec: no fetch.
    fake.set(desired(&r2, &digest1));
    until("r2 runs", || fake.running("web").as_ref() == Some(&r2)).await;
    // Back to a kept release (a switch without download), the same spec: no fetch.
    fake.set(desired(&r1, &digest1));
    until("r1 runs again", || fake.running("web").as_ref() == Some(&r1)).await;
    assert_eq!(fake.spec_fetches.load(Ordering::SeqCst), 1, "one fetch for one digest");

    // The spec changed: a new digest, fetched once more.
    let (json2, digest2) = spec(200_000);
    fake.specs.lock().unwrap().insert("web".into(), json2);
    fake.set(desired(&r3, &digest2));
    until("r3 runs", || fake.running("web").as_ref() == Some(&r3)).await;
    assert_eq!(fake.spec_fetches.load(Ordering::SeqCst), 2, "a changed spec is fetched again");

    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
    // Polls, spec fetches, downloads and reports went over the agent's pooled connections:
    // one held by the poller (its poll, then the spec and the download, in turn) and one for
    // the reporter beside it, never one per request. Each of the four versions set may cost one
    // more: when a report's answer acknowledges a version before the long-poll's answer
    // arrives, the poller drops that poll (and so its connection) and polls again — a race a
    // loaded machine wins now and then.
    let (connections, requests) = (fake.connections.load(Ordering::SeqCst), fake.requests.load(Ordering::SeqCst));
    let versions_set = 4;
    assert!(requests >= 12, "{requests} requests");
    assert!(connections <= 2 + versions_set, "{connections} connections for {requests} requests");
}

#[tokio::test]
async fn a_spec_that_cannot_be_had_leaves_the_service_as_it_runs_and_is_asked_for_again() {
    let server = DesiredServer::start().await;
    let fake = server.fake.clone();
    let (json1, digest1) = spec(100_000);
    fake.specs.lock().unwrap().insert("web".into(), json1.clone());
    let (r1, r2, r3) = (release(&fake, 1), release(&fake, 2), release(&fake, 3));
    let dir = tempfile::tempdir().unwrap();
    let (stop, run) = agent(&server, &dir);
    fake.set(desired(&r1, &digest1));
    until("r1 runs", || fake.running("web").as_ref() == Some(&r1)).await;

    // The answer names a new spec, the server still serves the old one: a digest mismatch.
    let (json2, digest2) = spec(200_000);
    fake.set(desired(&r2, &digest2));
    until("the mismatching spec is asked for again", || fake.spec_fetches.load(Ordering::SeqCst) >= 4).await;
    assert_eq!(fake.running("web").as_ref(), Some(&r1), "nothing applied without the spec");
    // Nothing downloaded either, and no apply failure reported: the service is left alone.
    assert!(!dir.path().join("services/web/releases").join(&r2.0["sha256:".len()..]).exists());
    let reports = fake.reports.lock().unwrap().clone();
    assert!(reports.iter().all(|r| r.services.iter().all(|s| s.last_apply.as_ref().is_none_or(|a| a.ok))));
    // The server catches up: applied with the next poll.
    fake.specs.lock().unwrap().insert("web".into(), json2);
    until("r2 runs", || fake.running("web").as_ref() == Some(&r2)).await;

    // No spec at all (404), also for a switch back to a kept release: left as is, retried.
    fake.specs.lock().unwrap().clear();
    let (_, digest3) = spec(300_000);
    let before = fake.spec_fetches.load(Ordering::SeqCst);
    fake.set(desired(&r1, &digest3));
    until("the missing spec is asked for again", || fake.spec_fetches.load(Ordering::SeqCst) >= before + 2).await;
    assert_eq!(fake.running("web").as_ref(), Some(&r2), "no switch back without the spec's hooks");
    // Bytes of the named digest that are no spec are refused too.
    let junk = br#"{"pipeline": 3}"#.to_vec();
    let junk_digest = sluice_bundle::sha256::digest(&junk);
    fake.specs.lock().unwrap().insert("web".into(), junk);
    let before = fake.spec_fetches.load(Ordering::SeqCst);
    fake.set(desired(&r3, &junk_digest));
    until("the bad spec is asked for again", || fake.spec_fetches.load(Ordering::SeqCst) >= before + 2).await;
    assert_eq!(fake.running("web").as_ref(), Some(&r2));

    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
}
