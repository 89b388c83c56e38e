//! Live progress for `rollout status --watch` and `rollout start --wait`, on stderr: progress
//! bars (one per stage and one per wave, a header and a gates line per rollout) on a terminal,
//! a line per change otherwise, nothing with `--json`.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sluice_api::RolloutView;
use sluice_core::time::Millis;

use super::ids::short;
use super::rollout::{bake_left, gate_verdicts, is_finished, phase_reason, progress_line, stage_on_candidate};
use super::utc::{duration, iso8601};

/// How progress is shown.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    Quiet,
    Lines(BTreeMap<String, String>),
    Bars { mp: MultiProgress, rollouts: BTreeMap<String, RolloutBars> },
}

#[derive(Debug)]
struct RolloutBars {
    header: ProgressBar,
    /// Per stage: its bar and one bar per wave.
    stages: Vec<(ProgressBar, Vec<ProgressBar>)>,
    gates: ProgressBar,
    done: bool,
}

impl Progress {
    /// Bars when stderr is a terminal, lines when it is not, nothing for `--json`.
    pub fn new(json: bool) -> Progress {
        let mode = if json {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars { mp: MultiProgress::new(), rollouts: BTreeMap::new() }
        } else {
            Mode::Lines(BTreeMap::new())
        };
        Progress { mode }
    }

    /// Show the latest views.
    pub fn update(&mut self, views: &[RolloutView], now: Millis) {
        match &mut self.mode {
            Mode::Quiet => {}
            Mode::Lines(last) => {
                for v in views {
                    let line = progress_line(v);
                    if last.get(&v.id) != Some(&line) {
                        eprintln!("{} {line}", iso8601(now));
                        last.insert(v.id.clone(), line);
                    }
                }
            }
            Mode::Bars { mp, rollouts } => {
                for v in views {
                    let bars = rollouts.entry(v.id.clone()).or_insert_with(|| RolloutBars::new(mp, v));
                    bars.update(v, now);
                }
            }
        }
    }

    /// Leave the bars on screen as they are.
    pub fn finish(&mut self) {
        if let Mode::Bars { rollouts, .. } = &mut self.mode {
            for b in rollouts.values_mut() {
                b.finish();
            }
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

fn text_bar(mp: &MultiProgress) -> ProgressBar {
    let b = mp.add(ProgressBar::new(0));
    b.set_style(style("{msg}"));
    b
}

impl RolloutBars {
    fn new(mp: &MultiProgress, v: &RolloutView) -> RolloutBars {
        let header = text_bar(mp);
        let stage_style = style("{prefix:<16} [{bar:30}] {pos:>5}/{len:<5} {msg}");
        let wave_style = style("{prefix:<16} [{bar:30.dim}] {pos:>5}/{len:<5} {msg}");
        let stages = v
            .stages
            .iter()
            .map(|s| {
                let sb = mp.add(ProgressBar::new(s.targets as u64));
                sb.set_style(stage_style.clone());
                sb.set_prefix(s.name.clone());
                let waves = s
                    .waves
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        let wb = mp.add(ProgressBar::new(w.targets as u64));
                        wb.set_style(wave_style.clone());
                        wb.set_prefix(format!("  wave {} ({})", i + 1, w.size));
                        wb
                    })
                    .collect();
                (sb, waves)
            })
            .collect();
        let gates = text_bar(mp);
        RolloutBars { header, stages, gates, done: false }
    }

    fn update(&mut self, v: &RolloutView, now: Millis) {
        if self.done {
            return;
        }
        let mut head = format!("rollout {} of {} release {}: {}", v.id, v.service, short(&v.release), v.phase);
        if v.emergency {
            head.push_str(" (EMERGENCY)");
        }
        if let Some(why) = phase_reason(v) {
            head.push_str(&format!(" - {why}"));
        }
        self.header.set_message(head);
        let current = super::rollout::current(v);
        for (si, ((sb, wbs), s)) in self.stages.iter().zip(&v.stages).enumerate() {
            sb.set_length(s.targets as u64);
            sb.set_position(stage_on_candidate(s) as u64);
            let mut msg = s.state.clone();
            if let Some((csi, cwi)) = current
                && csi == si
            {
                msg.push_str(&format!(" wave {}/{} {}", cwi + 1, s.waves.len(), v.phase));
                if let Some(left) = bake_left(v, now).filter(|_| !is_finished(v)) {
                    msg.push_str(&format!(", {} left", duration(left)));
                }
            }
            sb.set_message(msg);
            for (wb, w) in wbs.iter().zip(&s.waves) {
                wb.set_length(w.targets as u64);
                wb.set_position(w.on_candidate as u64);
                wb.set_message(w.state.clone());
            }
        }
        let gates = if v.gates.is_empty() { "no evaluation yet".to_string() } else { gate_verdicts(&v.gates) };
        self.gates.set_message(format!("gates: {gates}"));
        if is_finished(v) {
            self.finish();
        }
    }

    fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        // `abandon`, not `finish`: finishing would fill every bar to its length.
        self.header.abandon();
        for (sb, wbs) in &self.stages {
            sb.abandon();
            wbs.iter().for_each(ProgressBar::abandon);
        }
        self.gates.abandon();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_parse() {
        for t in [
            "{msg}",
            "{prefix:<16} [{bar:30}] {pos:>5}/{len:<5} {msg}",
            "{prefix:<16} [{bar:30.dim}] {pos:>5}/{len:<5} {msg}",
        ] {
            assert!(indicatif::ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }
}
