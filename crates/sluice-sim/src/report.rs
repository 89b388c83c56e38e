//! What a run reports: per strategy the figures the replays are judged by, as JSON (stable,
//! byte-identical for a seed), as a text table with notes, and as an SVG chart ([`crate::svg`]).

use serde::Serialize;
use sluice_core::time::Millis;

use crate::scenario::Scenario;
use crate::timeline::Marker;

/// The report of one scenario run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    #[serde(skip)]
    pub description: Option<String>,
    /// Simulated span in milliseconds.
    #[serde(skip)]
    pub duration_ms: u64,
    /// Wall-clock minutes after midnight of the simulation's start, when the scenario gives it.
    #[serde(skip)]
    pub clock_minutes: Option<u64>,
    pub strategies: Vec<StrategyReport>,
}

/// How a strategy ended: `rolled_back` in JSON (as the engine and the server spell it),
/// `rolled back` in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    RolledBack,
    /// A rollout failed and rolled back, but not every touched target was back on known-good
    /// within the engine's rollback deadline (they move when they can).
    RollbackIncomplete,
    Rejected,
    Held,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::RolledBack => "rolled back",
            Outcome::RollbackIncomplete => "rollback incomplete",
            Outcome::Rejected => "rejected",
            Outcome::Held => "held",
        }
    }
}

/// What happened to the releases a strategy was handed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReleaseCounts {
    pub created: u64,
    /// Completed a rollout (pipeline) or pushed (global push).
    pub shipped: u64,
    /// Refused by validation: no target saw them.
    pub rejected: u64,
    /// Rolled back by a gate (pipeline) or reverted by people (global push).
    pub rolled_back: u64,
    /// Rolled back, with targets still off known-good at the engine's rollback deadline.
    pub rollback_incomplete: u64,
    /// Arrived while the service was held after a failure: waiting for a person.
    pub held: u64,
    /// Replaced by a newer release while waiting for a rollout to end.
    pub superseded: u64,
    /// Aborted rollouts.
    pub aborted: u64,
    /// Never started (people stopped releases, or the plan had no targets).
    pub not_started: u64,
}

impl ReleaseCounts {
    pub fn summary(&self) -> String {
        format!(
            "releases: {} created, {} shipped, {} rejected, {} rolled back{}, {} held, {} superseded{}{}",
            self.created,
            self.shipped,
            self.rejected,
            self.rolled_back,
            if self.rollback_incomplete > 0 {
                format!(", {} rollback incomplete", self.rollback_incomplete)
            } else {
                String::new()
            },
            self.held,
            self.superseded,
            if self.aborted > 0 { format!(", {} aborted", self.aborted) } else { String::new() },
            if self.not_started > 0 { format!(", {} not started", self.not_started) } else { String::new() },
        )
    }
}

/// One strategy's figures. The first nine fields are the report's contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyReport {
    pub name: String,
    /// `global-push` or `pipeline`.
    #[serde(skip)]
    pub kind: String,
    /// Highest share of prod traffic failing at any moment, in percent.
    pub peak_failing_traffic_pct: f64,
    /// Area under the failing share: percent × minutes.
    pub failing_traffic_pct_minutes: f64,
    /// Time with any prod traffic failing, in seconds.
    pub failing_s: f64,
    /// Targets (every environment) that ever ran a bad release.
    pub targets_ever_on_bad_release: u64,
    /// Share of prod traffic on targets that ever ran a bad release, in percent.
    pub prod_share_ever_on_bad_release_pct: f64,
    /// From the first bad release's creation to its first detection (a failed gate or apply,
    /// a validator's rejection, or people noticing); `None` if never.
    pub detect_s: Option<f64>,
    /// From the first bad release's creation until, after detection, no prod traffic fails and
    /// no target runs a bad release; `None` if that never happened.
    pub recover_s: Option<f64>,
    pub outcome: Outcome,
    pub releases: ReleaseCounts,
    /// Broken engine invariants seen by the simulator (must be 0).
    pub invariant_violations: u64,
    /// Coverage gaps the engine reported, one line each.
    pub coverage_gaps: Vec<String>,
    /// What the text table prints under the strategy: release counts, each rollback with its
    /// targets and reason, what was still running at the end.
    pub notes: Vec<String>,
    /// (time ms, % of prod traffic failing) at every change.
    #[serde(skip)]
    pub series: Vec<(u64, f64)>,
    /// Waves, gate verdicts, rollbacks, rejections and detections, in time order (the SVG's
    /// markers).
    pub markers: Vec<Marker>,
}

