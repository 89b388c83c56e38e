//! `sluice release create SERVICE DIR [-m MSG] [-f sluice.yaml]` and `sluice release list
//! SERVICE`.
//!
//! `create` reads the directory, and with `-f` validates it locally first through the same code
//! as `sluice check` (a rejection exits 3 before anything is sent), packs the bundle and
//! uploads it; the server validates again against its applied spec. In text mode stdout holds
//! just the release id, so scripts can capture it; the details go to stderr.

use std::path::Path;

use super::check::{check_release, load_spec};
use super::release_dir::{ReleaseDir, read_release_dir};
use crate::args::{ReleaseCommand, ReleaseCreateArgs, ReleaseListArgs};
use crate::connect::{block_on, client};
use crate::exit;
use crate::failure::{Failure, violations};
use crate::output::print_json;
use crate::render;

/// Largest release read without a spec naming the service's limit (the spec's default
/// `max_bundle_bytes`); the server enforces the applied spec's limit.
const DEFAULT_MAX_RELEASE_BYTES: u64 = 64 * 1024 * 1024;

pub fn run(c: &ReleaseCommand) -> u8 {
    let (result, json) = match c {
        ReleaseCommand::Create(a) => (create(a), a.conn.json),
        ReleaseCommand::List(a) => (list(a), a.conn.json),
    };
    match result {
        Ok(()) => exit::OK,
        Err(f) => f.report(json),
    }
}

fn create(a: &ReleaseCreateArgs) -> Result<(), Failure> {
    let release = match &a.file {
        Some(spec_file) => validate_locally(a, spec_file)?,
        None => read_release_dir(&a.dir, &[], DEFAULT_MAX_RELEASE_BYTES).map_err(|e| Failure::Usage(e.to_string()))?,
    };
    let bundle = sluice_bundle::pack_with_modes(&release.files, &release.modes)
        .map_err(|e| Failure::Usage(format!("failed to pack {}: {e}", a.dir.display())))?;
    let client = client(&a.conn)?;
    let files = release.files.len();
    eprintln!("uploading {files} files ({} bytes) of {} to {}", bundle.len(), a.service, client.base());
    let created = block_on(client.create_release(&a.service, bundle, &a.message))??;
    if a.conn.json {
        return print_json(&created);
    }
    eprint!("{}", render::releases::created(&created));
    println!("{}", created.release.id);
    Ok(())
}

/// Validate `a.dir` against `spec_file` exactly as `sluice check` does; on success return the
/// files to pack (read with the service's `files` globs and size limit).
fn validate_locally(a: &ReleaseCreateArgs, spec_file: &Path) -> Result<ReleaseDir, Failure> {
    let spec = load_spec(spec_file).map_err(Failure::Usage)?;
    let out = check_release(&spec, &a.service, &a.dir, None).map_err(Failure::Usage)?;
    let failed_checks: Vec<_> = out.check_commands.iter().filter(|c| !c.ok).collect();
    if !out.report.is_ok() || !failed_checks.is_empty() {
        if a.conn.json {
            print_json(&out)?;
        }
        let mut msg = format!(
            "{} release in {} REJECTED by the validators of {} (nothing was uploaded):",
            a.service,
            a.dir.display(),
            spec_file.display()
        );
        msg.push_str(&violations(&out.report));
        for c in failed_checks {
            msg.push_str(&format!("\n  check `{}` FAILED {}", c.command, c.detail));
        }
        return Err(Failure::Rejected(msg));
    }
    eprintln!(
        "{} release in {}: {} files pass every validator of {}",
        a.service,
        a.dir.display(),
        out.report.files_checked,
        spec_file.display()
    );
    let svc = spec
        .services
        .get(&a.service)
        .ok_or_else(|| Failure::Internal(format!("service {:?} vanished from the spec", a.service)))?;
    read_release_dir(&a.dir, &svc.files, svc.max_bundle_bytes).map_err(|e| Failure::Usage(e.to_string()))
}

fn list(a: &ReleaseListArgs) -> Result<(), Failure> {
    let client = client(&a.conn)?;
    let releases = block_on(client.list_releases(&a.service))??;
    if a.conn.json {
        return print_json(&releases);
    }
    print!("{}", render::releases::table(&releases));
    Ok(())
}
