//! `sluice check -f sluice.yaml [SERVICE DIR]`: validate the spec and, optionally, a candidate
//! release offline, as a user's own CI would before `release create`. Offline there is no
//! fleet: the checks against it (stage selectors, labels, gate metrics, samples per report
//! interval) run at `sluice apply` and at rollout start, and the output says so.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;
use sluice_core::spec::check::Problem;
use sluice_core::spec::warnings::spec_warnings;
use sluice_core::spec::{Spec, parse_spec};
use sluice_core::validate::{ValidationReport, validate_release};

use super::release_dir::read_release_dir;
use crate::args::CheckArgs;
use crate::exit;

#[derive(Debug, Serialize)]
struct CheckOutput<'a> {
    ok: bool,
    spec: &'a str,
    services: usize,
    pipelines: usize,
    /// The fleet checks did not run, and where they do.
    fleet_checks: &'static str,
    /// What the spec may still get wrong (it is accepted).
    warnings: Vec<Problem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    release: Option<ReleaseOutput>,
}

/// What offline checking leaves to the server.
const FLEET_CHECKS: &str = "not run offline: stage selectors, labels, gate metrics and samples per report interval are checked against the live fleet by `sluice apply` and at rollout start";

#[derive(Debug, Serialize)]
pub(crate) struct ReleaseOutput {
    pub(crate) service: String,
    pub(crate) dir: String,
    pub(crate) report: ValidationReport,
    pub(crate) check_commands: Vec<CheckRun>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CheckRun {
    pub(crate) command: String,
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

pub fn run(a: &CheckArgs) -> u8 {
    let spec_name = a.file.display().to_string();
    let (spec, text) = match read_limited(&a.file)
        .and_then(|text| parse_spec(&spec_name, &text).map(|spec| (spec, text)).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("error: {msg}");
            return exit::USAGE;
        }
    };
    let warnings = spec_warnings(&spec, Some(&text));
    let release = match (&a.service, &a.dir) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            eprintln!("error: give both SERVICE and DIR to check a release, or neither to check the spec");
            return exit::USAGE;
        }
        (Some(service), Some(dir)) => match check_release(&spec, service, dir, a.parent.as_deref()) {
            Ok(r) => Some(r),
            Err(msg) => {
                eprintln!("error: {msg}");
                return exit::USAGE;
            }
        },
    };
    let ok = release.as_ref().is_none_or(|r| r.report.is_ok() && r.check_commands.iter().all(|c| c.ok));
    let out = CheckOutput {
        ok,
        spec: &spec_name,
        services: spec.services.len(),
        pipelines: spec.pipelines.len(),
        fleet_checks: FLEET_CHECKS,
        warnings,
        release,
    };
    if a.json {
        match serde_json::to_string_pretty(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: failed to render JSON: {e}");
                return exit::INTERNAL;
            }
        }
    } else {
        println!("{spec_name}: ok ({} services, {} pipelines)", out.services, out.pipelines);
        for w in &out.warnings {
            let at = w.line.map(|(l, c)| format!(" (line {l}, column {c})")).unwrap_or_default();
            println!("warning: {}{at}: {}", w.path, w.message);
        }
        println!("fleet checks {FLEET_CHECKS}");
        if let Some(r) = &out.release {
            if r.report.is_ok() {
                println!("{} release in {}: {} files pass every validator", r.service, r.dir, r.report.files_checked);
            } else {
                println!("{} release in {} REJECTED:", r.service, r.dir);
                print!("{}", r.report);
            }
            for c in &r.check_commands {
                println!("check `{}`: {} {}", c.command, if c.ok { "ok" } else { "FAILED" }, c.detail);
            }
        }
    }
    if ok { exit::OK } else { exit::REJECTED }
}

/// Read and parse a spec file, with the size limit checked before reading.
pub fn load_spec(path: &Path) -> Result<Spec, String> {
    let name = path.display().to_string();
    let text = read_limited(path)?;
    parse_spec(&name, &text).map_err(|e| e.to_string())
}

/// Read a text file we were pointed at, refusing it before reading when it is too large.
pub fn read_limited(path: &Path) -> Result<String, String> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("failed to read {name}: {e}"))?;
    let limit = sluice_core::spec::parse::MAX_FILE_BYTES as u64;
    if meta.len() > limit {
        return Err(format!("{name}: file is {} bytes, larger than the {limit}-byte limit", meta.len()));
    }
    std::fs::read_to_string(path).map_err(|e| format!("failed to read {name}: {e}"))
}

pub(crate) fn check_release(
    spec: &Spec,
    service: &str,
    dir: &Path,
    parent: Option<&Path>,
) -> Result<ReleaseOutput, String> {
    let svc = spec.services.get(service).ok_or_else(|| {
        let known: Vec<&str> = spec.services.keys().map(String::as_str).collect();
        format!("service {service:?} is not in the spec (defined: {})", known.join(", "))
    })?;
    let files = read_release_dir(dir, &svc.files, svc.max_bundle_bytes).map_err(|e| e.to_string())?.files;
    let parent_files = match parent {
        Some(p) => Some(read_release_dir(p, &svc.files, svc.max_bundle_bytes).map_err(|e| e.to_string())?.files),
        None => None,
    };
    let report = validate_release(&svc.validators, &files, parent_files.as_ref());
    let mut check_commands = Vec::new();
    let dir_s = dir.display().to_string();
    for c in &report.checks {
        let cmd = c.command.replace("{release}", &dir_s);
        let timeout = c.timeout.map_or(Duration::from_secs(60), |d| Duration::from_millis(d.0));
        let (ok, detail) = run_command(&cmd, timeout);
        check_commands.push(CheckRun { command: cmd, ok, detail });
    }
    Ok(ReleaseOutput { service: service.to_string(), dir: dir_s, report, check_commands })
}

/// Run a shell command with a timeout; (exit 0?, what happened).
fn run_command(cmd: &str, timeout: Duration) -> (bool, String) {
    let mut child = match Command::new("sh").arg("-c").arg(cmd).stdout(Stdio::null()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => return (false, format!("could not start: {e}")),
    };
    let step = Duration::from_millis(20);
    let mut waited = Duration::ZERO;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    use std::io::Read;
                    let _ = s.read_to_string(&mut err);
                }
                let tail: String = err.lines().last().unwrap_or("").chars().take(300).collect();
                return (status.success(), format!("({status}) {tail}").trim().to_string());
            }
            Ok(None) if waited >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return (false, format!("timed out after {}s", timeout.as_secs()));
            }
            Ok(None) => {
                std::thread::sleep(step);
                waited += step;
            }
            Err(e) => return (false, format!("wait failed: {e}")),
        }
    }
}
