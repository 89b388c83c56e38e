//! `sluice events`: the audit log as a table or lines: sequence number, UTC time, actor, kind,
//! rollout and a one-line summary of the body.

use serde_json::{Map, Value};
use sluice_api::EventView;
use sluice_core::engine::GateEval;

use super::rollout::gate_brief;
use super::utc::iso8601;

/// Longest summary shown; the JSON has everything.
const MAX_SUMMARY: usize = 200;

/// `seq  time  actor  kind  rollout  summary`, tab-free and aligned enough for `grep`.
pub fn line(e: &EventView) -> String {
    format!(
        "{:>6}  {}  {:<14} {:<18} {:<12} {}",
        e.seq,
        iso8601(e.at),
        e.actor,
        e.kind,
        e.rollout.as_deref().unwrap_or("-"),
        summary(e)
    )
}

pub fn table(events: &[EventView]) -> String {
    if events.is_empty() {
        return "no events\n".to_string();
    }
    let mut t = super::table(&["seq", "time (UTC)", "actor", "kind", "rollout", "summary"]);
    for e in events {
        t.add_row(vec![
            e.seq.to_string(),
            iso8601(e.at),
            e.actor.clone(),
            e.kind.clone(),
            e.rollout.clone().unwrap_or_else(|| "-".into()),
            summary(e),
        ]);
    }
    format!("{t}\n")
}

/// One line about the body: the engine's events in words (a gate with its verdict and values,
/// a wave with its size), anything else as `key=value` pairs.
pub fn summary(e: &EventView) -> String {
    let empty = Map::new();
    let b = e.body.as_object().unwrap_or(&empty);
    let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let n = |k: &str| b.get(k).and_then(Value::as_u64);
    let wave = || n("wave").map_or_else(|| "?".to_string(), |w| (w + 1).to_string());
    // A person's `--reason`, where the event has one.
    let why = || b.get("reason").and_then(Value::as_str).map(|r| format!(": {r}")).unwrap_or_default();
    let kind = b.get("event").and_then(Value::as_str).unwrap_or(&e.kind);
    let text = match kind {
        "started" => {
            let mut t =
                format!("release {} (known-good {})", short_val(b.get("release")), short_val(b.get("known_good")));
            if let Some(author) = b.get("author").and_then(Value::as_str) {
                t.push_str(&format!(" by {author}"));
            }
            if b.get("emergency").and_then(Value::as_bool) == Some(true) {
                t.push_str(&format!(" EMERGENCY: {}", s("reason")));
            }
            if let Some(c) = b.get("change").and_then(Value::as_object) {
                for (k, label) in [("message", "message"), ("ticket", "ticket"), ("risk", "risk")] {
                    if let Some(v) = c.get(k).and_then(Value::as_str) {
                        t.push_str(&format!("; {label} {v}"));
                    }
                }
            }
            t
        }
        "break_glass" => format!(
            "BREAK GLASS by {}: {} (past: {})",
            b.get("by").and_then(Value::as_str).unwrap_or("?"),
            s("reason"),
            list(b.get("skips"))
        ),
        "break_glass_approved" => format!("break glass approved by {}{}", s("by"), why()),
        "approval_withdrawn" => format!("{}: {} withdrew their approval{}", s("stage"), s("by"), why()),
        "stage_skipped" => format!("{} skipped: {}", s("stage"), s("why")),
        "coverage_gap" => format!(
            "{}: coverage gap in {} (missing {}){}",
            s("stage"),
            list(b.get("labels")),
            list(b.get("missing")),
            if b.get("blocking").and_then(Value::as_bool) == Some(true) { ", blocking" } else { "" }
        ),
        "awaiting_approval" => format!("{} awaits approval: {}", s("stage"), s("why")),
        "approved" => {
            let count = match (n("count"), n("needed")) {
                (Some(c), Some(k)) if k > 1 => format!(" ({c} of {k})"),
                _ => String::new(),
            };
            format!("{} approved by {}{count}{}", s("stage"), s("by"), why())
        }
        "wave_started" => format!(
            "{} wave {} ({}): {} targets, {} new",
            s("stage"),
            wave(),
            s("size"),
            n("targets").unwrap_or(0),
            n("new_targets").unwrap_or(0)
        ),
        "wave_applied" => format!("{} wave {} runs the candidate", s("stage"), wave()),
        "apply_failed" => format!("{} target {} failed to apply: {}", s("stage"), s("target"), s("reason")),
        "gate" => match b.get("eval").and_then(|v| serde_json::from_value::<GateEval>(v.clone()).ok()) {
            Some(eval) => {
                let samples = format!("n={}", eval.samples);
                format!("{} wave {}: {} {samples}: {}", s("stage"), wave(), gate_brief(&eval), eval.reason)
            }
            None => pairs(b),
        },
        "held" => format!("{} wave {} held: {}", s("stage"), wave(), s("why")),
        "wave_passed" => format!("{} wave {} passed", s("stage"), wave()),
        "stage_passed" => format!("{} passed", s("stage")),
        "paused" => format!("paused by {}{}", s("by"), why()),
        "resumed" => format!("resumed by {}{}", s("by"), why()),
        "rollback_started" => {
            format!("rolling back {} targets to {}: {}", n("targets").unwrap_or(0), short_val(b.get("to")), s("why"))
        }
        "finished" => format!("{}: {}", s("outcome"), s("why")),
        "service_dropped" => format!(
            "spec v{} dropped service {} while {} target(s) ran it (forced)",
            n("version").unwrap_or(0),
            s("service"),
            b.get("targets").and_then(Value::as_array).map_or(0, Vec::len)
        ),
        _ => pairs(b),
    };
    clip(text)
}

fn short_val(v: Option<&Value>) -> String {
    match v.and_then(Value::as_str) {
        Some(id) => super::ids::short(&sluice_core::release::ReleaseId(id.to_string())),
        None => "-".to_string(),
    }
}

fn list(v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        Some(items) => {
            items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string)).collect::<Vec<_>>().join(",")
        }
        None => "-".to_string(),
    }
}

/// `key=value` for every field but the tag; release ids shortened.
fn pairs(b: &Map<String, Value>) -> String {
    b.iter()
        .filter(|(k, _)| k.as_str() != "event")
        .map(|(k, v)| {
            let shown = match v {
                Value::String(s) if s.starts_with("sha256:") => short_val(Some(v)),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{k}={shown}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn clip(s: String) -> String {
    let one_line = s.replace('\n', " ");
    if one_line.chars().count() <= MAX_SUMMARY {
        return one_line;
    }
    let mut t: String = one_line.chars().take(MAX_SUMMARY - 1).collect();
    t.push('…');
    t
}
