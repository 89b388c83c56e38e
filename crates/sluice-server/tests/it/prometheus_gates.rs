//! Gates whose health source is Prometheus, against a fake Prometheus HTTP API: per-target
//! values pass and fail a threshold gate (per variant), and an unreachable Prometheus, an
//! error answer, an empty result, NaN values, unknown targets and too few values each hold the
//! wave past its bake with a reason naming why — never pass it.

use std::time::Duration;

use sluice_api::{ApplySpec, Client, RolloutView};
use sluice_core::engine::{Outcome, PhaseKind, Verdict};

use crate::fake_agent::FakeAgent;
use crate::fake_prometheus::{Answer, FakePrometheus};
use crate::harness::{self, all_events, eventually};
use crate::rollouts::{finished, start_req};

pub const QUERY: &str = r#"sum by (target) (rate(sluice_probe_requests_total{service="web",code_class="5xx"}[15s]))"#;

/// One prod stage, one wave, a short bake, and a threshold gate reading Prometheus at `url`.
pub fn spec(url: &str, min_samples: u32, bake: &str) -> String {
    format!(
        r#"version: 1
services:
  web:
    pipeline: prom
pipelines:
  prom:
    # One wave on purpose: these tests judge a whole stage's values at once.
    max_blast: 100%
    stages:
      - name: prod
        selector: {{ env: prod }}
        bake: {bake}
        gates:
          - threshold:
              name: prom-5xx
              metric: prom_error_rate
              max: 0.01
              window: 5s
              min_samples: {min_samples}
              per_label: variant
              source:
                prometheus:
                  url: {url}
                  query: '{QUERY}'
                  target_label: target
                  every: 100ms
                  timeout: 500ms
"#
    )
}

pub struct PromSetup {
    pub t: harness::TestServer,
    /// Kept alive for the test: they report while the rollout runs.
    pub _agents: Vec<FakeAgent>,
}

/// A server with the spec applied and two prod agents, `prod-a` (variant a) and `prod-b`.
pub async fn setup(spec_text: String) -> PromSetup {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = harness::start_in(dir.path()).await;
    admin.apply_spec(&ApplySpec { text: spec_text, file: None, force: false }).await.unwrap();
    let agents = vec![
        FakeAgent::start(&admin, "prod-a", &[("env", "prod"), ("variant", "a")]).await,
        FakeAgent::start(&admin, "prod-b", &[("env", "prod"), ("variant", "b")]).await,
    ];
    PromSetup { t: harness::TestServer { server, admin, dir }, _agents: agents }
}

async fn start(admin: &Client) -> RolloutView {
    let v1 = admin.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    admin.start_rollout(&start_req(&v1, None)).await.unwrap()
}

