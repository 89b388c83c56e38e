//! From two scrapes of a service's metrics to the health [`Sample`] of the interval between
//! them: request and error counts from counter increases, p50/p99 latency from the increase of
//! each histogram bucket, and a restart when the process start time moved or a counter went
//! backwards.
//!
//! Increases are computed per series (matched by their label sets) and then summed, so a
//! counter reset in one series (the process restarted) counts that series from zero instead of
//! erasing the others' traffic. A series that appears between two scrapes counts whole (client
//! libraries create a labelled series at its first increment). No baseline (the first scrape,
//! or the first after an apply or a failed scrape) gives no sample: an interval is only
//! reported when both of its ends were seen.

use std::collections::BTreeMap;

use sluice_core::engine::Sample;
use sluice_core::release::ReleaseId;
use sluice_core::time::Millis;

use crate::config::MetricsConfig;
use crate::histogram;
use crate::scrape::Series;

/// The gauge every scraped sample carries: 1 when the scrape worked, 0 when it failed.
pub const SCRAPE_OK: &str = "scrape_ok";

/// The series every Prometheus client library exports with the process's start time.
pub const PROCESS_START: &str = "process_start_time_seconds";

/// Which metrics to read, compiled from a [`MetricsConfig`].
#[derive(Debug, Clone)]
pub struct Selection {
    requests: Option<String>,
    errors: Option<(String, Option<(String, regex::Regex)>)>,
    /// `<latency>_bucket` and the factor to milliseconds.
    latency: Option<(String, f64)>,
}

impl Selection {
    /// Compiles `config` (checked when the configuration was read).
    pub fn new(config: &MetricsConfig) -> Result<Selection, regex::Error> {
        let errors = match &config.errors {
            Some(e) => Some((e.metric.clone(), e.matcher()?)),
            None => None,
        };
        let latency = config.latency.as_ref().map(|name| {
            let to_ms = if name.ends_with("_milliseconds") || name.ends_with("_ms") { 1.0 } else { 1000.0 };
            (format!("{name}_bucket"), to_ms)
        });
        Ok(Selection { requests: config.requests.clone(), errors, latency })
    }

    /// True for the names this selection reads (the scrape parser keeps only those).
    pub fn wants(&self, name: &str) -> bool {
        name == PROCESS_START
            || self.requests.as_deref() == Some(name)
            || self.errors.as_ref().is_some_and(|(m, _)| m == name)
            || self.latency.as_ref().is_some_and(|(b, _)| b == name)
    }

    /// The values one scrape gives, by series.
    pub fn read(&self, series: &[Series]) -> Reading {
        let mut reading = Reading::default();
        for s in series {
            if s.name == PROCESS_START && s.value.is_finite() {
                reading.start_time = Some(s.value);
            }
            if self.requests.as_deref() == Some(s.name.as_str()) {
                reading.requests.insert(s.key_without(""), s.value);
            }
            if let Some((metric, matcher)) = &self.errors
                && *metric == s.name
                && matcher.as_ref().is_none_or(|(label, re)| s.label(label).is_some_and(|v| re.is_match(v)))
            {
                reading.errors.insert(s.key_without(""), s.value);
            }
            if let Some((bucket, _)) = &self.latency
                && *bucket == s.name
                && let Some(le) = s.label("le").and_then(parse_le)
            {
                reading.buckets.insert(s.key_without(""), (le, s.value));
            }
        }
        reading
    }

    fn to_ms(&self) -> f64 {
        self.latency.as_ref().map_or(1000.0, |(_, f)| *f)
    }
}

fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        _ => s.parse::<f64>().ok().filter(|v| !v.is_nan()),
    }
}

/// What one scrape said, reduced to the series a [`Selection`] reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// Request counter series, by label set.
    pub requests: BTreeMap<String, f64>,
    /// Error counter series, by label set.
    pub errors: BTreeMap<String, f64>,
    /// Latency buckets by label set (with `le`): (upper bound, cumulative count).
    pub buckets: BTreeMap<String, (f64, f64)>,
    /// `process_start_time_seconds`, when exported.
    pub start_time: Option<f64>,
}

/// The interval between two readings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    pub requests: u64,
    pub errors: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// The service restarted in the interval (start time moved, or a counter went backwards).
    pub restarted: bool,
}

/// The interval from `before` to `after`.
pub fn delta(selection: &Selection, before: &Reading, after: &Reading) -> Delta {
    let mut reset = false;
    let requests = increase(&before.requests, &after.requests, &mut reset);
    let errors = increase(&before.errors, &after.errors, &mut reset);
    let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for (key, (le, count)) in &after.buckets {
        let before = before.buckets.get(key).map(|(_, c)| *c);
        let inc = counter_increase(before, *count, &mut reset);
        // Same bound in several series (e.g. per method): add them up.
        let slot = buckets.entry(le.to_bits()).or_insert((*le, 0.0));
        slot.1 += inc;
    }
    let buckets: Vec<(f64, f64)> = buckets.into_values().collect();
    let to_ms = selection.to_ms();
    let quantile = |q| histogram::quantile(q, &buckets).map(|v| v * to_ms).filter(|v| v.is_finite());
    let moved = matches!((before.start_time, after.start_time), (Some(a), Some(b)) if a != b);
    Delta {
        requests: to_count(requests),
        // Errors are among requests.
        errors: to_count(errors).min(to_count(requests)),
        latency_p50_ms: quantile(0.5),
        latency_p99_ms: quantile(0.99),
        restarted: moved || reset,
    }
}

/// The summed increase of the series of `after` since `before`.
fn increase(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, reset: &mut bool) -> f64 {
    after.iter().map(|(key, now)| counter_increase(before.get(key).copied(), *now, reset)).sum()
}

/// One series' increase: the difference, the whole value after a reset (it went backwards) or
/// for a new series; nothing for a value that is not a finite non-negative number.
fn counter_increase(before: Option<f64>, now: f64, reset: &mut bool) -> f64 {
    if !now.is_finite() || now < 0.0 {
        return 0.0;
    }
    match before.filter(|b| b.is_finite() && *b >= 0.0) {
        Some(b) if now >= b => now - b,
        Some(_) => {
            *reset = true;
            now
        }
        None => now,
    }
}

fn to_count(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        // `as` saturates; counters are whole numbers, rounding absorbs float noise.
        v.round() as u64
    } else {
        0
    }
}

/// The sample of an interval with both ends scraped.
pub fn sample(at: Millis, release: Option<ReleaseId>, delta: &Delta) -> Sample {
    Sample {
        at,
        release,
        requests: delta.requests,
        errors: delta.errors,
        latency_p50_ms: delta.latency_p50_ms,
        latency_p99_ms: delta.latency_p99_ms,
        crashes: u64::from(delta.restarted),
        metrics: BTreeMap::from([(SCRAPE_OK.to_string(), 1.0)]),
    }
}

/// The sample of an interval whose scrape failed: no request counts, `scrape_ok` 0 (gates can
/// hold on it, and the report still says what runs).
pub fn failed_sample(at: Millis, release: Option<ReleaseId>) -> Sample {
    Sample { at, release, metrics: BTreeMap::from([(SCRAPE_OK.to_string(), 0.0)]), ..Sample::default() }
}

#[cfg(test)]
mod tests;
