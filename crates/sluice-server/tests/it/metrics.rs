//! `GET /metrics` (no token): after a rollout, every family the server promises is there with
//! values that match what happened.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_api::{ApplyReport, Report, ServiceReport};
use sluice_core::engine::Outcome;
use sluice_core::release::ReleaseId;
use sluice_core::time::Millis;

use crate::fake_prometheus::{Answer, FakePrometheus};
use crate::harness::eventually;
use crate::prometheus_gates::{setup, spec};
use crate::rollouts::{finished, start_req};

/// The value of the sample line starting with `series` (name and labels exactly).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_expose_rollouts_gates_propagation_agents_failures_store_and_sources() {
    let prom = FakePrometheus::start(Answer::per_target(&[("prod-a", 0.0), ("prod-b", 0.0)])).await;
    let s = setup(spec(&prom.url, 2, "300ms")).await;
    let admin = &s.t.admin;
    let url = format!("{}/metrics", s.t.server.base_url());

    // A target outside the stage reports a failed apply with a stable reason.
    let token = crate::harness::enrollment_token(admin).await;
    let enrolled = admin
        .with_token(None)
        .enroll(&sluice_api::Enroll {
            enrollment_token: token,
            target: "lab-1".into(),
            labels: BTreeMap::from([("env".to_string(), "lab".to_string())]),
            facts: BTreeMap::new(),
        })
        .await
        .unwrap();
    let lab = admin.with_token(Some(enrolled.credential));
    lab.report(&Report {
        at: Millis(0),
        facts: BTreeMap::new(),
        services: vec![ServiceReport {
            service: "web".into(),
            running: None,
            known_good: None,
            last_apply: Some(ApplyReport {
                release: Some(ReleaseId::from("sha256:00")),
                ok: false,
                reason: Some("check_failed".into()),
                detail: Some("nginx -t said no".into()),
                desired_version: 1,
                at: Millis(5),
                duration_ms: 3,
            }),
            sample: None,
            metrics: None,
        }],
        agent: BTreeMap::new(),
    })
    .await
    .unwrap();

    let v1 = admin.create_release("web", crate::harness::web_bundle(1), "v1").await.unwrap().release.id;
    let started = admin.start_rollout(&start_req(&v1, None)).await.unwrap();
    // While it runs, the phase gauge counts it.
    let during = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let active: f64 = ["applying", "baking", "held"]
        .iter()
        .filter_map(|p| value(&during, &format!("sluice_rollouts{{phase=\"{p}\"}}")))
        .sum();
    assert_eq!(active, 1.0, "{during}");
    let done = finished(admin, &started.id, Duration::from_secs(20)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed));

    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200, "no token needed");
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    for phase in ["applying", "baking", "held", "paused", "rolling back", "awaiting approval"] {
        assert_eq!(value(&text, &format!("sluice_rollouts{{phase=\"{phase}\"}}")), Some(0.0), "{phase}: {text}");
    }
    assert_eq!(value(&text, "sluice_rollouts_finished_total{outcome=\"completed\"}"), Some(1.0), "{text}");
    assert!(value(&text, "sluice_gate_verdicts_total{gate=\"prom-5xx\",verdict=\"pass\"}").unwrap() >= 1.0, "{text}");
    // Both prod targets were moved and reported the release: two propagations timed.
    let propagated = value(&text, "sluice_propagation_seconds_count").unwrap();
    assert!(propagated >= 2.0, "{text}");
    assert!(value(&text, "sluice_propagation_seconds_sum").unwrap() < 10.0 * propagated, "{text}");
    assert!(text.contains("sluice_propagation_seconds_bucket{le=\"+Inf\"}"), "{text}");
    assert_eq!(value(&text, "sluice_agents_connected"), Some(3.0), "{text}");
    assert_eq!(value(&text, "sluice_targets"), Some(3.0), "{text}");
    assert_eq!(value(&text, "sluice_apply_failures_total{reason=\"check_failed\"}"), Some(1.0), "{text}");
    assert!(value(&text, "sluice_store_commit_seconds_count").unwrap() >= 3.0, "{text}");
    // Every transition was checked against the engine's invariants; every one is exported.
    for name in sluice_core::engine::invariants::NAMES {
        let series = format!("sluice_invariant_violations_total{{invariant=\"{name}\"}}");
        assert_eq!(value(&text, &series), Some(0.0), "{series}: {text}");
    }
    assert!(
        value(&text, "sluice_health_source_queries_total{source=\"prometheus\",outcome=\"ok\"}").unwrap() >= 2.0,
        "{text}"
    );
    // (`sluice_health_source_errors_total` appears with the first error: see
    // `prometheus_gates::an_unreachable_prometheus_holds_the_wave`.)

    // Sources are read only while a rollout judges them: the fake gets no more queries.
    let after = prom.queries();
    eventually("the poller to stop", Duration::from_secs(5), || async {
        let n = prom.queries();
        tokio::time::sleep(Duration::from_millis(300)).await;
        (prom.queries() == n).then_some(())
    })
    .await;
    assert!(prom.queries() <= after + 3);
    s.t.server.shutdown().await.unwrap();
}
