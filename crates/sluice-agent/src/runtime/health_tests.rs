//! Reports carry what probes and commands measured.

use sluice_api::ServiceReport;

use crate::config::AgentConfig;
use crate::synthetic::{ERROR_RATE, LATENCY_P99_MS};
use crate::test_server::{ControlPlane, TestServer, until};

#[tokio::test]
async fn reports_carry_probe_samples_probe_metrics_and_command_figures() {
    let site = TestServer::start().await;
    let server = ControlPlane::start().await;
    let dir = tempfile::tempdir().unwrap();
    // `web` has only probes (half of them 500) and a command; `app` has a metrics endpoint
    // and a probe.
    let text = format!(
        "server: http://{server}\nid: edge-1\nenrollment_token: tok\nstate_dir: {state}\nreport_interval: 1s\n\
         services:\n\
         \x20 web:\n\
         \x20   probes:\n\
         \x20     - {{url: \"{ok}\", every: 10ms}}\n\
         \x20     - {{url: \"{bad}\", every: 10ms}}\n\
         \x20   command: {{run: \"echo 7\", every: 100ms, metric: queue_depth}}\n\
         \x20 app:\n\
         \x20   metrics: {{url: \"{metrics}\", requests: app_requests_total}}\n\
         \x20   probes: [{{url: \"{ok}\", every: 10ms}}]\n",
        server = server.addr,
        state = dir.path().display(),
        ok = site.url("/ok"),
        bad = site.url("/bad"),
        metrics = site.url("/metrics"),
    );
    let config = AgentConfig::parse("a.yaml", &text).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(crate::runtime::run(config, async {
        let _ = stopped.await;
    }));
    let sample_of = |services: &[ServiceReport], name: &str| {
        services.iter().find(|s| s.service == name).and_then(|s| s.sample.clone())
    };
    // The first interval's report with both samples (reports right after start may have none).
    let mut found = None;
    until("a report with both samples", || {
        let reports = server.reports.lock().unwrap();
        found = reports.iter().find_map(|r| {
            let web = sample_of(&r.services, "web")?;
            let app = sample_of(&r.services, "app")?;
            (web.requests > 0 && web.metrics.contains_key("queue_depth")).then_some((web, app))
        });
        found.is_some()
    })
    .await;
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
    let (web, app) = found.unwrap();
    // Probes only: the sample is the probes'; /bad's 500s are errors.
    assert!(web.requests >= 10, "{web:?}");
    assert!(web.errors > 0 && web.errors < web.requests, "{web:?}");
    assert!(web.latency_p50_ms.is_some() && web.latency_p99_ms.is_some(), "{web:?}");
    let rate = web.metrics[ERROR_RATE];
    assert!((rate - web.errors as f64 / web.requests as f64).abs() < 1e-9, "{web:?}");
    assert_eq!(web.metrics["queue_depth"], 7.0);
    // Metrics and probes: the scraped sample (a constant counter: 0 requests) plus the
    // probes' figures.
    assert_eq!((app.requests, app.errors), (0, 0), "{app:?}");
    assert_eq!(app.metrics["scrape_ok"], 1.0);
    assert_eq!(app.metrics[ERROR_RATE], 0.0);
    assert!(app.metrics.contains_key(LATENCY_P99_MS), "{app:?}");
}
