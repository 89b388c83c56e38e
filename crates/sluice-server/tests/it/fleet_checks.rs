//! Specs checked against the live fleet: refused with located problems at apply and at
//! rollout start, warnings returned, the report interval told, and a service dropped while
//! targets run it refused unless forced — a forced drop is audited.

use std::collections::BTreeMap;

use sluice_api::{ApiError, ApplySpec, Client, ClientError, Enroll, ErrorCode, Report, ServiceReport};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;

use crate::harness::{self, SPEC, all_events, enrollment_token, start_in};
use crate::rollouts::start_req;

/// Enroll `id` with `labels`; its agent client.
async fn enroll(admin: &Client, id: &str, labels: &[(&str, &str)]) -> Client {
    let enrolled = admin
        .with_token(None)
        .enroll(&Enroll {
            enrollment_token: enrollment_token(admin).await,
            target: TargetId::from(id),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            facts: BTreeMap::new(),
        })
        .await
        .unwrap();
    admin.with_token(Some(enrolled.credential))
}

/// One report: `service` runs `running` and the agent says it produces `metrics`.
async fn report(agent: &Client, service: &str, running: Option<&str>, metrics: Option<&[&str]>) {
    let services = vec![ServiceReport {
        service: service.into(),
        running: running.map(ReleaseId::from),
        known_good: None,
        last_apply: None,
        sample: None,
        metrics: metrics.map(|m| m.iter().map(|s| s.to_string()).collect()),
    }];
    agent.report(&Report { at: Millis(0), facts: BTreeMap::new(), services, agent: BTreeMap::new() }).await.unwrap();
}

fn apply(text: &str, force: bool) -> ApplySpec {
    ApplySpec { text: text.into(), file: Some("web.yaml".into()), force }
}

