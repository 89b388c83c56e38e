//! `sluice targets`: one row per target with its labels, OS, connection and, per service, the
//! release it runs, the one it should run and its known-good (short ids).

use std::fmt::Write as _;

use sluice_api::{TargetServiceView, TargetView};
use sluice_core::labels::Labels;

use super::ids::short_or_dash;

/// `env=prod,proxy=fl1`, or `-`.
pub fn labels(l: &Labels) -> String {
    if l.is_empty() {
        return "-".to_string();
    }
    l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// `edge-rules 3fa9c2e1b0d4/3fa9c2e1b0d4/1b2c3d4e5f60`, with `(converging)` when running
/// differs from desired and the last apply failure, if any.
pub fn service(s: &TargetServiceView) -> String {
    let mut out = format!(
        "{} {}/{}/{}",
        s.service,
        short_or_dash(s.running.as_ref()),
        short_or_dash(s.desired.as_ref()),
        short_or_dash(s.known_good.as_ref())
    );
    if s.running != s.desired {
        out.push_str(" (converging)");
    }
    if let Some(f) = &s.last_failure {
        let brief: String = f.chars().take(120).collect();
        let _ = write!(out, " apply failed: {brief}");
    }
    out
}

pub fn table(targets: &[TargetView]) -> String {
    if targets.is_empty() {
        return "no targets enrolled (see `sluice enrollment-token`)\n".to_string();
    }
    let mut t = super::table(&["target", "labels", "os", "connected", "services (running/desired/known-good)"]);
    for tv in targets {
        let services = if tv.services.is_empty() {
            "-".to_string()
        } else {
            tv.services.iter().map(service).collect::<Vec<_>>().join("\n")
        };
        t.add_row(vec![
            tv.id.to_string(),
            labels(&tv.labels),
            tv.facts.get("os").cloned().unwrap_or_else(|| "-".into()),
            if tv.connected { "yes" } else { "no" }.to_string(),
            services,
        ]);
    }
    let connected = targets.iter().filter(|t| t.connected).count();
    format!("{t}\n{} targets, {connected} connected\n", targets.len())
}
