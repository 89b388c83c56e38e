//! Synthetic probes: GET requests to configured URLs at a steady rate, for services that have
//! no traffic (or no metrics) of their own. Each answer is counted by status class (`2xx`,
//! `3xx`, `4xx`, `5xx`; `error` for a connection failure, a timeout or a broken answer) and,
//! when there was an answer, by latency (time to the end of the body).
//!
//! The counts of one report interval are a [`Tally`]: it becomes the interval's [`Sample`]
//! when the service has no metrics endpoint (requests = probes answered or failed, errors =
//! `5xx` + `error`, p50/p99 of the answered probes' latencies), and always adds the custom
//! metrics [`ERROR_RATE`] and [`LATENCY_P99_MS`] to the sample. Redirects are not followed (a
//! `3xx` is counted as such). A probe still waiting for its answer when the next request is
//! due does not delay it; at most [`MAX_IN_FLIGHT`] wait at once, and a request that cannot
//! be sent for that reason counts as `error`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_core::engine::Sample;
use sluice_core::release::ReleaseId;
use sluice_core::time::Millis;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::histogram;
use crate::telemetry::Telemetry;

/// `Sample.metrics` key: `(5xx + error) / sent` of the interval's probes.
pub const ERROR_RATE: &str = "probe_error_rate";
/// `Sample.metrics` key: p99 latency of the interval's answered probes, in milliseconds.
pub const LATENCY_P99_MS: &str = "probe_latency_p99_ms";
/// Requests of one probe URL waiting for their answer at once, at most.
pub const MAX_IN_FLIGHT: usize = 64;
/// Body bytes read from one answer (the rest is dropped with the connection).
const MAX_BODY_BYTES: usize = 1 << 20;

/// The class of one probe's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CodeClass {
    Informational,
    Success,
    Redirect,
    ClientError,
    ServerError,
    /// No (usable) answer: connection refused, timeout, broken answer, too many in flight.
    Error,
}

impl CodeClass {
    /// The class of HTTP status `code`; codes outside 100..=599 are `Error`.
    pub fn of(code: u16) -> CodeClass {
        match code {
            100..=199 => CodeClass::Informational,
            200..=299 => CodeClass::Success,
            300..=399 => CodeClass::Redirect,
            400..=499 => CodeClass::ClientError,
            500..=599 => CodeClass::ServerError,
            _ => CodeClass::Error,
        }
    }

    /// The `code_class` label: `1xx` … `5xx`, `error`.
    pub fn label(self) -> &'static str {
        match self {
            CodeClass::Informational => "1xx",
            CodeClass::Success => "2xx",
            CodeClass::Redirect => "3xx",
            CodeClass::ClientError => "4xx",
            CodeClass::ServerError => "5xx",
            CodeClass::Error => "error",
        }
    }

    /// True for what counts as an error in a sample: `5xx` and `error`.
    pub fn is_error(self) -> bool {
        matches!(self, CodeClass::ServerError | CodeClass::Error)
    }
}

/// How one probe ended: its class and, when answered, how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub class: CodeClass,
    pub elapsed: Option<Duration>,
}

/// Latency bucket bounds: 0.1 ms × 1.15^i, up to ~13 s (84 buckets; a quantile read from
/// them is within 15% of the true value).
const BUCKETS: usize = 84;

fn bound_ms(i: usize) -> f64 {
    0.1 * 1.15_f64.powi(i32::try_from(i).unwrap_or(i32::MAX))
}

/// The probes of one service over one report interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    by_class: BTreeMap<CodeClass, u64>,
    /// Answered probes by latency bucket (`BUCKETS` finite ones, then +Inf).
    latency: Vec<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally { by_class: BTreeMap::new(), latency: vec![0; BUCKETS + 1] }
    }
}

impl Tally {
    pub fn record(&mut self, outcome: &Outcome) {
        *self.by_class.entry(outcome.class).or_default() += 1;
        if let Some(elapsed) = outcome.elapsed {
            let ms = elapsed.as_secs_f64() * 1000.0;
            let i = (0..BUCKETS).find(|&i| ms <= bound_ms(i)).unwrap_or(BUCKETS);
            if let Some(slot) = self.latency.get_mut(i) {
                *slot += 1;
            }
        }
    }

    /// Probes that ended (answered or failed).
    pub fn sent(&self) -> u64 {
        self.by_class.values().sum()
    }

    /// Probes of class `class`.
    pub fn count(&self, class: CodeClass) -> u64 {
        self.by_class.get(&class).copied().unwrap_or(0)
    }

    /// `5xx` and `error` probes.
    pub fn errors(&self) -> u64 {
        self.by_class.iter().filter(|(c, _)| c.is_error()).map(|(_, n)| n).sum()
    }