fn refusal(err: ClientError) -> (ApiError, Vec<String>) {
    let ClientError::Api(e) = err else { panic!("expected an API error, got {err}") };
    assert_eq!(e.code, ErrorCode::BadRequest, "{}", e.message);
    let problems = e.details.as_ref().unwrap()["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    (e, problems)
}

#[tokio::test]
async fn a_stage_without_targets_is_refused_at_apply_with_its_line_unless_allowed_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start_in(dir.path()).await;
    // No target yet: nothing to check against, and the answer says so.
    let applied = admin.apply_spec(&apply(SPEC, false)).await.unwrap();
    assert_eq!((applied.report_interval_ms, applied.targets), (1000, 0));
    assert!(applied.warnings.iter().any(|w| w.contains("no target is enrolled yet")), "{:?}", applied.warnings);
    let _stg = enroll(&admin, "stg-1", &[("env", "staging")]).await;
    let changed = SPEC.replace("bake: 300ms", "bake: 400ms");
    let (e, problems) = refusal(admin.apply_spec(&apply(&changed, false)).await.unwrap_err());
    assert!(e.message.contains("cannot work on the live fleet (1 targets, report interval 1s)"), "{}", e.message);
    // `prod` of `default` and of `restart` select nothing; `slow` takes everything.
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0]
            .starts_with("web.yaml:18:9: at `pipelines.default.stages[1].selector`: stage \"prod\" selects no target"),
        "{problems:#?}"
    );
    assert_eq!(admin.current_spec().await.unwrap().version, 1, "nothing stored");
    let allowed = changed
        .replace("        selector: { env: prod }\n", "        selector: { env: prod }\n        allow_empty: true\n");
    let applied = admin.apply_spec(&apply(&allowed, false)).await.unwrap();
    assert_eq!((applied.version, applied.targets), (2, 1));
    assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn windows_labels_and_metrics_that_cannot_work_are_refused_and_spread_gaps_warned() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start_in(dir.path()).await;
    let a = enroll(&admin, "a", &[("env", "prod"), ("proxy", "fl1")]).await;
    let b = enroll(&admin, "b", &[("env", "prod"), ("proxy", "fl2")]).await;
    // `a` tells it produces only crash_rate and error_rate for `web`; `b` says nothing.
    report(&a, "web", None, Some(&["crash_rate", "error_rate"])).await;
    let spec = |gate: &str| {
        format!(
            "services:\n  web:\n    pipeline: p\npipelines:\n  p:\n    stages:\n      - name: prod\n        selector: {{ env: prod }}\n        waves: [1, \"100%\"]\n        spread_by: [proxy]\n        gates:\n          - threshold: {{ {gate} }}\n"
        )
    };
    // 2s at 1s: one first-wave target sends at most 2 reports.
    let (_, problems) = refusal(
        admin
            .apply_spec(&apply(&spec("name: e, metric: error_rate, max: 0.1, window: 2s, min_samples: 3"), false))
            .await
            .unwrap_err(),
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("at `pipelines.p.stages[0].gates[0].threshold.min_samples`: threshold gate \"e\" needs 3 reports in its 2s window, but agents report every 1s"), "{problems:#?}");
    let (_, problems) = refusal(
        admin
            .apply_spec(&apply(&spec("name: e, metric: error_rate, max: 0.1, min_samples: 1, per_label: zone"), false))
            .await
            .unwrap_err(),
    );
    assert!(problems[0].contains("per_label: label \"zone\" is on no target of stage \"prod\""), "{problems:#?}");
    // `b` has not said what it reports: a metric `a` lacks is a warning, not a refusal…
    let applied =
        admin.apply_spec(&apply(&spec("name: q, metric: queue_depth, max: 5, min_samples: 1"), false)).await.unwrap();
    assert_eq!(applied.warnings.len(), 2, "{:?}", applied.warnings);
    assert!(applied.warnings[0].starts_with("web.yaml:9:"), "{:?}", applied.warnings);
    assert!(applied.warnings[0].contains("fewer than the 2 combinations of proxy"), "{:?}", applied.warnings);
    assert!(applied.warnings[1].contains("metric `queue_depth` for service \"web\""), "{:?}", applied.warnings);
    // …until it says so too.
    report(&b, "web", None, Some(&["crash_rate"])).await;
    let (_, problems) = refusal(
        admin
            .apply_spec(&apply(&spec("name: q, metric: queue_depth, max: 6, min_samples: 1"), false))
            .await
            .unwrap_err(),
    );
    assert!(problems[0].contains("is reported for service \"web\" by none of the 2 targets"), "{problems:#?}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_rollout_start_is_refused_when_the_fleet_no_longer_fits_its_pipeline() {
    let t = harness::with_spec().await;
    let _stg = enroll(&t.admin, "stg-1", &[("env", "staging")]).await;
    let v1 = t.admin.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let err = t.admin.start_rollout(&start_req(&v1, None)).await.unwrap_err();
    let (e, problems) = refusal(err);
    assert!(
        e.message.contains("cannot start a rollout of web: pipeline default cannot work on the live fleet"),
        "{}",
        e.message
    );
    assert_eq!(
        problems,
        [
            "spec v1:18:9: at `pipelines.default.stages[1].selector`: stage \"prod\" selects no target: none of the 1 enrolled targets matches env=prod; fix the selector, enroll its targets first, or set `allow_empty: true` to skip the stage"
        ]
    );
    assert!(t.admin.rollouts(false).await.unwrap().is_empty());
    // Another pipeline that fits the fleet starts.
    t.admin.start_rollout(&start_req(&v1, Some("slow"))).await.unwrap();
    t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn dropping_a_service_targets_run_needs_force_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start_in(dir.path()).await;
    let two = SPEC.replace("services:\n  web:\n", "services:\n  api:\n    pipeline: slow\n  web:\n");
    admin.apply_spec(&apply(&two, false)).await.unwrap();
    let agent = enroll(&admin, "n1", &[("env", "staging")]).await;
    let _prod = enroll(&admin, "p1", &[("env", "prod")]).await;
    report(&agent, "api", Some("sha256:aa"), None).await;
    let (_, problems) = refusal(admin.apply_spec(&apply(SPEC, false)).await.unwrap_err());
    assert_eq!(
        problems,
        [
            "web.yaml:2:1: at `services`: service \"api\" is not in the spec, but 1 target(s) still run a release of it (n1): keep it, or apply with `--force` to drop it anyway"
        ]
    );
    let applied = admin.apply_spec(&apply(SPEC, true)).await.unwrap();
    assert!(applied.changed);
    assert!(
        applied.warnings.iter().any(|w| w
            .contains("forced: service \"api\" dropped while 1 target(s) still run it (recorded in the audit log)")),
        "{:?}",
        applied.warnings
    );
    let events = all_events(&admin).await;
    let dropped = events.iter().find(|e| e.kind == "service_dropped").expect("a service_dropped event");
    assert_eq!((dropped.actor.as_str(), dropped.service.as_deref()), ("admin", Some("api")));
    assert_eq!(
        dropped.body,
        serde_json::json!({ "version": applied.version, "service": "api", "targets": ["n1"], "forced": true })
    );
    server.shutdown().await.unwrap();
}
