//! The demo edge's Prometheus metrics: requests by status code, a latency histogram and the
//! count of requests scored 0 (the 18 Nov quality signal), in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 11] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Debug, Default)]
pub struct EdgeMetrics {
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    by_code: BTreeMap<u16, u64>,
    /// Per bucket of `BUCKETS` (not cumulative); the last slot is `+Inf`.
    buckets: [u64; BUCKETS.len() + 1],
    sum_seconds: f64,
    count: u64,
    bot_score_zero: u64,
}

impl EdgeMetrics {
    pub fn record(&self, status: u16, took: Duration, bot_score: u8) {
        let Ok(mut c) = self.inner.lock() else { return };
        *c.by_code.entry(status).or_default() += 1;
        let secs = took.as_secs_f64();
        let slot = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        c.buckets[slot] += 1;
        c.sum_seconds += secs;
        c.count += 1;
        if bot_score == 0 {
            c.bot_score_zero += 1;
        }
    }

    /// The Prometheus text format. `200` and `500` are always present, so a scraper sees the
    /// counters from zero.
    pub fn render(&self) -> String {
        let Ok(c) = self.inner.lock() else { return String::new() };
        let mut by_code = c.by_code.clone();
        by_code.entry(200).or_default();
        by_code.entry(500).or_default();
        let mut out = String::new();
        out.push_str("# HELP edge_requests_total Requests answered, by HTTP status code.\n");
        out.push_str("# TYPE edge_requests_total counter\n");
        for (code, n) in &by_code {
            let _ = writeln!(out, "edge_requests_total{{code=\"{code}\"}} {n}");
        }
        out.push_str("# HELP edge_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE edge_request_duration_seconds histogram\n");
        let mut cumulative = 0u64;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += c.buckets[i];
            let _ = writeln!(out, "edge_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += c.buckets[BUCKETS.len()];
        let _ = writeln!(out, "edge_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "edge_request_duration_seconds_sum {}", c.sum_seconds);
        let _ = writeln!(out, "edge_request_duration_seconds_count {}", c.count);
        out.push_str("# HELP edge_bot_score_zero_total Requests given bot score 0.\n");
        out.push_str("# TYPE edge_bot_score_zero_total counter\n");
        let _ = writeln!(out, "edge_bot_score_zero_total {}", c.bot_score_zero);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_a_cumulative_histogram_are_rendered() {
        let m = EdgeMetrics::default();
        assert!(m.render().contains("edge_requests_total{code=\"500\"} 0\n"));
        m.record(200, Duration::from_micros(300), 87);
        m.record(200, Duration::from_millis(3), 0);
        m.record(500, Duration::from_secs(2), 0);
        let text = m.render();
        for line in [
            "edge_requests_total{code=\"200\"} 2",
            "edge_requests_total{code=\"500\"} 1",
            "edge_request_duration_seconds_bucket{le=\"0.0005\"} 1",
            "edge_request_duration_seconds_bucket{le=\"0.005\"} 2",
            "edge_request_duration_seconds_bucket{le=\"1\"} 2",
            "edge_request_duration_seconds_bucket{le=\"+Inf\"} 3",
            "edge_request_duration_seconds_count 3",
            "edge_bot_score_zero_total 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
