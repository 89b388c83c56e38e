//! The apply path's hooks on a real agent: a failing `check` never switches; a failing
//! `reload` or health probe switches back. Each failure is reported, fails the wave and rolls
//! the rollout back.

use std::time::Duration;

use sluice_core::engine::Outcome;
use sluice_core::release::ReleaseId;

use super::rig::{Rig, points_at, release_dir_name};

const SPEC: &str = r#"
version: 1
services:
  checked:
    pipeline: p
    hooks:
      check: "test -f {release}/ok"
  reloaded:
    pipeline: p
    hooks:
      reload: "! grep -q fail {release}/app.conf"
  probed:
    pipeline: p
    hooks:
      health: { command: "! grep -q fail {current}/app.conf", attempts: 1, timeout: 5s }
pipelines:
  p:
    stages:
      - name: dev
        selector: { env: dev }
        bake: 1s
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
"#;

async fn good_then_bad(rig: &Rig, service: &str, bad: &[(&str, &str)], reason: &str) {
    // Release ids are content addresses: each service gets its own content.
    let fine = format!("fine for {service}\n");
    let good = rig.release(service, &[("ok", ""), ("app.conf", &fine)]).await;
    let r = rig.start_rollout(service, &good).await;
    let done = rig.wait_finished(&r.id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{service}: {done:#?}");
    let agent = rig.agent("dev-1");
    assert!(points_at(agent.current_target(service).as_deref(), &good));

    let bad: ReleaseId = rig.release(service, bad).await;
    let r = rig.start_rollout(service, &bad).await;
    let done = rig.wait_finished(&r.id, Duration::from_secs(30)).await;
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{service}: {done:#?}");
    assert!(points_at(agent.current_target(service).as_deref(), &good), "{service}: not back on the good release");
    let events = rig.admin().events(0, 10_000, Some(&r.id)).await.unwrap();
    let failed = events.iter().find(|e| e.kind == "apply_failed").unwrap_or_else(|| panic!("{service}: {events:#?}"));
    let why = failed.body["reason"].as_str().unwrap_or_default();
    assert!(why.contains(reason), "{service}: reason {why:?} does not name {reason}");
    let target = rig.admin().targets().await.unwrap().into_iter().find(|t| t.id.0 == "dev-1").unwrap();
    let view = target.services.iter().find(|s| s.service == service).unwrap();
    assert_eq!(view.running.as_ref(), Some(&good), "{service}: server sees {view:?}");
    if reason == "check_failed" {
        // Refused before the switch: the release was never unpacked where `current` could
        // point, and is not kept.
        let kept = agent.dir.join("services").join(service).join("releases").join(release_dir_name(&bad));
        assert!(!kept.exists(), "{} kept after a failed check", kept.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_check_never_switches_failing_reload_or_probe_switches_back() {
    let mut rig = Rig::start(SPEC).await;
    rig.add_agent("dev-1", &[("env", "dev")], &[("checked", ""), ("reloaded", ""), ("probed", "")]).await;
    rig.wait_fleet_ready().await;
    good_then_bad(&rig, "checked", &[("app.conf", "no ok file\n")], "check_failed").await;
    good_then_bad(&rig, "reloaded", &[("ok", ""), ("app.conf", "fail\n")], "reload_failed").await;
    good_then_bad(&rig, "probed", &[("ok", ""), ("app.conf", "fail probe\n")], "probe_failed").await;
}
