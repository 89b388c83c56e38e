//! File modes: an executable packed from a directory arrives executable and runs; nothing a
//! manifest or a tar header says can make a setuid, setgid or writable-by-others file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use sluice_bundle::{Limits, Mode, Modes, digest, pack_with_modes, verify_and_unpack};

use crate::support::{RawTar, Scratch, files, read_both_ways};

/// The permission bits of `path` (no file type bits).
fn bits(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn an_executable_arrives_executable_and_runs() {
    let release = files(&[("bin/hello", "#!/bin/sh\necho hello from the bundle\n"), ("conf", "x\n")]);
    let modes = Modes::from([("bin/hello".to_string(), Mode::Executable)]);
    let bytes = pack_with_modes(&release, &modes).unwrap();
    let (bundle, scratch) = read_both_ways(&bytes, &Limits::default()).unwrap();
    assert_eq!(bundle.manifest.modes(), modes, "the manifest carries the mode");
    let script = scratch.dest().join("bin/hello");
    assert_eq!(bits(&script), 0o755, "exactly, whatever the umask");
    assert_eq!(bits(&scratch.dest().join("conf")), 0o644, "a regular file stays non-executable");
    assert_eq!(bits(&scratch.dest().join("bin")), 0o755);
    assert_eq!(bits(&scratch.dest()), 0o755);
    let out = Command::new(&script).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from the bundle\n");
}

#[test]
fn a_manifest_cannot_ask_for_setuid_or_world_writable_files() {
    let data: &[u8] = b"#!/bin/sh\n";
    let bytes = RawTar::new()
        .manifest_with_modes(&[("suid", data, "4777"), ("sgid", data, "2755"), ("open", data, "0666")])
        .file("open", data)
        .file("sgid", data)
        .file("suid", data)
        .finish();
    let (bundle, scratch) = read_both_ways(&bytes, &Limits::default()).unwrap();
    let modes = bundle.manifest.modes();
    assert_eq!(modes.get("suid"), Some(&Mode::Executable));
    assert_eq!(modes.get("open"), None, "normalised to regular");
    for (name, mode) in [("suid", 0o755), ("sgid", 0o755), ("open", 0o644)] {
        assert_eq!(bits(&scratch.dest().join(name)), mode, "{name}");
    }
}

#[test]
fn the_tar_header_mode_is_ignored() {
    let data: &[u8] = b"#!/bin/sh\n";
    let bytes = RawTar::new().manifest(&[("f", data)]).file_with_header_mode("f", data, 0o4777).finish();
    let (bundle, scratch) = read_both_ways(&bytes, &Limits::default()).unwrap();
    assert!(bundle.manifest.modes().is_empty());
    assert_eq!(bits(&scratch.dest().join("f")), 0o644, "from the manifest");
}

#[test]
fn a_mode_that_is_not_octal_is_refused() {
    let data: &[u8] = b"x";
    let bytes = RawTar::new().manifest_with_modes(&[("f", data, "u+x")]).file("f", data).finish();
    let err = read_both_ways(&bytes, &Limits::default()).unwrap_err();
    assert_eq!(err.reason(), "manifest", "{err}");
    assert!(err.to_string().contains("octal"), "{err}");
}

#[test]
fn old_manifests_without_modes_unpack_as_0644() {
    // Exactly what a bundle packed before modes existed looks like: no `mode` key at all.
    let data: &[u8] = b"{}";
    let bytes = RawTar::new().manifest(&[("a.json", data)]).file("a.json", data).finish();
    let manifest_text = String::from_utf8_lossy(&bytes[512..1024]).into_owned();
    assert!(!manifest_text.contains("mode"), "{manifest_text}");
    let scratch = Scratch::new();
    let bundle = verify_and_unpack(&bytes, &digest(&bytes), &Limits::default(), &scratch.dest()).unwrap();
    assert_eq!(bundle.manifest.files[0].mode, Mode::Regular);
    assert_eq!(bits(&scratch.dest().join("a.json")), 0o644);
}
