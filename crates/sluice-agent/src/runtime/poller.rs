//! The poller: long-polls the server for this target's desired state, and carries out what
//! [`plan`](super::plan) decides for each configured service: download and apply, roll back to
//! a kept release, mark known-good. Applies run on the blocking pool, one at a time, and always
//! to their end (a stop waits for them). After each apply or rollback the reporter is woken to
//! report at once.
//!
//! The held version (`after` of the long-poll) only advances when every service of an answer
//! was dealt with; a transient failure (the server went away mid-download) retries the same
//! answer after a backoff. A known-good release that failed to apply is tried again when its
//! own backoff ([`plan::RETRY_BASE`] doubling to [`plan::RETRY_CAP`]) runs out: the long-poll
//! is cut short and the desired state asked for at once.
//!
//! Before it downloads or switches anything the poller gets the service's spec (hooks,
//! validators, the bundle limit) from its [`SpecCache`]: fetched once per digest. A spec it
//! cannot get (the fetch failed, the bytes do not match the digest the answer named, they are
//! no spec) is logged as an error and leaves the service as it runs; the same answer is asked
//! for again after a backoff, like any transient failure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sluice_api::{ApplyReport, DesiredService, DesiredView, ErrorCode};
use sluice_core::release::ReleaseId;
use sluice_core::time::{Dur, Millis};

use super::link::{self, Link};
use super::plan::{self, Decision, Local};
use super::spec_cache::{SpecCache, SpecError};
use super::stop::Stop;
use super::{Shared, lock, open_store};
use crate::backoff::Backoff;
use crate::config::AgentConfig;
use crate::outcome::{ApplyFailure, ApplyOutcome};
use crate::releases::{ReleaseStore, StoreConfig};

/// Longest text of a failure carried in a report.
const DETAIL_BYTES: usize = 4096;

/// How a long-poll ended.
enum Polled {
    Answer(Result<DesiredView, sluice_api::ClientError>),
    /// Poll again at once.
    Again,
    Stopped,
}

/// What became of one step.
enum Step {
    Done,
    /// Try the same answer again after a backoff.
    Retry,
    Stopped,
}

pub(crate) struct Poller {
    shared: Arc<Shared>,
    config: Arc<AgentConfig>,
    store_config: StoreConfig,
    long_poll: Duration,
    /// `None` while an apply has it on the blocking pool, or after it was lost.
    stores: BTreeMap<String, Option<ReleaseStore>>,
    /// Per service, the release that failed to apply while the server still asks for it.
    failed: BTreeMap<String, Failed>,
    /// Per service, the last "left as is" message logged.
    logged: BTreeMap<String, String>,
    /// The services' specs, fetched once per digest.
    specs: SpecCache,
    held: Option<u64>,
    link: Link,
    backoff: Backoff,
    /// Seeds the jitter of known-good retries.
    seed: u64,
    /// Ask for the desired state at once (a retry is due).
    poll_at_once: bool,
}

/// A release that failed to apply, and when a known-good one is tried again.
#[derive(Debug)]
struct Failed {
    release: ReleaseId,
    /// For a known-good release: its backoff and when the next try is due.
    retry: Option<(Backoff, Millis)>,
}

impl Poller {
    pub(crate) fn new(
        shared: Arc<Shared>,
        config: Arc<AgentConfig>,
        store_config: StoreConfig,
        long_poll: Duration,
        stores: BTreeMap<String, Option<ReleaseStore>>,
        seed: u64,
    ) -> Poller {
        Poller {
            shared,
            config,
            store_config,
            long_poll,
            stores,
            failed: BTreeMap::new(),
            logged: BTreeMap::new(),
            specs: SpecCache::default(),
            held: None,
            link: Link::new("desired"),
            backoff: Backoff::agent(seed),
            seed: seed.rotate_left(29),
            poll_at_once: false,
        }
    }

