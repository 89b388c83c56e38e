//! The health sources that run on their own timers, apart from the report: each service's
//! synthetic probes ([`crate::synthetic`]) and its command ([`crate::command_source`]). Their
//! tasks live as long as the [`Sources`] (dropping it aborts them); the reporter reads them
//! through [`Health`] handles.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sluice_core::engine::Sample;
use tokio::task::JoinSet;

use crate::command_source::{CommandLoop, CommandSlot};
use crate::config::AgentConfig;
use crate::synthetic::{self, ProbeLoop, ProbeTally};
use crate::telemetry::Telemetry;

/// What the reporter reads of one service's sources.
#[derive(Debug, Clone, Default)]
pub(crate) struct Health {
    pub(crate) probes: Option<Arc<ProbeTally>>,
    /// The `Sample.metrics` key and the latest figure.
    pub(crate) command: Option<(String, Arc<CommandSlot>)>,
}

impl Health {
    /// Adds the interval's figures to `sample`: the probes' custom metrics (taking their
    /// tally) and the command's figure.
    pub(crate) fn add_to(&self, sample: &mut Sample) {
        if let Some(tally) = &self.probes {
            tally.take().add_metrics(&mut sample.metrics);
        }
        self.add_command(sample);
    }

    pub(crate) fn add_command(&self, sample: &mut Sample) {
        if let Some((metric, slot)) = &self.command
            && let Some(value) = slot.latest()
        {
            sample.metrics.insert(metric.clone(), value);
        }
    }

    /// Forgets what was measured of the release before a switch.
    pub(crate) fn reset(&self) {
        if let Some(tally) = &self.probes {
            tally.reset();
        }
        if let Some((_, slot)) = &self.command {
            slot.reset();
        }
    }
}

/// The running source tasks.
#[derive(Debug)]
pub(crate) struct Sources {
    tasks: JoinSet<()>,
}

impl Sources {
    /// Starts the probes and commands of every service; the handles by service (only services
    /// with a source).
    pub(crate) fn start(
        config: &AgentConfig,
        telemetry: &Arc<Telemetry>,
    ) -> Result<(Sources, BTreeMap<String, Health>), reqwest::Error> {
        let mut tasks = JoinSet::new();
        let mut health = BTreeMap::new();
        let wants_http = config.services.values().any(|s| !s.probes.is_empty());
        let http = if wants_http { Some(synthetic::client()?) } else { None };
        for (name, service) in &config.services {
            let mut h = Health::default();
            if let Some(http) = &http
                && !service.probes.is_empty()
            {
                let tally = Arc::new(ProbeTally::default());
                for probe in &service.probes {
                    let probe_loop = ProbeLoop {
                        service: name.clone(),
                        url: probe.url.clone(),
                        period: probe.period(),
                        timeout: Duration::from_millis(probe.timeout.0.max(1)),
                    };
                    tracing::info!(service = %name, url = %probe.url, period_ms = probe.period().as_millis() as u64, "probing");
                    tasks.spawn(probe_loop.run(http.clone(), tally.clone(), telemetry.clone()));
                }
                h.probes = Some(tally);
            }
            if let Some(command) = &service.command {
                let slot = Arc::new(CommandSlot::default());
                let command_loop = CommandLoop::new(name, command, config.service_dir(name));
                tasks.spawn(command_loop.run(slot.clone()));
                h.command = Some((command.metric.clone(), slot));
            }
            if h.probes.is_some() || h.command.is_some() {
                health.insert(name.clone(), h);
            }
        }
        Ok((Sources { tasks }, health))
    }

    /// Stops every task and waits until they are gone (a command in progress is not waited
    /// for: its own timeout ends it).
    pub(crate) async fn shutdown(mut self) {
        self.tasks.shutdown().await;
    }
}
