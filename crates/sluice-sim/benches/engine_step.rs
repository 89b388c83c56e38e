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

/// Target `i` reports at `k * INTERVAL_MS + offset(i)`: reports spread over the interval.
fn offset(i: usize) -> u64 {
    (i as u64).wrapping_mul(7919) % INTERVAL_MS
}

struct Fleet {
    index: HashMap<TargetId, usize>,
    ids: Vec<TargetId>,
    /// Offer the engine a log of which targets reported (as the server's report log does).
    log: bool,
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

impl Fleet {
    fn last_report_of(&self, i: usize) -> u64 {
        let off = offset(i);
        self.now - (self.now - off) % INTERVAL_MS
    }
}

impl Observations for Fleet {
    fn running(&self, target: &TargetId) -> Option<&ReleaseId> {
        self.index.get(target).map(|&i| &self.running[i])
    }
    fn last_report(&self, target: &TargetId) -> Option<Millis> {
        self.index.get(target).map(|&i| Millis(self.last_report_of(i)))
    }
    fn report_position(&self) -> Option<u64> {
        self.log.then_some(self.now)
    }
    fn reported_since(&self, position: u64) -> Option<Vec<TargetId>> {
        // The server's log lists the targets that reported; this fleet works them out (a
        // report since, or a release carried out since).
        self.log.then(|| {
            (0..self.ids.len())
                .filter(|&i| self.last_report_of(i) > position || self.applied_at[i] >= position)
                .map(|i| self.ids[i].clone())
                .collect()
        })
    }
    fn apply_failure(&self, _: &TargetId, _: &ReleaseId) -> Option<String> {
        None
    }
    fn samples(&self, target: &TargetId, from: Millis, to: Millis, f: &mut dyn FnMut(&Sample)) {
        let Some(&i) = self.index.get(target) else { return };
        let mut s = Sample { requests: 1000, ..Sample::default() };
        let to = to.0.min(self.now);
        let off = offset(i);
        let mut k = from.0.saturating_sub(off) / INTERVAL_MS + 1;
        while k * INTERVAL_MS + off <= to {
            s.at = Millis(k * INTERVAL_MS + off);
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
        ids: infos.iter().map(|t| t.id.clone()).collect(),
        log: false,
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
    // Baking with a step every 100 ms (as the server steps on reports): without the report log
    // every member is read each step; with it only those that reported since the last.
    let mut fast = [std::time::Duration::ZERO; 2];
    let fast_steps = 50u32;
    let start_now = fleet.now;
    for (log, cost) in [false, true].into_iter().zip(fast.iter_mut()) {
        fleet.log = log;
        fleet.now = start_now;
        let mut r = rollout.clone();
        for _ in 0..fast_steps {
            fleet.now += 100;
            let t = Instant::now();
            let _ = r.step(Millis(fleet.now), &fleet);
            *cost += t.elapsed();
        }
    }
    fleet.log = false;
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
    println!(
        "{name}: baking, a step every 100 ms over {fast_steps} steps: {:.2} ms/step reading every member, {:.2} ms/step with the report log (ratio {:.2} x)",
        fast[0].as_secs_f64() * 1e3 / f64::from(fast_steps),
        fast[1].as_secs_f64() * 1e3 / f64::from(fast_steps),
        fast[1].as_secs_f64() / fast[0].as_secs_f64().max(1e-9),
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