    pub(crate) async fn run(mut self, mut stop: Stop) {
        while !stop.is_stopped() {
            let (generation, client) = self.shared.session.client();
            let after = if std::mem::take(&mut self.poll_at_once) { None } else { self.held };
            let retry_in = self.next_retry().map(|due| self.until(due));
            let poll = client.desired(after, self.long_poll);
            let mut poll = std::pin::pin!(poll);
            let retry = sleep_for(retry_in);
            let mut retry = std::pin::pin!(retry);
            let answer = loop {
                tokio::select! {
                    answer = &mut poll => break Polled::Answer(answer),
                    () = self.shared.poll_now.notified() => {
                        // A report acknowledged a version past the one this poll waits beyond:
                        // the server would have answered it, so it was lost; poll again. A
                        // wake-up from before the held version moved is stale: dropping the
                        // poll would only cost its connection.
                        if after.is_some_and(|a| self.shared.acked.load(Ordering::Relaxed) > a) {
                            break Polled::Again;
                        }
                    }
                    () = &mut retry => {
                        self.poll_at_once = true;
                        break Polled::Again;
                    }
                    () = stop.stopped() => break Polled::Stopped,
                }
            };
            let answer = match answer {
                Polled::Answer(answer) => answer,
                Polled::Again => continue,
                Polled::Stopped => break,
            };
            let step = match answer {
                Ok(view) => {
                    self.link.up();
                    self.shared.set_interval(view.report_interval_ms);
                    let step = self.handle(&view, &mut stop).await;
                    if matches!(step, Step::Done) {
                        self.held = Some(view.version);
                        *lock(&self.shared.held) = Some(view.version);
                        self.backoff.reset();
                    }
                    step
                }
                Err(e) if link::is_unauthorized(&e) => {
                    if self.shared.session.refused(generation).await {
                        Step::Done
                    } else {
                        Step::Retry
                    }
                }
                Err(e) => {
                    self.link.down(&e);
                    Step::Retry
                }
            };
            match step {
                Step::Done => {}
                Step::Stopped => break,
                Step::Retry => {
                    let delay = self.backoff.next_delay();
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.shared.poll_now.notified() => {}
                        () = stop.stopped() => break,
                    }
                }
            }
        }
        tracing::debug!("poller stopped");
    }

    /// Deals with every service of one answer.
    async fn handle(&mut self, view: &DesiredView, stop: &mut Stop) -> Step {
        let mut result = Step::Done;
        for desired in &view.services {
            if !self.config.services.contains_key(&desired.service) {
                self.log_once(&desired.service, "the server names a service this host does not configure; ignored");
                continue;
            }
            match self.handle_service(desired, view.version, stop).await {
                Step::Done => {}
                Step::Retry => result = Step::Retry,
                Step::Stopped => return Step::Stopped,
            }
        }
        self.reschedule_overdue();
        result
    }

    async fn handle_service(&mut self, desired: &DesiredService, version: u64, stop: &mut Stop) -> Step {
        let name = desired.service.as_str();
        if let Some(failed) = self.failed.get(name)
            && !plan::failure_still_holds(desired, &failed.release)
        {
            self.failed.remove(name);
        }
        if !self.ensure_store(name) {
            return Step::Retry;
        }
        let Some(store) = self.stores.get(name).and_then(Option::as_ref) else { return Step::Retry };
        let kept: BTreeSet<ReleaseId> = match store.kept() {
            Ok(kept) => kept.into_iter().collect(),
            Err(e) => {
                self.log_once(name, &format!("cannot list the kept releases: {e}"));
                return Step::Retry;
            }
        };
        let current = store.state().current.clone();
        let now = self.shared.clock.now();
        let failed = self.failed.get(name);
        let local = Local {
            current: current.as_ref(),
            kept: &kept,
            failed: failed.map(|f| &f.release),
            retry_due: failed.and_then(|f| f.retry.as_ref()).is_some_and(|(_, due)| now >= *due),
        };
        let step = match plan::decide(desired, local) {
            Decision::InSync => {
                self.logged.remove(name);
                Step::Done
            }
            Decision::Hold(hold) => {
                let release = desired.release.as_ref().map_or("none".to_string(), ToString::to_string);
                self.log_once(name, &format!("left as is (desired {release}): {}", hold.as_str()));
                Step::Done
            }
            // What was logged is forgotten once the spec is in hand (a spec error is logged
            // once, not on every retry).
            Decision::Apply { release, bundle } => self.apply(desired, version, release, &bundle, stop).await,
            Decision::RollBack { release } => self.roll_back(desired, version, release, stop).await,
        };
        self.mark_known_good(desired);
        self.publish(name, None);
        step
    }

    async fn apply(
        &mut self,
        desired: &DesiredService,
        version: u64,
        release: ReleaseId,
        bundle: &str,
        stop: &mut Stop,
    ) -> Step {
        let name = desired.service.clone();
        let spec = match self.spec(desired, stop).await {
            Ok(Some(spec)) => spec,
            Ok(None) => {
                self.log_once(&name, plan::Hold::NoSpec.as_str());
                return Step::Done;
            }
            Err(step) => return step,
        };
        self.logged.remove(&name);
        let mut spec = (*spec).clone();
        spec.hooks = plan::hooks(Some(&spec.hooks), self.host(&name));
        let max_bytes = spec.max_bundle_bytes;
        tracing::info!(service = %name, %release, rollout = ?desired.rollout, "downloading");
        let started = self.shared.clock.now();
        let (generation, client) = self.shared.session.client();
        let downloaded = tokio::select! {
            d = client.bundle(bundle, max_bytes) => d,
            () = stop.stopped() => return Step::Stopped,
        };
        let bytes = match downloaded {
            Ok(bytes) => bytes,
            Err(e) if link::is_unauthorized(&e) => {
                self.shared.session.refused(generation).await;
                return Step::Retry;
            }
            Err(e) if link::is_transient(&e) => {
                self.link.down(&e);
                return Step::Retry;
            }
            Err(e) => {
                // The server will not give these bytes: an apply failure to report, not retried.
                let reason = if e.code() == Some(ErrorCode::PayloadTooLarge) { "too_large" } else { "download_failed" };
                tracing::error!(service = %name, %release, error = %e, "download refused");
                let duration_ms = self.shared.clock.now().since(started).0;
                let report =
                    self.report(Some(&release), false, Some(reason), Some(e.to_string()), version, duration_ms);
                self.record_failure(desired, release);
                self.publish(&name, Some(report));
                self.shared.report_now.notify_one();
                return Step::Done;
            }
        };
        tracing::info!(service = %name, %release, bytes = bytes.len(), "applying");
        let digest = release.0.clone();
        let outcome = self.blocking(&name, move |store| store.apply(&spec, &bytes, &digest)).await;
        self.finish(desired, release, version, outcome, "applied")
    }

    async fn roll_back(&mut self, desired: &DesiredService, version: u64, release: ReleaseId, stop: &mut Stop) -> Step {
        let name = desired.service.clone();
        // The spec's hooks (reload above all) must run on a switch back too: without the spec
        // the answer names, nothing is switched.
        let spec = match self.spec(desired, stop).await {
            Ok(spec) => spec,
            Err(step) => return step,
        };
        self.logged.remove(&name);
        let hooks = plan::hooks(spec.as_ref().map(|s| &s.hooks), self.host(&name));
        tracing::info!(service = %name, %release, rollout = ?desired.rollout, "switching to a kept release");
        let id = release.clone();
        let outcome = self.blocking(&name, move |store| store.rollback_to(&hooks, &id)).await;
        self.finish(desired, release, version, outcome, "switched to kept release")
    }

    /// The spec `desired` names (`None`: it names none), from the cache or fetched once for
    /// its digest. When it cannot be had: logged, and the step to return (try the answer
    /// again after a backoff, or stopped).
    async fn spec(
        &mut self,
        desired: &DesiredService,
        stop: &mut Stop,
    ) -> Result<Option<Arc<sluice_core::spec::ServiceSpec>>, Step> {
        let (generation, client) = self.shared.session.client();
        let resolved = tokio::select! {
            r = self.specs.resolve(desired, &client) => r,
            () = stop.stopped() => return Err(Step::Stopped),
        };
        match resolved {
            Ok(spec) => Ok(spec),
            Err(e) => {
                if let Some(c) = e.client_error()
                    && link::is_unauthorized(c)
                {
                    self.shared.session.refused(generation).await;
                }
                self.log_spec_error(&desired.service, &e);
                Err(Step::Retry)
            }
        }
    }

    /// A spec that cannot be had, logged as an error once per change of its message.
    fn log_spec_error(&mut self, name: &str, e: &SpecError) {
        let message = format!("left as is, retrying with the next poll: {e}");
        if self.logged.get(name) != Some(&message) {
            tracing::error!(service = %name, "{message}");
            self.logged.insert(name.to_string(), message);
        }
    }

    /// Records how an apply or rollback ended and wakes the reporter.
    fn finish(
        &mut self,
        desired: &DesiredService,
        release: ReleaseId,
        version: u64,
        outcome: Option<Result<ApplyOutcome, Box<ApplyFailure>>>,
        verb: &str,
    ) -> Step {
        let name = desired.service.as_str();
        let Some(outcome) = outcome else { return Step::Retry };
        let report = match outcome {
            Ok(outcome) => {
                tracing::info!(service = %name, %release, duration_ms = outcome.duration_ms, pruned = outcome.pruned.len(), "{verb}");
                if let Some(e) = &outcome.prune_error {
                    tracing::warn!(service = %name, error = %e, "retention failed; old releases stay on disk");
                }
                self.failed.remove(name);
                self.bump_switches(name, outcome.switched);
                self.report(Some(&release), true, None, outcome.prune_error.clone(), version, outcome.duration_ms)
            }
            Err(failure) => {
                tracing::error!(service = %name, %release, reason = failure.reason(), "{failure}");
                if failure.switch_back_error.is_some() {
                    tracing::error!(service = %name, "SWITCHING BACK FAILED: this service needs a person");
                }
                self.bump_switches(name, failure.switched_back);
                self.record_failure(desired, release.clone());
                let detail = truncate(failure.to_string());
                self.report(Some(&release), false, Some(failure.reason()), Some(detail), version, failure.duration_ms)
            }
        };
        self.publish(name, Some(report));
        self.shared.report_now.notify_one();
        Step::Done
    }

    /// Remembers that `release` failed to apply; a known-good one gets its next try scheduled
    /// (the backoff grows while the same release keeps failing).
    fn record_failure(&mut self, desired: &DesiredService, release: ReleaseId) {
        let name = desired.service.as_str();
        let before = self.failed.remove(name);
        let retry = plan::retries(desired, &release).then(|| {
            let mut backoff = match before {
                Some(Failed { release: before, retry: Some((backoff, _)) }) if before == release => backoff,
                _ => Backoff::new(plan::RETRY_BASE, plan::RETRY_CAP, self.seed ^ self.shared.clock.now().0),
            };
            let due = self.schedule(&mut backoff);
            tracing::warn!(service = %name, %release, attempt = backoff.attempts(), retry_at = due.0, "the known-good release failed to apply here; trying again");
            (backoff, due)
        });
        self.failed.insert(name.to_string(), Failed { release, retry });
    }

    /// When the next try of a backoff is due.
    fn schedule(&self, backoff: &mut Backoff) -> Millis {
        let delay = backoff.next_delay_at_least_half();
        self.shared.clock.now() + Dur(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
    }

    /// A retry that came due but was not tried (its service was not in the answer, or was
    /// held for another reason) waits another backoff period: a due retry never spins.
    fn reschedule_overdue(&mut self) {
        let now = self.shared.clock.now();
        let mut failed = std::mem::take(&mut self.failed);
        for f in failed.values_mut() {
            if let Some((backoff, due)) = &mut f.retry
                && *due <= now
            {
                *due = self.schedule(backoff);
            }
        }
        self.failed = failed;
    }

    /// The earliest due retry of a known-good release.
    fn next_retry(&self) -> Option<Millis> {
        self.failed.values().filter_map(|f| f.retry.as_ref().map(|(_, due)| *due)).min()
    }

    /// How long until `at` by the agent's clock.
    fn until(&self, at: Millis) -> Duration {
        Duration::from_millis(at.0.saturating_sub(self.shared.clock.now().0))
    }

    fn report(
        &self,
        release: Option<&ReleaseId>,
        ok: bool,
        reason: Option<&str>,
        detail: Option<String>,
        version: u64,
        duration_ms: u64,
    ) -> ApplyReport {
        ApplyReport {
            release: release.cloned(),
            ok,
            reason: reason.map(str::to_string),
            detail,
            desired_version: version,
            at: self.shared.clock.now(),
            duration_ms,
        }
    }

    fn mark_known_good(&mut self, desired: &DesiredService) {
        let Some(Some(store)) = self.stores.get_mut(&desired.service) else { return };
        let kept: BTreeSet<ReleaseId> = store.kept().map(|k| k.into_iter().collect()).unwrap_or_default();
        let Some(id) = plan::known_good_to_mark(desired, store.state().known_good.as_ref(), &kept) else { return };
        match store.mark_known_good(&id) {
            Ok(()) => tracing::info!(service = %desired.service, release = %id, "marked known-good"),
            Err(e) => {
                tracing::error!(service = %desired.service, release = %id, error = %e, "could not mark known-good")
            }
        }
    }

    /// Runs `f` on the service's store on the blocking pool. `None` when the store is not
    /// there or the task died (the store is reopened next time).
    async fn blocking<T: Send + 'static>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut ReleaseStore) -> T + Send + 'static,
    ) -> Option<T> {
        let mut store = self.stores.get_mut(name)?.take()?;
        let joined = tokio::task::spawn_blocking(move || {
            let out = f(&mut store);
            (store, out)
        })
        .await;
        match joined {
            Ok((store, out)) => {
                self.stores.insert(name.to_string(), Some(store));
                Some(out)
            }
            Err(e) => {
                tracing::error!(service = %name, error = %e, "the apply task died; reopening the service's store");
                None
            }
        }
    }

    /// Reopens a store lost by a dead task. False when it cannot be opened.
    fn ensure_store(&mut self, name: &str) -> bool {
        if matches!(self.stores.get(name), Some(Some(_))) {
            return true;
        }
        match open_store(&self.config, name, &self.store_config, &self.shared.clock) {
            Ok(store) => {
                self.stores.insert(name.to_string(), Some(store));
                true
            }
            Err(e) => {
                self.log_once(name, &format!("cannot open the service's directory: {e}"));
                false
            }
        }
    }

    fn host(&self, name: &str) -> &crate::config::ServiceConfig {
        static NONE: std::sync::LazyLock<crate::config::ServiceConfig> =
            std::sync::LazyLock::new(crate::config::ServiceConfig::default);
        self.config.services.get(name).unwrap_or(&NONE)
    }

    fn bump_switches(&self, name: &str, switched: bool) {
        if switched {
            let mut views = lock(&self.shared.views);
            let view = views.entry(name.to_string()).or_default();
            view.switches = view.switches.wrapping_add(1);
        }
    }

    /// Publishes what the store says (and a new apply result) for the reporter.
    fn publish(&self, name: &str, last_apply: Option<ApplyReport>) {
        let Some(Some(store)) = self.stores.get(name) else { return };
        let state = store.state();
        let telemetry = &self.shared.telemetry;
        telemetry.running(name, state.current.as_ref());
        if let Some(report) = &last_apply {
            telemetry.applied(name, report.duration_ms, if report.ok { None } else { report.reason.as_deref() });
        }
        let mut views = lock(&self.shared.views);
        let view = views.entry(name.to_string()).or_default();
        view.running = state.current.clone();
        view.known_good = state.known_good.clone();
        if let Some(report) = last_apply {
            view.last_apply = Some(report);
        }
    }

    fn log_once(&mut self, name: &str, message: &str) {
        if self.logged.get(name).map(String::as_str) != Some(message) {
            tracing::warn!(service = %name, "{message}");
            self.logged.insert(name.to_string(), message.to_string());
        }
    }
}

/// Sleeps `d`, or forever when there is nothing to wait for.
async fn sleep_for(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > DETAIL_BYTES {
        let mut end = DETAIL_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}
