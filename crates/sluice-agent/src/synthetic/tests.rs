use std::time::Duration;

use super::*;
use crate::clock::SystemClock;
use crate::test_server::{TestServer, refused_url, until};

fn answered(class: CodeClass, ms: u64) -> Outcome {
    Outcome { class, elapsed: Some(Duration::from_millis(ms)) }
}

const FAILED: Outcome = Outcome { class: CodeClass::Error, elapsed: None };

#[test]
fn status_codes_fall_into_classes() {
    let labels: Vec<&str> =
        [100, 200, 204, 301, 304, 404, 499, 500, 503, 99, 600, 0].iter().map(|&c| CodeClass::of(c).label()).collect();
    assert_eq!(labels, ["1xx", "2xx", "2xx", "3xx", "3xx", "4xx", "4xx", "5xx", "5xx", "error", "error", "error"]);
    assert!(CodeClass::ServerError.is_error() && CodeClass::Error.is_error());
    assert!(!CodeClass::ClientError.is_error() && !CodeClass::Redirect.is_error());
}

#[test]
fn a_tally_counts_classes_errors_and_latency() {
    let mut t = Tally::default();
    for _ in 0..90 {
        t.record(&answered(CodeClass::Success, 10));
    }
    for _ in 0..5 {
        t.record(&answered(CodeClass::ServerError, 100));
    }
    for _ in 0..3 {
        t.record(&answered(CodeClass::ClientError, 10));
    }
    t.record(&FAILED);
    t.record(&FAILED);
    assert_eq!(t.sent(), 100);
    assert_eq!(t.errors(), 7);
    assert_eq!(t.count(CodeClass::Success), 90);
    assert_eq!(t.count(CodeClass::Redirect), 0);
    // 98 answered: p50 is 10 ms, p99 in the 100 ms bucket (buckets are 15% wide).
    let p50 = t.latency_ms(0.5).unwrap();
    let p99 = t.latency_ms(0.99).unwrap();
    assert!((8.5..=10.0).contains(&p50), "{p50}");
    assert!((85.0..=115.0).contains(&p99), "{p99}");
    let s = t.sample(Millis(7), None);
    assert_eq!((s.at, s.requests, s.errors, s.crashes), (Millis(7), 100, 7, 0));
    assert_eq!(s.latency_p50_ms, Some(p50));
    assert_eq!(s.latency_p99_ms, Some(p99));
    assert_eq!(s.metrics.get(ERROR_RATE), Some(&0.07));
    assert_eq!(s.metrics.get(LATENCY_P99_MS), Some(&p99));
}

#[test]
fn an_empty_tally_says_nothing_and_failures_alone_have_no_latency() {
    let s = Tally::default().sample(Millis(1), None);
    assert_eq!((s.requests, s.errors, s.latency_p50_ms), (0, 0, None));
    assert!(s.metrics.is_empty());
    let mut t = Tally::default();
    t.record(&FAILED);
    let s = t.sample(Millis(1), None);
    assert_eq!((s.requests, s.errors, s.latency_p99_ms), (1, 1, None));
    assert_eq!(s.metrics.get(ERROR_RATE), Some(&1.0));
    assert!(!s.metrics.contains_key(LATENCY_P99_MS));
}

#[test]
fn very_slow_answers_land_in_the_last_bucket() {
    let mut t = Tally::default();
    t.record(&answered(CodeClass::Success, 60_000));
    t.record(&answered(CodeClass::Success, 60_000));
    assert_eq!(t.latency_ms(0.5), Some(bound_ms(BUCKETS - 1)));
    assert!(bound_ms(BUCKETS - 1) > 10_000.0, "the last finite bound covers the longest timeout");
}

#[test]
fn a_reset_drops_counts_and_probes_in_flight() {
    let tally = ProbeTally::default();
    let before = tally.generation();
    assert!(tally.record(before, &FAILED));
    tally.reset();
    assert!(!tally.record(before, &FAILED), "started before the switch");
    assert_eq!(tally.take().sent(), 0);
    assert!(tally.record(tally.generation(), &answered(CodeClass::Success, 1)));
    assert_eq!(tally.take().sent(), 1);
    assert_eq!(tally.take().sent(), 0, "take starts a new interval");
}

