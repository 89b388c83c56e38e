//! What `sluice demo` shows on stderr while the story runs: a bar per stage on a terminal,
//! plain lines (printed when something changed) otherwise, nothing with `--json`.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice_api::{RolloutView, StageView};

pub enum Progress {
    Silent,
    Lines { last: String },
    Bars { multi: MultiProgress, bars: Vec<ProgressBar> },
}

impl Progress {
    pub fn new(json: bool) -> Progress {
        if json {
            Progress::Silent
        } else if std::io::stderr().is_terminal() {
            Progress::Bars { multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()), bars: Vec::new() }
        } else {
            Progress::Lines { last: String::new() }
        }
    }

    /// A line of narration (above the bars on a terminal).
    pub fn say(&self, line: &str) {
        match self {
            Progress::Silent => {}
            Progress::Lines { .. } => note(line),
            Progress::Bars { multi, .. } => {
                if multi.println(line).is_err() {
                    note(line);
                }
            }
        }
    }

    /// Show where the rollout is now.
    pub fn update(&mut self, view: &RolloutView) {
        match self {
            Progress::Silent => {}
            Progress::Lines { last } => {
                let line = format!(
                    "  {} | {}",
                    view.phase,
                    view.stages.iter().map(stage_line).collect::<Vec<_>>().join(" | ")
                );
                if line != *last {
                    note(&line);
                    *last = line;
                }
            }
            Progress::Bars { multi, bars } => {
                if bars.len() != view.stages.len() {
                    for b in bars.drain(..) {
                        b.finish_and_clear();
                    }
                    let style =
                        ProgressStyle::with_template("{prefix:>9} [{bar:24.cyan/blue}] {pos:>2}/{len:<2} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> ");
                    for s in &view.stages {
                        let b = multi.add(ProgressBar::new(s.targets as u64));
                        b.set_style(style.clone());
                        b.set_prefix(s.name.clone());
                        bars.push(b);
                    }
                }
                for (b, s) in bars.iter().zip(&view.stages) {
                    b.set_length(s.targets as u64);
                    b.set_position(on_candidate(s) as u64);
                    b.set_message(stage_state(s));
                }
            }
        }
    }

    /// The rollout ended: leave the bars' last state on screen.
    pub fn finish(&mut self) {
        match self {
            Progress::Silent => {}
            Progress::Lines { last } => last.clear(),
            Progress::Bars { bars, .. } => {
                for b in bars.drain(..) {
                    b.abandon();
                }
            }
        }
    }
}

/// A line on stderr; a closed stderr is not worth a panic.
fn note(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Targets of the stage on the candidate now (the widest wave that started).
fn on_candidate(s: &StageView) -> usize {
    s.waves.iter().map(|w| w.on_candidate).max().unwrap_or(0)
}

/// `active: wave 2/3 baking`, `passed`, `pending`.
fn stage_state(s: &StageView) -> String {
    let current = s.waves.iter().enumerate().rev().find(|(_, w)| w.state != "pending");
    match current {
        Some((i, w)) if s.state == "active" || s.state == "failed" => {
            format!("{} · wave {}/{} ({}) {}", s.state, i + 1, s.waves.len(), w.size, w.state)
        }
        _ => s.state.clone(),
    }
}

fn stage_line(s: &StageView) -> String {
    format!("{} {} {}/{}", s.name, stage_state(s), on_candidate(s), s.targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_api::WaveView;

    #[test]
    fn a_stage_shows_its_active_wave() {
        let wave = |size: &str, targets, on, state: &str| WaveView {
            size: size.into(),
            targets,
            on_candidate: on,
            state: state.into(),
        };
        let s = StageView {
            name: "staging".into(),
            targets: 4,
            bake_ms: 4000,
            state: "active".into(),
            waves: vec![wave("1", 1, 1, "passed"), wave("100%", 4, 3, "applying")],
            gates: Vec::new(),
        };
        assert_eq!(stage_line(&s), "staging active · wave 2/2 (100%) applying 3/4");
        let done = StageView { state: "passed".into(), ..s };
        assert_eq!(stage_state(&done), "passed");
    }
}