    /// Quantile `q` of the answered probes' latency, in milliseconds.
    pub fn latency_ms(&self, q: f64) -> Option<f64> {
        let mut cumulative = 0u64;
        let buckets: Vec<(f64, f64)> = self
            .latency
            .iter()
            .enumerate()
            .map(|(i, n)| {
                cumulative += n;
                let le = if i < BUCKETS { bound_ms(i) } else { f64::INFINITY };
                (le, cumulative as f64)
            })
            .collect();
        histogram::quantile(q, &buckets)
    }

    /// Adds [`ERROR_RATE`] and [`LATENCY_P99_MS`] to `metrics` (nothing without probes).
    pub fn add_metrics(&self, metrics: &mut BTreeMap<String, f64>) {
        let sent = self.sent();
        if sent > 0 {
            metrics.insert(ERROR_RATE.to_string(), self.errors() as f64 / sent as f64);
        }
        if let Some(p99) = self.latency_ms(0.99) {
            metrics.insert(LATENCY_P99_MS.to_string(), p99);
        }
    }

    /// The interval's sample of a service whose only traffic is its probes.
    pub fn sample(&self, at: Millis, release: Option<ReleaseId>) -> Sample {
        let mut metrics = BTreeMap::new();
        self.add_metrics(&mut metrics);
        Sample {
            at,
            release,
            requests: self.sent(),
            errors: self.errors(),
            latency_p50_ms: self.latency_ms(0.5),
            latency_p99_ms: self.latency_ms(0.99),
            crashes: 0,
            metrics,
        }
    }
}

/// The tally of one service, shared by its probe loops (which record) and the reporter (which
/// takes it every interval). A probe started before [`ProbeTally::reset`] is not counted.
#[derive(Debug, Default)]
pub struct ProbeTally {
    inner: Mutex<(u64, Tally)>,
}

impl ProbeTally {
    /// The current generation (a probe records into it only if it has not changed since).
    pub fn generation(&self) -> u64 {
        crate::runtime::lock(&self.inner).0
    }

    /// Records `outcome` if the tally is still at `generation`; false otherwise.
    pub fn record(&self, generation: u64, outcome: &Outcome) -> bool {
        let mut inner = crate::runtime::lock(&self.inner);
        if inner.0 != generation {
            return false;
        }
        inner.1.record(outcome);
        true
    }

    /// The interval's tally; the next starts empty.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut crate::runtime::lock(&self.inner).1)
    }

    /// Drops what was counted and what is in flight (the service switched release).
    pub fn reset(&self) {
        let mut inner = crate::runtime::lock(&self.inner);
        inner.0 = inner.0.wrapping_add(1);
        inner.1 = Tally::default();
    }
}

/// The HTTP client of probes: no redirects, a few idle connections per host.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(4)
        .user_agent("sluice-agent-probe")
        .build()
}

/// One GET of `url` within `timeout`, body included (up to 1 MiB).
pub async fn probe_once(http: &reqwest::Client, url: &str, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let exchange = async {
        let mut resp = http.get(url).send().await.ok()?;
        let class = CodeClass::of(resp.status().as_u16());
        let mut read = 0usize;
        while let Some(chunk) = resp.chunk().await.ok()? {
            read += chunk.len();
            if read > MAX_BODY_BYTES {
                break;
            }
        }
        Some(class)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Some(class)) => Outcome { class, elapsed: Some(started.elapsed()) },
        Ok(None) | Err(_) => Outcome { class: CodeClass::Error, elapsed: None },
    }
}

/// One probe URL of one service, as its loop needs it.
#[derive(Debug, Clone)]
pub struct ProbeLoop {
    pub service: String,
    pub url: String,
    pub period: Duration,
    pub timeout: Duration,
}

impl ProbeLoop {
    /// Sends a request every `period` (the first at once) until dropped or aborted, counting
    /// into `tally` and `telemetry`.
    pub async fn run(self, http: reqwest::Client, tally: Arc<ProbeTally>, telemetry: Arc<Telemetry>) {
        let this = Arc::new(self);
        let mut ticker = tokio::time::interval(this.period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut in_flight: JoinSet<()> = JoinSet::new();
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let generation = tally.generation();
                    if in_flight.len() >= MAX_IN_FLIGHT {
                        let outcome = Outcome { class: CodeClass::Error, elapsed: None };
                        this.count(&tally, generation, &outcome, &telemetry);
                        continue;
                    }
                    let (this, http, tally, telemetry) = (this.clone(), http.clone(), tally.clone(), telemetry.clone());
                    in_flight.spawn(async move {
                        let outcome = probe_once(&http, &this.url, this.timeout).await;
                        this.count(&tally, generation, &outcome, &telemetry);
                    });
                }
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
    }

    fn count(&self, tally: &ProbeTally, generation: u64, outcome: &Outcome, telemetry: &Telemetry) {
        telemetry.probe(&self.service, &self.url, outcome);
        tally.record(generation, outcome);
    }
}

#[cfg(test)]
mod tests;