#[tokio::test]
async fn one_probe_against_a_real_server() {
    let server = TestServer::start().await;
    let http = client().unwrap();
    let t = Duration::from_secs(5);
    let ok = probe_once(&http, &server.url("/ok"), t).await;
    assert_eq!(ok.class, CodeClass::Success);
    assert!(ok.elapsed.is_some());
    assert_eq!(probe_once(&http, &server.url("/bad"), t).await.class, CodeClass::ServerError);
    assert_eq!(probe_once(&http, &server.url("/missing"), t).await.class, CodeClass::ClientError);
    assert_eq!(probe_once(&http, &server.url("/moved"), t).await.class, CodeClass::Redirect, "not followed");
    assert_eq!(probe_once(&http, &refused_url().await, t).await, FAILED);
    let slow = probe_once(&http, &server.url("/slow"), Duration::from_millis(100)).await;
    assert_eq!(slow, FAILED, "a timeout is an error");
}

#[tokio::test]
async fn probe_loops_count_by_class_into_the_tally_and_the_metrics() {
    let server = TestServer::start().await;
    let telemetry = Arc::new(Telemetry::new("t1", Arc::new(SystemClock)));
    let tally = Arc::new(ProbeTally::default());
    let http = client().unwrap();
    let refused = refused_url().await;
    let mut loops = JoinSet::new();
    for url in [server.url("/ok"), server.url("/bad"), refused.clone()] {
        let l = ProbeLoop {
            service: "web".into(),
            url,
            period: Duration::from_millis(10),
            timeout: Duration::from_secs(2),
        };
        loops.spawn(l.run(http.clone(), tally.clone(), telemetry.clone()));
    }
    // Count in a local tally what the loops record, interval by interval.
    let mut total = Tally::default();
    until("5 probes of each kind", || {
        let t = tally.take();
        for (class, n) in &t.by_class {
            *total.by_class.entry(*class).or_default() += n;
        }
        [CodeClass::Success, CodeClass::ServerError, CodeClass::Error].iter().all(|c| total.count(*c) >= 5)
    })
    .await;
    loops.abort_all();
    assert_eq!(total.count(CodeClass::ClientError) + total.count(CodeClass::Redirect), 0);
    assert_eq!(total.errors(), total.count(CodeClass::ServerError) + total.count(CodeClass::Error));
    let text = telemetry.encode();
    let series = crate::scrape::parse(text.as_bytes(), &|n| n == "sluice_probe_requests_total").unwrap();
    let count = |url: &str, class: &str| -> f64 {
        series
            .iter()
            .filter(|s| s.label("url") == Some(url) && s.label("code_class") == Some(class))
            .inspect(|s| assert_eq!((s.label("service"), s.label("target")), (Some("web"), Some("t1"))))
            .map(|s| s.value)
            .sum()
    };
    assert!(count(&server.url("/ok"), "2xx") >= 5.0);
    assert!(count(&server.url("/bad"), "5xx") >= 5.0);
    assert!(count(&refused, "error") >= 5.0);
    assert_eq!(count(&server.url("/ok"), "5xx"), 0.0);
}

#[tokio::test]
async fn every_request_a_loop_sends_is_counted_once() {
    let server = TestServer::start().await;
    let telemetry = Arc::new(Telemetry::new("t1", Arc::new(SystemClock)));
    let tally = Arc::new(ProbeTally::default());
    let l = ProbeLoop {
        service: "web".into(),
        url: server.url("/ok"),
        period: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
    };
    let task = tokio::spawn(l.run(client().unwrap(), tally.clone(), telemetry));
    let seen = || server.seen.load(std::sync::atomic::Ordering::SeqCst);
    until("20 probes", || seen() >= 20).await;
    task.abort();
    let _ = task.await;
    let sent = tally.take().sent();
    // The last one may have been aborted between the server's count and the tally's.
    assert!(sent <= seen() && sent + 1 >= seen(), "tally {sent}, server {}", seen());
}
