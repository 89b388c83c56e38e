//! `nginx_fleet [--json] [--keep] [--sluice PATH]`: runs the story of `examples/nginx-fleet/`
//! (see `sluice_testkit::nginx_fleet`). Progress goes to stderr; with `--json` the report is
//! printed to stdout as JSON, else a summary. Exit status 0 only when the story held; 1 when it
//! did not; 2 on bad arguments or when the fleet could not be run.

use std::path::PathBuf;
use std::process::ExitCode;

use sluice_testkit::nginx_fleet::{self, Options, Report};

const USAGE: &str = "usage: nginx_fleet [--json] [--keep] [--quiet] [--sluice PATH]
  --json      print the report as JSON on stdout
  --keep      keep the working directory (configs, logs, Prometheus data)
  --quiet     no progress lines on stderr
  --sluice    the sluice binary (default: $SLUICE_BIN, else `sluice` beside this program)";

fn main() -> ExitCode {
    let mut json = false;
    let mut keep = false;
    let mut quiet = false;
    let mut sluice: Option<PathBuf> = std::env::var_os("SLUICE_BIN").map(PathBuf::from);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--keep" => keep = true,
            "--quiet" => quiet = true,
            "--sluice" => match args.next() {
                Some(p) => sluice = Some(PathBuf::from(p)),
                None => return usage("--sluice needs a path"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let sluice = sluice.or_else(|| {
        let exe = std::env::current_exe().ok()?;
        Some(exe.parent()?.join("sluice"))
    });
    let Some(sluice) = sluice else { return usage("cannot locate the sluice binary; pass --sluice") };
    let mut opts = Options::new(sluice);
    opts.keep = keep;
    opts.progress = !quiet;

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = nginx_fleet::run(&opts) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    // Everything the run started is stopped when its future is dropped (here, or above on ^C).
    drop(runtime);
    match result {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("error: {e}"),
                }
            } else {
                summary(&report);
            }
            if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({"ok": false, "error": format!("{e:#}")}));
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("error: {why}\n{USAGE}");
    ExitCode::from(2)
}

fn summary(r: &Report) {
    println!("nginx fleet story: {}", if r.ok { "held" } else { "DID NOT HOLD" });
    for s in &r.steps {
        println!(
            "  {:<14} {:<12} caught: {:<8} wave {:<4} gate source: {:<10} prod on bad: {:<4} verdict→rolled back: {} ms",
            s.name,
            s.outcome.as_deref().unwrap_or("-"),
            s.stage_caught.as_deref().unwrap_or("-"),
            s.wave_caught.map_or("-".to_string(), |w| w.to_string()),
            s.gate_source.as_deref().unwrap_or("-"),
            s.prod_targets_ever_on_bad.map_or("-".to_string(), |n| n.to_string()),
            s.verdict_to_rollback_ms.map_or("-".to_string(), |n| n.to_string()),
        );
    }
    println!(
        "  runner requests: {} ({} failed on variant=b hosts, {} elsewhere); {:.1}s",
        r.requests,
        r.b_failures,
        r.non_b_failures,
        r.run_ms as f64 / 1000.0
    );
    for p in &r.problems {
        println!("  problem: {p}");
    }
}