impl Report {
    /// Pretty JSON (no trailing newline); the same seed gives the same bytes.
    pub fn to_json(&self) -> String {
        match serde_json::to_string_pretty(self) {
            Ok(s) => s,
            Err(e) => format!("{{\"error\": {:?}}}", e.to_string()),
        }
    }

    /// An aligned text table, then notes per strategy (releases, coverage gaps, rollbacks).
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "scenario {} (seed {}, {} simulated{})\n",
            self.scenario,
            self.seed,
            sluice_core::time::Dur(self.duration_ms),
            self.clock_minutes.map(|m| format!(", from {}", clock(m * 60_000))).unwrap_or_default()
        );
        if let Some(d) = &self.description {
            out.push_str(d.trim_end());
            out.push('\n');
        }
        out.push('\n');
        let head = [
            "strategy",
            "peak %",
            "%·min",
            "failing",
            "targets on bad",
            "prod on bad %",
            "detect",
            "recover",
            "outcome",
        ];
        let rows: Vec<[String; 9]> = self
            .strategies
            .iter()
            .map(|s| {
                [
                    s.name.clone(),
                    format!("{:.2}", s.peak_failing_traffic_pct),
                    format!("{:.1}", s.failing_traffic_pct_minutes),
                    secs(Some(s.failing_s)),
                    s.targets_ever_on_bad_release.to_string(),
                    format!("{:.2}", s.prod_share_ever_on_bad_release_pct),
                    secs(s.detect_s),
                    secs(s.recover_s),
                    s.outcome.as_str().to_string(),
                ]
            })
            .collect();
        let mut width = head.map(str::len);
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            let mut l = String::new();
            for (i, c) in cells.iter().enumerate() {
                let pad = width[i].saturating_sub(c.chars().count());
                if i == 0 || i == cells.len() - 1 {
                    l.push_str(c);
                    l.push_str(&" ".repeat(pad));
                } else {
                    l.push_str(&" ".repeat(pad));
                    l.push_str(c);
                }
                l.push_str("  ");
            }
            l.trim_end().to_string() + "\n"
        };
        out.push_str(&line(&head.map(String::from)));
        for r in &rows {
            out.push_str(&line(r));
        }
        for s in &self.strategies {
            out.push_str(&format!("\n{} ({})\n", s.name, s.kind));
            for n in &s.notes {
                out.push_str(&format!("  {n}\n"));
            }
            for g in &s.coverage_gaps {
                out.push_str(&format!("  coverage gap: {g}\n"));
            }
            if s.kind == "pipeline" {
                out.push_str(&format!("  engine invariant violations: {}\n", s.invariant_violations));
            }
        }
        out
    }

    /// An SVG chart of the share of prod traffic failing over time.
    pub fn to_svg(&self) -> String {
        crate::svg::render(self)
    }
}

/// `v` rounded to `places` decimals (stable output).
pub(crate) fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    let r = (v * f).round() / f;
    if r == 0.0 { 0.0 } else { r }
}

/// `25m12s`, `3.5s`, or `—` for never.
fn secs(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(s) if s < 60.0 => format!("{}s", round(s, 1)),
        Some(s) => sluice_core::time::Dur((s * 1000.0).round() as u64 / 1000 * 1000).to_string(),
    }
}

/// `HH:MM` → minutes after midnight.
pub(crate) fn parse_clock(s: &str) -> Option<u64> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.trim().len() == 5).then_some(h * 60 + m)
}

fn clock(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, sec) = ((s / 3600) % 24, (s / 60) % 60, s % 60);
    if sec == 0 { format!("{h:02}:{m:02}") } else { format!("{h:02}:{m:02}:{sec:02}") }
}

/// `t+27m40s (09:07:40)`: simulated time, and the wall clock when the scenario gives one.
pub(crate) fn fmt_at(at: Millis, s: &Scenario) -> String {
    let t = sluice_core::time::Dur(at.0 / 1000 * 1000);
    match s.clock.as_deref().and_then(parse_clock) {
        Some(m) => format!("t+{t} ({})", clock(m * 60_000 + at.0)),
        None => format!("t+{t}"),
    }
}