#[tokio::test]
async fn per_target_values_pass_the_gate() {
    let prom = FakePrometheus::start(Answer::per_target(&[("prod-a", 0.0), ("prod-b", 0.004)])).await;
    let s = setup(spec(&prom.url, 2, "500ms")).await;
    let started = start(&s.t.admin).await;
    let done = finished(&s.t.admin, &started.id, Duration::from_secs(20)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{:?}", done.reason);
    assert_eq!(prom.last_query().as_deref(), Some(QUERY), "the query is sent as written");
    assert_eq!(done.gates.len(), 2, "one evaluation per variant: {:?}", done.gates);
    for e in &done.gates {
        assert_eq!(e.verdict, Verdict::Pass, "{e:?}");
        assert_eq!(e.metric, "prom_error_rate");
        assert!(e.samples >= 2, "{e:?}");
    }
    let b = done.gates.iter().find(|e| e.scope.as_deref() == Some("variant=b")).unwrap();
    assert_eq!(b.value, Some(0.004), "the value is Prometheus', not the agents' (which report 0 errors)");
    s.t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failing_variant_fails_the_gate_and_rolls_back() {
    let prom = FakePrometheus::start(Answer::per_target(&[("prod-a", 0.0), ("prod-b", 0.25)])).await;
    let s = setup(spec(&prom.url, 2, "10s")).await;
    let started = start(&s.t.admin).await;
    let done = finished(&s.t.admin, &started.id, Duration::from_secs(20)).await;
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{:?}", done.reason);
    let failed: Vec<_> = done.gates.iter().filter(|e| e.verdict == Verdict::Fail).collect();
    assert_eq!(failed.len(), 1, "{:?}", done.gates);
    assert_eq!(failed[0].scope.as_deref(), Some("variant=b"));
    assert_eq!(
        failed[0].reason,
        "prom_error_rate = 0.25 > max 0.01; breaching on their own: prod-b prom_error_rate = 0.25"
    );
    let events = s.t.admin.events(0, 10_000, Some(&started.id)).await.unwrap();
    let rollback = events.iter().find(|e| e.kind == "rollback_started").unwrap();
    assert!(rollback.body["why"].as_str().unwrap().contains("gate prom-5xx [variant=b]"), "{}", rollback.body);
    s.t.server.shutdown().await.unwrap();
}

/// Start a rollout against `url`, wait until its wave is held with `expect` in a gate's
/// reason, let the source be read `more` more times, and check it is still held: never passed.
/// `event_error`: what the `health_source_error` event's error says (`None`: no such event).
async fn holds(s: &PromSetup, reads: impl Fn() -> usize, expect: &str, event_error: Option<&str>) {
    let admin = &s.t.admin;
    let started = start(admin).await;
    let held = eventually(&format!("the wave to be held with {expect:?}"), Duration::from_secs(15), || async {
        let v = admin.rollout(&started.id).await.unwrap();
        (v.phase == PhaseKind::Held && v.gates.iter().any(|e| e.reason.contains(expect))).then_some(v)
    })
    .await;
    assert_eq!(held.stages[0].waves[0].state, "held");
    assert!(held.gates.iter().all(|e| e.verdict == Verdict::Inconclusive), "{:?}", held.gates);
    let at = reads();
    eventually("five more reads of the source", Duration::from_secs(15), || async {
        (reads() >= at + 5).then_some(())
    })
    .await;
    let later = admin.rollout(&started.id).await.unwrap();
    assert_eq!(later.phase, PhaseKind::Held, "still held: {:?}", later.gates);
    assert!(later.outcome.is_none());
    let bake_end = later.bake_ends_at.unwrap();
    assert!(sluice_server::clock::now() > bake_end, "checked past the bake");
    let events = admin.events(0, 10_000, Some(&started.id)).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(!kinds.contains(&"wave_passed") && !kinds.contains(&"finished"), "{kinds:?}");
    let held_event = events.iter().find(|e| e.kind == "held").unwrap();
    assert!(held_event.body["why"].as_str().unwrap().contains(expect), "{}", held_event.body);
    let errors: Vec<_> = events.iter().filter(|e| e.kind == "health_source_error").collect();
    assert_eq!(
        errors.len(),
        usize::from(event_error.is_some()),
        "one event per change of the error, not per read: {errors:?}"
    );
    if let (Some(e), Some(want)) = (errors.first(), event_error) {
        assert!(e.body["error"].as_str().unwrap().contains(want), "{}", e.body);
        assert_eq!(e.body["gates"][0], "prom-5xx");
        assert_eq!(e.body["source"], "prometheus");
    }
}

/// How many source reads failed, from the server's own `/metrics`.
async fn failed_reads(base: &str) -> usize {
    let text = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("sluice_health_source_queries_total{") && l.contains("outcome=\"error\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as usize
}

#[tokio::test]
async fn an_unreachable_prometheus_holds_the_wave() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let s = setup(spec(&url, 2, "300ms")).await;
    let base = s.t.server.base_url();
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (c, b) = (counter.clone(), base.clone());
    let bg = tokio::spawn(async move {
        loop {
            c.store(failed_reads(&b).await, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let expect = format!("prometheus {url}: cannot connect: ");
    holds(&s, || counter.load(std::sync::atomic::Ordering::SeqCst), &expect, Some("cannot connect: ")).await;
    let v = s.t.admin.rollouts(true).await.unwrap().remove(0);
    let reason = &v.gates[0].reason;
    assert!(reason.to_lowercase().contains("connection refused"), "{reason}");
    assert!(reason.ends_with("0 of 2 prometheus values needed in the last 5s"), "{reason}");
    bg.abort();
    let text = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    assert!(text.contains("sluice_health_source_errors_total{source=\"prometheus\",kind=\"connect\"}"), "{text}");
    s.t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_empty_result_holds_the_wave() {
    let prom = FakePrometheus::start(Answer::Vector(Vec::new())).await;
    let s = setup(spec(&prom.url, 2, "300ms")).await;
    let expect = format!(
        "prometheus {}: empty result: no series matched the query; 0 of 2 prometheus values needed in the last 5s",
        prom.url
    );
    holds(&s, || prom.queries(), &expect, Some("empty result")).await;
    s.t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_error_answer_holds_the_wave() {
    let prom = FakePrometheus::start(Answer::Error("1:5: parse error: unexpected identifier")).await;
    let s = setup(spec(&prom.url, 2, "300ms")).await;
    let expect = "query error (bad_data): 1:5: parse error: unexpected identifier; 0 of 2";
    holds(&s, || prom.queries(), expect, Some("parse error")).await;
    s.t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn nan_values_and_unknown_targets_hold_the_wave() {
    let prom = FakePrometheus::start(Answer::Vector(vec![
        (vec![("target", "prod-a".to_string())], "NaN".to_string()),
        (vec![("target", "prod-b".to_string())], "+Inf".to_string()),
        (vec![("target", "elsewhere-1".to_string())], "0".to_string()),
        (vec![("instance", "x:9100".to_string())], "0".to_string()),
    ]))
    .await;
    let s = setup(spec(&prom.url, 2, "300ms")).await;
    holds(
        &s,
        || prom.queries(),
        "3 series, no usable value: 2 NaN or infinite, 1 for targets sluice does not know (elsewhere-1)",
        Some("NaN or infinite"),
    )
    .await;
    s.t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn fewer_values_than_min_samples_hold_the_wave() {
    let prom = FakePrometheus::start(Answer::per_target(&[("prod-a", 0.0), ("prod-b", 0.0)])).await;
    // 100 ms reads over a 5 s window give at most 50 values per variant: 1000 can never be
    // met, so the rollout is refused before it starts.
    let s = setup(spec(&prom.url, 1000, "300ms")).await;
    let v1 = s.t.admin.create_release("web", harness::web_bundle(1), "v1").await.unwrap().release.id;
    let err = s.t.admin.start_rollout(&start_req(&v1, None)).await.unwrap_err();
    assert!(
        err.to_string().contains("needs 1000 reports in its 5s window, but its source answers every 100ms"),
        "{err}"
    );
    // Over 1m, 500 can be met in time; a wave that has not had that time holds.
    let text = spec(&prom.url, 500, "300ms").replace("window: 5s", "window: 1m");
    s.t.admin.apply_spec(&ApplySpec { text, file: None, force: false }).await.unwrap();
    holds(&s, || prom.queries(), " of 500 prometheus values needed in the last 1m", None).await;
    let v = s.t.admin.rollouts(true).await.unwrap().remove(0);
    assert!(v.gates.iter().all(|e| !e.reason.starts_with("prometheus ")), "no source error named: {:?}", v.gates);
    assert!(v.gates.iter().all(|e| e.samples > 0), "values arrived, just too few: {:?}", v.gates);
    s.t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_source_that_recovers_lets_the_wave_pass() {
    let prom = FakePrometheus::start(Answer::Vector(Vec::new())).await;
    let s = setup(spec(&prom.url, 2, "300ms")).await;
    let started = start(&s.t.admin).await;
    eventually("held", Duration::from_secs(15), || async {
        (s.t.admin.rollout(&started.id).await.unwrap().phase == PhaseKind::Held).then_some(())
    })
    .await;
    prom.set(Answer::per_target(&[("prod-a", 0.0), ("prod-b", 0.0)]));
    let done = finished(&s.t.admin, &started.id, Duration::from_secs(20)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{:?}", done.reason);
    let kinds: Vec<String> = all_events(&s.t.admin).await.into_iter().map(|e| e.kind).collect();
    let err = kinds.iter().position(|k| k == "health_source_error").unwrap();
    let ok = kinds.iter().position(|k| k == "health_source_recovered").unwrap();
    assert!(err < ok, "{kinds:?}");
    s.t.server.shutdown().await.unwrap();
}

/// The same spec with `per: cohort`: the query's one value stands for the whole wave.
fn cohort_spec(url: &str) -> String {
    spec(url, 2, "500ms").replace("target_label: target", "per: cohort").replace("per_label: variant", "")
}

#[tokio::test]
async fn a_cohort_query_judges_the_whole_wave_with_one_value() {
    let ok = FakePrometheus::start(Answer::Vector(vec![(vec![], "0.002".into())])).await;
    let s = setup(cohort_spec(&ok.url)).await;
    let started = start(&s.t.admin).await;
    let done = finished(&s.t.admin, &started.id, Duration::from_secs(20)).await;
    assert_eq!(done.outcome, Some(Outcome::Completed), "{:?}", done.reason);
    assert_eq!(done.gates.len(), 1, "{:?}", done.gates);
    let v = done.gates[0].value.unwrap();
    assert!((v - 0.002).abs() < 1e-12, "every target carries the one value: {v}");
    s.t.server.shutdown().await.unwrap();

    let bad = FakePrometheus::start(Answer::Vector(vec![(vec![], "0.3".into())])).await;
    let s = setup(cohort_spec(&bad.url)).await;
    let started = start(&s.t.admin).await;
    let done = finished(&s.t.admin, &started.id, Duration::from_secs(20)).await;
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{:?}", done.reason);
    s.t.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_cohort_query_with_several_series_holds_the_wave() {
    let prom = FakePrometheus::start(Answer::per_target(&[("prod-a", 0.0), ("prod-b", 0.0)])).await;
    let s = setup(cohort_spec(&prom.url)).await;
    let started = start(&s.t.admin).await;
    let admin = &s.t.admin;
    let held = eventually("the wave to be held", Duration::from_secs(15), || async {
        let v = admin.rollout(&started.id).await.unwrap();
        (v.phase == PhaseKind::Held && v.gates.iter().any(|e| e.reason.contains("exactly one series"))).then_some(v)
    })
    .await;
    assert!(held.outcome.is_none());
    s.t.server.shutdown().await.unwrap();
}
