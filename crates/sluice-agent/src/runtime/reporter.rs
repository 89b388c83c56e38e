//! The reporter: every report interval, scrapes each service's metrics and posts what runs,
//! known-good, the last apply result and the interval's health [`Sample`]; after an apply or
//! rollback it posts without waiting for a scrape (the server measures verdict-to-rollback),
//! after a short random wait ([`report_jitter`](super::report_jitter): at most a quarter of
//! the interval, so a wave's agents do not all post in the same instant), then re-baselines
//! the switched service's counters so the next sample covers only the new release. A report the server did not take is retried with backoff; an
//! acknowledged desired version above the poller's wakes the poller.
//!
//! Probes and commands ([`Health`]) add to the sample: a service without a metrics endpoint
//! but with probes gets the probes' sample (requests, errors, latency); every service with
//! probes gets `probe_error_rate` / `probe_latency_p99_ms`, every service with a command its
//! figure. A switch drops what they measured of the release before.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sluice_api::{Report, ServiceReport};
use sluice_core::engine::Sample;
use tokio::time::{MissedTickBehavior, Sleep};

use super::link::{self, Link};
use super::report_jitter::ReportJitter;
use super::sources::Health;
use super::stop::Stop;
use super::{Shared, lock, scraper};
use crate::backoff::Backoff;
use crate::config::{AgentConfig, ServiceConfig};
use crate::rss;
use crate::sampler::{self, Reading, Selection};
use crate::synthetic;

/// The metrics side of one service.
#[derive(Debug)]
struct Metrics {
    selection: Selection,
    url: String,
    timeout: Duration,
    /// The last good reading, and the service's switch count when it was taken.
    baseline: Option<(Reading, u64)>,
    /// The failure last logged (logged once per change).
    failing: Option<String>,
}

pub(crate) struct Reporter {
    shared: Arc<Shared>,
    http: reqwest::Client,
    metrics: BTreeMap<String, Metrics>,
    /// Probes and commands, by service (only services that have one).
    health: BTreeMap<String, Health>,
    /// The switch count of each service when its health sources were last reset.
    health_switches: BTreeMap<String, u64>,
    /// Samples of a report that did not go through, sent with the next one.
    unsent: BTreeMap<String, Sample>,
    /// The gate metrics each configured service's samples carry, told to the server.
    produces: BTreeMap<String, Vec<String>>,
    link: Link,
    backoff: Backoff,
    /// The wait before a report after an apply.
    jitter: ReportJitter,
}

/// What woke the reporter.
enum Wake {
    /// The interval's report (scrape first).
    Interval,
    /// An apply or rollback finished.
    Applied,
    /// A report that did not go through is due again.
    Retry,
}

