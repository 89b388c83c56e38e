use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;
use crate::scrape::{self, Series};
use crate::synthetic::CodeClass;

/// A clock the test moves.
#[derive(Debug, Default)]
struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        Millis(self.0.load(Ordering::SeqCst))
    }
}

fn parse(text: &str) -> Vec<Series> {
    scrape::parse(text.as_bytes(), &|_| true).unwrap()
}

fn value(series: &[Series], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    series.iter().find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v))).map(|s| s.value)
}

#[test]
fn every_family_is_served_with_the_target_label() {
    let clock = Arc::new(ManualClock(AtomicU64::new(10_000)));
    let t = Telemetry::new("prod-eu-01", clock.clone());
    let ok = Outcome { class: CodeClass::Success, elapsed: Some(Duration::from_millis(3)) };
    let failed = Outcome { class: CodeClass::Error, elapsed: None };
    t.probe("nginx-conf", "http://127.0.0.1:8081/", &ok);
    t.probe("nginx-conf", "http://127.0.0.1:8081/", &ok);
    t.probe("nginx-conf", "http://127.0.0.1:8081/", &failed);
    t.applied("nginx-conf", 1500, None);
    t.applied("nginx-conf", 200, Some("check_failed"));
    let release = ReleaseId("sha256:abc".into());
    t.running("nginx-conf", Some(&release));
    clock.0.store(12_500, Ordering::SeqCst);
    let text = t.encode();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let s = parse(&text);
    assert!(s.iter().all(|s| s.label("target") == Some("prod-eu-01")), "{text}");
    let svc = ("service", "nginx-conf");
    let url = ("url", "http://127.0.0.1:8081/");
    assert_eq!(value(&s, "sluice_probe_requests_total", &[svc, url, ("code_class", "2xx")]), Some(2.0));
    assert_eq!(value(&s, "sluice_probe_requests_total", &[svc, url, ("code_class", "error")]), Some(1.0));
    assert_eq!(value(&s, "sluice_probe_duration_seconds_count", &[svc]), Some(2.0), "answered only");
    assert_eq!(value(&s, "sluice_probe_duration_seconds_bucket", &[svc, ("le", "0.005")]), Some(2.0));
    assert_eq!(value(&s, "sluice_agent_apply_duration_seconds_count", &[svc]), Some(2.0));
    assert_eq!(value(&s, "sluice_agent_apply_duration_seconds_sum", &[svc]), Some(1.7));
    assert_eq!(value(&s, "sluice_agent_apply_failures_total", &[svc, ("reason", "check_failed")]), Some(1.0));
    assert_eq!(value(&s, "sluice_agent_running_info", &[svc, ("release", "sha256:abc")]), Some(1.0));
    // Never reported: the age runs from the start.
    assert_eq!(value(&s, "sluice_agent_last_report_age_seconds", &[]), Some(2.5));
    assert!(text.contains("# TYPE sluice_probe_requests counter"), "{text}");
    assert!(text.contains("# TYPE sluice_probe_duration_seconds histogram"), "{text}");
    assert!(text.contains("# TYPE sluice_agent_last_report_age_seconds gauge"), "{text}");
}

#[test]
fn the_report_age_restarts_at_each_report() {
    let clock = Arc::new(ManualClock(AtomicU64::new(1_000)));
    let t = Telemetry::new("t", clock.clone());
    clock.0.store(60_000, Ordering::SeqCst);
    t.reported(Millis(59_000));
    let s = parse(&t.encode());
    assert_eq!(value(&s, "sluice_agent_last_report_age_seconds", &[]), Some(1.0));
}

#[test]
fn running_info_follows_the_current_release() {
    let t = Telemetry::new("t", Arc::new(ManualClock::default()));
    let (a, b) = (ReleaseId("sha256:a".into()), ReleaseId("sha256:b".into()));
    t.running("edge", Some(&a));
    t.running("edge", Some(&b));
    t.running("rules", Some(&a));
    let s = parse(&t.encode());
    let info: Vec<(Option<&str>, Option<&str>)> = s
        .iter()
        .filter(|s| s.name == "sluice_agent_running_info")
        .map(|s| (s.label("service"), s.label("release")))
        .collect();
    assert_eq!(info.len(), 2, "{info:?}");
    assert!(info.contains(&(Some("edge"), Some("sha256:b"))));
    assert!(info.contains(&(Some("rules"), Some("sha256:a"))));
    t.running("edge", None);
    let s = parse(&t.encode());
    assert_eq!(s.iter().filter(|s| s.name == "sluice_agent_running_info").count(), 1);
}
