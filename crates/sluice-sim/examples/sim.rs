//! Run a scenario without the CLI: `cargo run -p sluice-sim --release --example sim --
//! examples/scenarios/cloudflare-2025-12-05.yaml [--json] [--svg FILE] [--seed N]`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: sim SCENARIO.yaml [--json] [--svg FILE] [--seed N]");
        return ExitCode::from(2);
    };
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::from(2);
        }
    };
    let scenario = match sluice_sim::load_scenario(file, &text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let seed = flag("--seed").and_then(|s| s.parse().ok());
    let report = sluice_sim::run(&scenario, seed);
    if let Some(svg) = flag("--svg")
        && let Err(e) = std::fs::write(&svg, report.to_svg())
    {
        eprintln!("{svg}: {e}");
        return ExitCode::from(2);
    }
    if args.iter().any(|a| a == "--json") {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    ExitCode::SUCCESS
}