impl Reporter {
    pub(crate) fn new(
        shared: Arc<Shared>,
        config: &AgentConfig,
        health: BTreeMap<String, Health>,
        seed: u64,
    ) -> Result<Reporter, super::AgentError> {
        let mut metrics = BTreeMap::new();
        for (name, service) in &config.services {
            let Some(m) = &service.metrics else { continue };
            let selection =
                Selection::new(m).map_err(|e| super::AgentError::Metrics { service: name.clone(), source: e })?;
            let timeout = Duration::from_millis(m.timeout.0.max(1));
            metrics.insert(
                name.clone(),
                Metrics { selection, url: m.url.clone(), timeout, baseline: None, failing: None },
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(1)
            .user_agent("sluice-agent")
            .build()
            .map_err(super::AgentError::Http)?;
        Ok(Reporter {
            shared,
            http,
            metrics,
            health,
            health_switches: BTreeMap::new(),
            unsent: BTreeMap::new(),
            produces: config.services.iter().map(|(name, service)| (name.clone(), produces(service))).collect(),
            link: Link::new("report"),
            backoff: Backoff::agent(seed),
            jitter: ReportJitter::new(seed.rotate_left(41)),
        })
    }

    pub(crate) async fn run(mut self, mut stop: Stop) {
        let names: Vec<String> = self.metrics.keys().cloned().collect();
        for name in &names {
            self.rebaseline(name).await;
        }
        for name in self.health.keys() {
            self.health_switches.insert(name.clone(), self.switches(name));
        }
        let mut period = self.shared.interval();
        let mut ticker = ticker(period);
        let mut retry: Option<Pin<Box<Sleep>>> = None;
        loop {
            let retrying = async {
                match retry.as_mut() {
                    Some(sleep) => sleep.await,
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                _ = ticker.tick() => Wake::Interval,
                () = self.shared.report_now.notified() => Wake::Applied,
                () = retrying => Wake::Retry,
                () = stop.stopped() => break,
            };
            if matches!(wake, Wake::Applied) {
                let wait = self.jitter.next(self.shared.interval());
                if !stop.sleep(wait).await {
                    break;
                }
            }
            let interval = matches!(wake, Wake::Interval);
            retry = None;
            let samples = if interval { self.scrape_all().await } else { std::mem::take(&mut self.unsent) };
            let sent = tokio::select! {
                sent = self.post(samples) => sent,
                () = stop.stopped() => break,
            };
            if !sent {
                retry = Some(Box::pin(tokio::time::sleep(self.backoff.next_delay())));
            }
            if !interval {
                // Right after a switch: new baselines, so the next sample is the new release's.
                for name in &names {
                    if self.switched_since_baseline(name) {
                        self.rebaseline(name).await;
                    }
                }
                self.reset_switched_health();
            }
            let wanted = self.shared.interval();
            if wanted != period {
                tracing::info!(interval_ms = wanted.as_millis() as u64, "report interval changed");
                period = wanted;
                ticker = self::ticker(period);
            }
        }
        tracing::debug!("reporter stopped");
    }

    /// Posts one report with `samples`; false when it did not go through (the samples are kept
    /// for the next one).
    async fn post(&mut self, samples: BTreeMap<String, Sample>) -> bool {
        let report = self.build(&samples);
        let (generation, client) = self.shared.session.client();
        match client.report(&report).await {
            Ok(ack) => {
                self.shared.telemetry.reported(self.shared.clock.now());
                self.link.up();
                self.backoff.reset();
                self.shared.acked.fetch_max(ack.desired_version, Ordering::Relaxed);
                let held = *lock(&self.shared.held);
                if held.is_some_and(|held| ack.desired_version > held) {
                    self.shared.poll_now.notify_one();
                }
                true
            }
            Err(e) => {
                if link::is_unauthorized(&e) {
                    self.shared.session.refused(generation).await;
                } else {
                    self.link.down(&e);
                }
                self.unsent = samples;
                false
            }
        }
    }

    fn build(&self, samples: &BTreeMap<String, Sample>) -> Report {
        let views = lock(&self.shared.views);
        let services = views
            .iter()
            .map(|(name, view)| ServiceReport {
                service: name.clone(),
                running: view.running.clone(),
                known_good: view.known_good.clone(),
                last_apply: view.last_apply.clone(),
                sample: samples.get(name).cloned(),
                metrics: self.produces.get(name).cloned(),
            })
            .collect();
        let mut agent = BTreeMap::new();
        if let Some(rss) = rss::rss_bytes() {
            agent.insert("rss_bytes".to_string(), rss as f64);
        }
        Report { at: self.shared.clock.now(), facts: self.shared.session.facts().clone(), services, agent }
    }

    /// The interval's sample of every service: scraped for services with metrics; for the
    /// others a sample without counts, which still says which release ran through the interval
    /// (report-based gates such as `crash_rate` judge on it).
    async fn scrape_all(&mut self) -> BTreeMap<String, Sample> {
        let names: Vec<String> = self.metrics.keys().cloned().collect();
        let mut samples = BTreeMap::new();
        for name in names {
            match self.sample(&name).await {
                Some(mut sample) => {
                    if let Some(health) = self.health.get(&name) {
                        health.add_to(&mut sample);
                    }
                    samples.insert(name, sample);
                }
                // No interval to report: what the probes counted meanwhile goes too.
                None => {
                    if let Some(tally) = self.health.get(&name).and_then(|h| h.probes.as_ref()) {
                        tally.take();
                    }
                }
            }
        }
        let at = self.shared.clock.now();
        for (name, view) in lock(&self.shared.views).iter() {
            if self.metrics.contains_key(name) {
                continue;
            }
            let release = view.running.clone();
            let health = self.health.get(name);
            let mut sample = match health.and_then(|h| h.probes.as_ref()) {
                Some(tally) => tally.take().sample(at, release),
                None => Sample { at, release, ..Sample::default() },
            };
            if let Some(health) = health {
                health.add_command(&mut sample);
            }
            samples.insert(name.clone(), sample);
        }
        samples
    }

    /// Resets the probes and command of every service that switched since their last reset.
    fn reset_switched_health(&mut self) {
        let views = lock(&self.shared.views);
        for (name, health) in &self.health {
            let now = views.get(name).map_or(0, |v| v.switches);
            if self.health_switches.insert(name.clone(), now) != Some(now) {
                health.reset();
            }
        }
    }

    /// Scrapes `name` and returns the sample since its baseline (`None` without a usable
    /// baseline: the first scrape, or the first since a switch). A failed scrape gives a
    /// sample without counts and drops the baseline.
    async fn sample(&mut self, name: &str) -> Option<Sample> {
        let switches = self.switches(name);
        let running = lock(&self.shared.views).get(name).and_then(|v| v.running.clone());
        let reading = self.read(name).await;
        let at = self.shared.clock.now();
        let m = self.metrics.get_mut(name)?;
        match reading {
            Ok(reading) => {
                let sample = match m.baseline.take() {
                    Some((before, at_switches)) if at_switches == switches => {
                        let delta = sampler::delta(&m.selection, &before, &reading);
                        Some(sampler::sample(at, running, &delta))
                    }
                    _ => None,
                };
                m.baseline = Some((reading, switches));
                sample
            }
            Err(_) => {
                m.baseline = None;
                Some(sampler::failed_sample(at, running))
            }
        }
    }

    async fn rebaseline(&mut self, name: &str) {
        let switches = self.switches(name);
        let reading = self.read(name).await;
        if let Some(m) = self.metrics.get_mut(name) {
            m.baseline = reading.ok().map(|r| (r, switches));
        }
    }

    /// One scrape of `name`, logging a failure once per change of its reason.
    async fn read(&mut self, name: &str) -> Result<Reading, ()> {
        let Some(m) = self.metrics.get(name) else { return Err(()) };
        let selection = &m.selection;
        let result = scraper::scrape(&self.http, &m.url, m.timeout, &|n| selection.wants(n)).await;
        let reading = result.map(|series| selection.read(&series));
        let m = self.metrics.get_mut(name).ok_or(())?;
        match reading {
            Ok(reading) => {
                if m.failing.take().is_some() {
                    tracing::info!(service = %name, "metrics scrape works again");
                }
                Ok(reading)
            }
            Err(why) => {
                if m.failing.as_deref() != Some(why.as_str()) {
                    tracing::warn!(service = %name, error = %why, "metrics scrape failed; reporting without request counts");
                    m.failing = Some(why);
                }
                Err(())
            }
        }
    }

    fn switches(&self, name: &str) -> u64 {
        lock(&self.shared.views).get(name).map_or(0, |v| v.switches)
    }

    fn switched_since_baseline(&self, name: &str) -> bool {
        let switches = self.switches(name);
        self.metrics.get(name).is_some_and(|m| m.baseline.as_ref().is_none_or(|(_, at)| *at != switches))
    }
}

/// The gate metrics `service`'s samples carry: `crash_rate` always (every report counts);
/// `error_rate` with a request count, the latencies with a latency histogram — from its
/// metrics endpoint, or from its probes when it has no endpoint; `scrape_ok` with an endpoint;
/// the probes' and the command's own names.
pub(crate) fn produces(service: &ServiceConfig) -> Vec<String> {
    let probes = !service.probes.is_empty();
    let (requests, latency) = match &service.metrics {
        Some(m) => (m.requests.is_some(), m.latency.is_some()),
        None => (probes, probes),
    };
    let mut out = vec!["crash_rate".to_string()];
    if requests {
        out.push("error_rate".into());
    }
    if latency {
        out.extend(["latency_p50_ms".into(), "latency_p99_ms".into()]);
    }
    if service.metrics.is_some() {
        out.push(sampler::SCRAPE_OK.into());
    }
    if probes {
        out.extend([synthetic::ERROR_RATE.into(), synthetic::LATENCY_P99_MS.into()]);
    }
    if let Some(c) = &service.command {
        out.push(c.metric.clone());
    }
    out.sort();
    out.dedup();
    out
}

/// Ticks every `period`, the first time one period from now.
fn ticker(period: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker.reset();
    ticker
}

#[cfg(test)]
mod tests {
    use sluice_core::time::Dur;

    use super::*;
    use crate::config::{CommandConfig, MetricsConfig, ProbeConfig};

    fn metrics(requests: bool, latency: bool) -> MetricsConfig {
        MetricsConfig {
            url: "http://127.0.0.1:9100/metrics".into(),
            timeout: Dur::secs(2),
            requests: requests.then(|| "requests_total".into()),
            errors: None,
            latency: latency.then(|| "duration_seconds".into()),
        }
    }

    fn probe() -> ProbeConfig {
        ProbeConfig { url: "http://127.0.0.1:8080/".into(), rate: None, every: None, timeout: Dur::secs(1) }
    }

    #[test]
    fn a_service_tells_the_gate_metrics_its_samples_carry() {
        let check = |service: ServiceConfig, want: &[&str]| assert_eq!(produces(&service), want, "{service:?}");
        check(ServiceConfig::default(), &["crash_rate"]);
        check(
            ServiceConfig { metrics: Some(metrics(true, true)), ..ServiceConfig::default() },
            &["crash_rate", "error_rate", "latency_p50_ms", "latency_p99_ms", "scrape_ok"],
        );
        check(
            ServiceConfig { metrics: Some(metrics(false, false)), ..ServiceConfig::default() },
            &["crash_rate", "scrape_ok"],
        );
        // Probes stand in for a missing endpoint, not for what an endpoint leaves out.
        check(
            ServiceConfig { probes: vec![probe()], ..ServiceConfig::default() },
            &[
                "crash_rate",
                "error_rate",
                "latency_p50_ms",
                "latency_p99_ms",
                "probe_error_rate",
                "probe_latency_p99_ms",
            ],
        );
        check(
            ServiceConfig { metrics: Some(metrics(true, false)), probes: vec![probe()], ..ServiceConfig::default() },
            &["crash_rate", "error_rate", "probe_error_rate", "probe_latency_p99_ms", "scrape_ok"],
        );
        let command = CommandConfig {
            run: "echo 1".into(),
            every: Dur::secs(5),
            timeout: Dur::secs(2),
            metric: "queue_depth".into(),
        };
        check(ServiceConfig { command: Some(command), ..ServiceConfig::default() }, &["crash_rate", "queue_depth"]);
    }
}
