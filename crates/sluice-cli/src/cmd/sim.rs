//! `sluice sim SCENARIO.yaml [--json] [--svg FILE] [--seed N]`.

use crate::args::SimArgs;
use crate::exit;

pub fn run(a: &SimArgs) -> u8 {
    let name = a.scenario.display().to_string();
    let text = match super::check::read_limited(&a.scenario) {
        Ok(t) => t,
        Err(msg) => {
            eprintln!("error: {msg}");
            return exit::USAGE;
        }
    };
    let scenario = match sluice_sim::load_scenario(&name, &text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let report = sluice_sim::run(&scenario, a.seed);
    if let Some(path) = &a.svg
        && let Err(e) = std::fs::write(path, report.to_svg())
    {
        eprintln!("error: failed to write {}: {e}", path.display());
        return exit::USAGE;
    }
    if a.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    exit::OK
}
