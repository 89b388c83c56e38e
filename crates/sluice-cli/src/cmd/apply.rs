//! `sluice apply -f sluice.yaml [--force]`: send the spec (text and file name) to the server,
//! which parses and checks it, also against the live fleet and its report interval; print what
//! it stored, its warnings, and the report interval it checked against. A spec with problems is
//! refused (exit 2) with each problem located in the file; one that drops a service targets
//! still run is refused unless `--force` (the server records a forced drop).

use sluice_api::{ApplySpec, SpecApplied};
use sluice_core::time::Dur;

use super::check::read_limited;
use crate::args::ApplyArgs;
use crate::connect::{block_on, client};
use crate::exit;
use crate::failure::Failure;
use crate::output::print_json;

pub fn run(a: &ApplyArgs) -> u8 {
    match apply(a) {
        Ok(()) => exit::OK,
        Err(f) => f.report(a.conn.json),
    }
}

fn apply(a: &ApplyArgs) -> Result<(), Failure> {
    let text = read_limited(&a.file).map_err(Failure::Usage)?;
    let client = client(&a.conn)?;
    let req = ApplySpec { text, file: Some(a.file.display().to_string()), force: a.force };
    let applied = block_on(client.apply_spec(&req))??;
    for w in &applied.warnings {
        eprintln!("warning: {w}");
    }
    if a.conn.json {
        return print_json(&applied);
    }
    println!("{}", summary(&a.file.display().to_string(), &applied));
    Ok(())
}

fn summary(file: &str, s: &SpecApplied) -> String {
    let list = |v: &[String]| if v.is_empty() { "-".to_string() } else { v.join(", ") };
    let mut out = format!(
        "{file}: {} version {}\nservices: {}\npipelines: {}",
        if s.changed { "applied as" } else { "unchanged, still" },
        s.version,
        list(&s.services),
        list(&s.pipelines)
    );
    if s.report_interval_ms > 0 {
        out.push_str(&format!(
            "\nchecked against {} enrolled target(s); the server's report interval is {}",
            s.targets,
            Dur(s.report_interval_ms)
        ));
    }
    out
}
