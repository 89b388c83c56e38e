use super::*;
use crate::config::{ErrorSelector, MetricsConfig};
use crate::scrape;
use sluice_core::time::Dur;

fn selection() -> Selection {
    Selection::new(&MetricsConfig {
        url: "http://x/metrics".into(),
        timeout: Dur::secs(2),
        requests: Some("req_total".into()),
        errors: Some(ErrorSelector {
            metric: "req_total".into(),
            label: Some("code".into()),
            matches: Some("5..".into()),
        }),
        latency: Some("dur_seconds".into()),
    })
    .unwrap()
}

fn read(sel: &Selection, body: &str) -> Reading {
    sel.read(&scrape::parse(body.as_bytes(), &|n| sel.wants(n)).unwrap())
}

const T0: &str = "\
req_total{code=\"200\",path=\"/\"} 100
req_total{code=\"503\",path=\"/\"} 5
req_total{code=\"404\",path=\"/\"} 7
other_total 99
dur_seconds_bucket{le=\"0.1\"} 50
dur_seconds_bucket{le=\"1\"} 100
dur_seconds_bucket{le=\"+Inf\"} 112
process_start_time_seconds 1000
";

#[test]
fn the_selection_reads_only_what_it_needs() {
    let sel = selection();
    assert!(sel.wants("req_total") && sel.wants("dur_seconds_bucket") && sel.wants(PROCESS_START));
    assert!(!sel.wants("other_total") && !sel.wants("dur_seconds_sum"));
    let r = read(&sel, T0);
    assert_eq!(r.requests.len(), 3);
    assert_eq!(r.errors.len(), 1, "only code=5..: {:?}", r.errors);
    assert_eq!(r.buckets.len(), 3);
    assert_eq!(r.start_time, Some(1000.0));
}

#[test]
fn counts_and_latency_come_from_increases() {
    let sel = selection();
    let before = read(&sel, T0);
    let after = read(
        &sel,
        "\
req_total{code=\"200\",path=\"/\"} 180
req_total{code=\"503\",path=\"/\"} 15
req_total{code=\"404\",path=\"/\"} 10
req_total{code=\"500\",path=\"/x\"} 2
dur_seconds_bucket{le=\"0.1\"} 50
dur_seconds_bucket{le=\"1\"} 180
dur_seconds_bucket{le=\"+Inf\"} 212
process_start_time_seconds 1000
",
    );
    let d = delta(&sel, &before, &after);
    // 80 + 10 + 3 + 2 (a new series counts whole).
    assert_eq!(d.requests, 95);
    assert_eq!(d.errors, 12);
    assert!(!d.restarted);
    // Bucket increases: ≤0.1: 0, ≤1: 80, +Inf: 100. p50 (rank 50) is in (0.1, 1]: 0.1 + 0.9·50/80.
    let p50 = d.latency_p50_ms.unwrap();
    assert!((p50 - (0.1 + 0.9 * 50.0 / 80.0) * 1000.0).abs() < 1e-6, "{p50}");
    // p99 falls in +Inf: the highest finite bound.
    assert_eq!(d.latency_p99_ms, Some(1000.0));
    let s = sample(Millis(7), Some("r".into()), &d);
    assert_eq!((s.requests, s.errors, s.crashes), (95, 12, 0));
    assert_eq!(s.metrics[SCRAPE_OK], 1.0);
}

#[test]
fn a_counter_reset_counts_from_zero_and_is_a_restart() {
    let sel = selection();
    let before = read(&sel, T0);
    let after = read(
        &sel,
        "\
req_total{code=\"200\",path=\"/\"} 30
req_total{code=\"503\",path=\"/\"} 1
req_total{code=\"404\",path=\"/\"} 8
dur_seconds_bucket{le=\"0.1\"} 3
dur_seconds_bucket{le=\"1\"} 3
dur_seconds_bucket{le=\"+Inf\"} 3
",
    );
    let d = delta(&sel, &before, &after);
    assert_eq!(d.requests, 30 + 1 + 1);
    assert_eq!(d.errors, 1);
    assert!(d.restarted);
    assert_eq!(sample(Millis(0), None, &d).crashes, 1);
}

#[test]
fn a_moved_start_time_is_a_restart_even_when_counters_grew() {
    let sel = selection();
    let before = read(&sel, T0);
    let after = read(&sel, &T0.replace("process_start_time_seconds 1000", "process_start_time_seconds 1060"));
    let d = delta(&sel, &before, &after);
    assert!(d.restarted);
    assert_eq!(d.requests, 0);
    assert_eq!(d.latency_p50_ms, None, "no observations in the interval");
}

#[test]
fn odd_values_count_nothing() {
    let sel = selection();
    let before = read(&sel, "req_total{code=\"200\"} 10\nreq_total{code=\"500\"} NaN\n");
    let after = read(&sel, "req_total{code=\"200\"} +Inf\nreq_total{code=\"500\"} 4\nreq_total{code=\"501\"} -3\n");
    let d = delta(&sel, &before, &after);
    // +Inf and -3 count nothing; NaN before is no baseline, so 4 counts whole.
    assert_eq!(d.requests, 4);
    assert_eq!(d.errors, 4);
}

#[test]
fn errors_never_exceed_requests_and_milliseconds_histograms_are_not_scaled() {
    let sel = Selection::new(&MetricsConfig {
        url: "http://x/".into(),
        timeout: Dur::secs(1),
        requests: Some("req_total".into()),
        errors: Some(ErrorSelector { metric: "err_total".into(), label: None, matches: None }),
        latency: Some("lat_ms".into()),
    })
    .unwrap();
    let before = read(&sel, "req_total 10\nerr_total 0\nlat_ms_bucket{le=\"10\"} 0\nlat_ms_bucket{le=\"+Inf\"} 0\n");
    let after = read(&sel, "req_total 12\nerr_total 5\nlat_ms_bucket{le=\"10\"} 2\nlat_ms_bucket{le=\"+Inf\"} 2\n");
    let d = delta(&sel, &before, &after);
    assert_eq!((d.requests, d.errors), (2, 2));
    assert_eq!(d.latency_p50_ms, Some(5.0));
}

#[test]
fn a_failed_scrape_still_makes_a_sample_without_counts() {
    let s = failed_sample(Millis(5), Some("r".into()));
    assert_eq!((s.requests, s.errors, s.crashes), (0, 0, 0));
    assert_eq!(s.metrics[SCRAPE_OK], 0.0);
    assert_eq!(s.latency_p99_ms, None);
}
