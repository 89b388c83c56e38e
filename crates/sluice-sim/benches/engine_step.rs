//! The cost of one `Rollout::step` of the real engine for a 10,000-target rollout, in the
//! phases that cost the most: waiting for a 100% wave to apply, and judging a 100% wave's gates
//! while it bakes (every target's reports in the gate window). The observations are plain
//! in-memory maps, and their own cost is measured separately so the engine's share is visible.
//!
//! `cargo bench -p sluice-sim --bench engine_step`

#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use sluice_core::engine::{Action, Observations, Rollout, Sample, StartOptions, TargetInfo};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::spec::PipelineSpec;
use sluice_core::spec::parse::from_yaml;
use sluice_core::time::Millis;

const TARGETS: usize = 10_000;
const INTERVAL_MS: u64 = 10_000;

struct Fleet {
    index: HashMap<TargetId, usize>,
    previous: ReleaseId,
    running: Vec<ReleaseId>,
    applied_at: Vec<u64>,
    now: u64,
}

impl Fleet {
    fn carry_out(&mut self, actions: &[Action]) {
        for a in actions {
            if let Action::SetDesired { targets, release } = a {
                for t in targets {
                    if let Some(&i) = self.index.get(t) {
                        self.running[i] = release.clone();
                        self.applied_at[i] = self.now;
                    }
                }
            }
        }
    }
}

impl Observations for Fleet {
    fn running(&self, target: &TargetId) -> Option<&ReleaseId> {
        self.index.get(target).map(|&i| &self.running[i])
    }
    fn last_report(&self, target: &TargetId) -> Option<Millis> {
        self.index.get(target).map(|_| Millis(self.now / INTERVAL_MS * INTERVAL_MS))
    }
    fn apply_failure(&self, _: &TargetId, _: &ReleaseId) -> Option<String> {
        None
    }
    fn samples(&self, target: &TargetId, from: Millis, to: Millis, f: &mut dyn FnMut(&Sample)) {
        let Some(&i) = self.index.get(target) else { return };
        let mut s = Sample { requests: 1000, ..Sample::default() };
        let to = to.0.min(self.now);
        let mut k = from.0 / INTERVAL_MS + 1;
        while k * INTERVAL_MS <= to {
            s.at = Millis(k * INTERVAL_MS);
            let on_new = s.at.0 >= self.applied_at[i] && self.applied_at[i] > 0;
            let release = if on_new { &self.running[i] } else { &self.previous };
            if s.release.as_ref() != Some(release) {
                s.release = Some(release.clone());
            }
            s.errors = (i as u64 + k) % 3;
            s.latency_p99_ms = Some(100.0 + ((i as u64 * 7 + k) % 20) as f64);
            f(&s);
            k += 1;
        }
    }
}

fn pipeline(gates: &str) -> PipelineSpec {
    let text = format!(
        "stages:\n  - name: prod\n    selector: {{ env: prod }}\n    waves: [\"1%\", \"10%\", \"100%\"]\n    bake: 10m\n    spread_by: [proxy, region]\n    gates:\n{gates}"
    );
    match from_yaml("bench.yaml", &text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

fn targets() -> Vec<TargetInfo> {
    (0..TARGETS)
        .map(|i| {
            let labels: BTreeMap<String, String> = [
                ("env", "prod".to_string()),
                ("proxy", if i % 3 == 0 { "fl1" } else { "fl2" }.to_string()),
                ("region", ["us", "eu", "apac"][i % 3 / 2 + i % 2].to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            TargetInfo { id: TargetId(format!("prod-{i:05}")), labels, traffic_share: 1.0 / TARGETS as f64 }
        })
        .collect()
}

fn bench(name: &str, gates: &str) {
    let infos = targets();
    let spec = pipeline(gates);
    let old = ReleaseId::from("r1");
    let new = ReleaseId::from("r2");
    let mut fleet = Fleet {
        index: infos.iter().enumerate().map(|(i, t)| (t.id.clone(), i)).collect(),
        previous: old.clone(),
        running: vec![old.clone(); TARGETS],
        applied_at: vec![0; TARGETS],
        now: 3_600_000,
    };
    let t = Instant::now();
    let started = Rollout::start(
        "bench",
        "svc",
        new,
        Some(old),
        &spec,
        &infos,
        &StartOptions { report_interval: sluice_core::time::Dur(INTERVAL_MS), ..StartOptions::default() },
        Millis(fleet.now),
    );
    let start_cost = t.elapsed();
    let Ok((mut rollout, actions)) = started else {
        eprintln!("the rollout did not start");
        std::process::exit(2);
    };
    fleet.carry_out(&actions);
    // Step through the 1% and 10% waves (healthy) until the 100% wave is told to apply.
    while rollout.position() != Some((0, 2)) {
        fleet.now += INTERVAL_MS;
        let actions = rollout.step(Millis(fleet.now), &fleet);
        fleet.carry_out(&actions);
        if rollout.is_finished() {
            eprintln!("the rollout finished early: {}", rollout.phase_name());
            std::process::exit(2);
        }
    }
    // Applying → Baking: checks that all 10k run the candidate, then judges the gates once.
    fleet.now += INTERVAL_MS;
    let t = Instant::now();
    let _ = rollout.step(Millis(fleet.now), &fleet);
    let applying = t.elapsed();
    // Baking: judge every gate over all 10k targets each step.
    let steps = 30;
    let mut total = std::time::Duration::ZERO;
    for _ in 0..steps {
        fleet.now += INTERVAL_MS;
        let t = Instant::now();
        let _ = rollout.step(Millis(fleet.now), &fleet);
        total += t.elapsed();
    }
    // The observations alone: one samples() call per target per gate window.
    let t = Instant::now();
    let mut n = 0u64;
    for info in &infos {
        fleet.samples(&info.id, Millis(fleet.now - 60_000), Millis(fleet.now), &mut |_| n += 1);
    }
    let obs = t.elapsed();
    println!(
        "{name}: Rollout::start {:.1} ms; step while applying (10k targets) {:.2} ms; step while baking (10k canary, phase {}) {:.2} ms/step over {steps} steps; samples() for 10k targets alone {:.2} ms ({n} reports)",
        start_cost.as_secs_f64() * 1e3,
        applying.as_secs_f64() * 1e3,
        rollout.phase_name(),
        total.as_secs_f64() * 1e3 / f64::from(steps),
        obs.as_secs_f64() * 1e3,
    );
}

fn main() {
    bench(
        "threshold gates (error_rate per proxy, crash_rate)",
        "      - threshold: { name: errors, metric: error_rate, max: 0.01, per_label: proxy }\n      - threshold: { name: crashes, metric: crash_rate, max: 0 }\n",
    );
    bench(
        "threshold + compare gates (Mann-Whitney on p99)",
        "      - threshold: { name: errors, metric: error_rate, max: 0.01, per_label: proxy }\n      - compare: { name: p99, metric: latency_p99_ms }\n",
    );
}
