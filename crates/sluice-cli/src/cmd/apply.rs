//! `sluice apply -f sluice.yaml`: send the spec (text and file name) to the server, which
//! parses and checks it; print what it stored. A spec with problems is refused (exit 2) with
//! each problem located in the file.

use sluice_api::{ApplySpec, SpecApplied};

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
    let req = ApplySpec { text, file: Some(a.file.display().to_string()) };
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
    format!(
        "{file}: {} version {}\nservices: {}\npipelines: {}",
        if s.changed { "applied as" } else { "unchanged, still" },
        s.version,
        list(&s.services),
        list(&s.pipelines)
    )
}
