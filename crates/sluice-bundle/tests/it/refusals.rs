//! The bundle format end to end: packing is deterministic, and every hostile bundle is refused
//! with the right reason, in memory as on disk, leaving nothing behind.

use std::fs;

use sluice_bundle::{
    BundleCompression, BundleError, Limits, MANIFEST_NAME, Modes, digest, pack, pack_with, verify_and_unpack,
    verify_in_memory,
};
use tar::EntryType;

use crate::support::{RawTar, Scratch, files, gzip, read_both_ways};

/// Refuses `bytes` (with their true digest) in memory and on disk alike, and checks the
/// reason, that the message names `needle`, and that nothing was written.
fn refused(bytes: &[u8], limits: &Limits, reason: &str, needle: &str) -> BundleError {
    let Err(err) = read_both_ways(bytes, limits) else { panic!("accepted, expected a refusal naming {needle:?}") };
    assert_eq!(err.reason(), reason, "{err}");
    assert!(err.to_string().contains(needle), "{err:?} should name {needle:?}");
    err
}

#[test]
fn pack_then_unpack_round_trips_with_a_stable_digest() {
    let release = files(&[("features.json", "{\"features\":[]}"), ("conf/nginx.conf", "events {}\n"), ("empty", "")]);
    let first = pack(&release).unwrap();
    let second = pack(&release).unwrap();
    assert_eq!(digest(&first), digest(&second), "same files, same id");
    assert!(digest(&first).starts_with("sha256:"));
    for bytes in [first, pack_with(&release, &Modes::new(), BundleCompression::None).unwrap()] {
        let (bundle, scratch) = read_both_ways(&bytes, &Limits::default()).unwrap();
        assert_eq!(bundle.files, release);
        assert_eq!(bundle.id, digest(&bytes));
        let listed: Vec<_> = bundle.manifest.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(listed, ["conf/nginx.conf", "empty", "features.json"]);
        for (path, content) in &release {
            assert_eq!(&fs::read(scratch.dest().join(path)).unwrap(), content, "{path}");
        }
        assert!(!scratch.dest().join(MANIFEST_NAME).exists(), "the manifest is not a release file");
    }
    let changed = files(&[("features.json", "{\"features\":[1]}"), ("conf/nginx.conf", "events {}\n"), ("empty", "")]);
    assert_ne!(digest(&pack(&changed).unwrap()), digest(&pack(&release).unwrap()));
}

#[test]
fn wrong_digest_is_refused_naming_both() {
    let bytes = pack(&files(&[("a", "1")])).unwrap();
    let other = digest(b"something else");
    let scratch = Scratch::new();
    let expected = format!("verify bundle: digest mismatch, expected {other}, got {}", digest(&bytes));
    let err = verify_and_unpack(&bytes, &other, &Limits::default(), &scratch.dest()).unwrap_err();
    assert_eq!(err.reason(), "digest_mismatch");
    assert_eq!(err.to_string(), expected);
    let err = verify_in_memory(&bytes, &other, &Limits::default()).unwrap_err();
    assert_eq!(err.reason(), "digest_mismatch");
    assert_eq!(err.to_string(), expected);
    scratch.assert_untouched();
    let err = verify_and_unpack(&bytes, "sha256:../../evil", &Limits::default(), &scratch.dest()).unwrap_err();
    assert_eq!(err.reason(), "digest_mismatch");
    let err = verify_in_memory(&bytes, "sha256:../../evil", &Limits::default()).unwrap_err();
    assert_eq!(err.reason(), "digest_mismatch");
    scratch.assert_untouched();
}

#[test]
fn dot_dot_entries_are_refused() {
    // The manifest honestly lists the escaping path.
    let bundle = RawTar::new().manifest(&[("../evil", b"pwned")]).file("../evil", b"pwned").finish();
    refused(&bundle, &Limits::default(), "unsafe_path", "`../evil`");
    // The manifest is clean, the entry is not.
    let bundle = RawTar::new().manifest(&[("a", b"1")]).file("a", b"1").file("a/../../evil", b"pwned").finish();
    refused(&gzip(&bundle), &Limits::default(), "unsafe_path", "`a/../../evil`");
}

#[test]
fn absolute_paths_are_refused() {
    let scratch = Scratch::new();
    let target = scratch.root.path().join("evil").to_string_lossy().into_owned();
    let bundle = RawTar::new().manifest(&[("a", b"1")]).file(&target, b"pwned").finish();
    refused(&bundle, &Limits::default(), "unsafe_path", "absolute path");
    let listed = RawTar::new().manifest(&[(&target, b"pwned")]).file(&target, b"pwned").finish();
    refused(&listed, &Limits::default(), "unsafe_path", "absolute path");
    scratch.assert_untouched();
}

#[test]
fn links_of_any_kind_are_refused() {
    let symlink = RawTar::new()
        .manifest(&[("passwd", b"")])
        .entry(b"passwd", EntryType::Symlink, 0, b"", b"/etc/passwd")
        .file("passwd", b"overwritten through the link")
        .finish();
    let err = refused(&symlink, &Limits::default(), "link", "`passwd`");
    assert!(err.to_string().contains("`/etc/passwd`"), "{err}");
    let hardlink =
        RawTar::new().manifest(&[]).entry(b"shadow", EntryType::Link, 0, b"", b"../../../../etc/shadow").finish();
    refused(&hardlink, &Limits::default(), "link", "`shadow`");
}

#[test]
fn devices_fifos_and_duplicates_are_refused() {
    let fifo = RawTar::new().manifest(&[]).entry(b"pipe", EntryType::Fifo, 0, b"", b"").finish();
    refused(&fifo, &Limits::default(), "unsafe_path", "fifo");
    let device = RawTar::new().manifest(&[]).entry(b"sda", EntryType::Block, 0, b"", b"").finish();
    refused(&device, &Limits::default(), "unsafe_path", "block device");
    let twice = RawTar::new().manifest(&[("a", b"1")]).file("a", b"1").file("a", b"1").finish();
    refused(&twice, &Limits::default(), "unsafe_path", "twice");
    let conflict = RawTar::new().manifest(&[("a", b"1"), ("a/b", b"2")]).file("a", b"1").file("a/b", b"2").finish();
    refused(&conflict, &Limits::default(), "unsafe_path", "`a/b`");
}

#[test]
fn oversized_bundles_are_refused_while_reading() {
    let limits = Limits { max_bundle_bytes: 1 << 20, max_total_bytes: 2000, max_file_bytes: 1000, max_entries: 5 };
    let big = vec![b'x'; 1500];
    // An honest file over the per-file limit (the manifest already says so).
    let over = RawTar::new().manifest(&[("big", &big)]).file("big", &big).finish();
    refused(&over, &limits, "too_large", "`big`");
    // The manifest lies (10 bytes), the header tells the truth (1500).
    let lying_manifest = RawTar::new().manifest(&[("big", &big[..10])]).file("big", &big).finish();
    refused(&lying_manifest, &limits, "too_large", "`big`");
    // The header claims a terabyte: refused from the header, nothing allocated or read.
    let lying_header =
        RawTar::new().manifest(&[("big", b"x")]).entry(b"big", EntryType::Regular, 1 << 40, b"x", b"").finish();
    refused(&lying_header, &limits, "too_large", "`big`");
    // The header claims less than follows: the rest is read as headers, and refused.
    let short_header = RawTar::new().manifest(&[("a", b"xx")]).entry(b"a", EntryType::Regular, 2, &big, b"").finish();
    let err = refused(&short_header, &limits, "malformed", "the entry after `a`");
    assert!(matches!(err, BundleError::Malformed { .. }));
    // Several files, each within the per-file limit, over the total.
    let (a, b, c) = (vec![b'a'; 900], vec![b'b'; 900], vec![b'c'; 900]);
    let listed: &[(&str, &[u8])] = &[("a", &a), ("b", &b), ("c", &c)];
    let total = RawTar::new().manifest(listed).file("a", &a).file("b", &b).file("c", &c).finish();
    refused(&total, &limits, "too_large", "`c`");
    // A gzip bomb: 20 MiB of zeros, well under the bundle limit once compressed.
    let zeros = vec![0u8; 20 << 20];
    let bomb = gzip(
        &RawTar::new()
            .manifest(&[("z", b"")])
            .entry(b"z", EntryType::Regular, zeros.len() as u64, &zeros, b"")
            .finish(),
    );
    assert!(bomb.len() < 1 << 20);
    refused(&bomb, &limits, "too_large", "`z`");
    // A GNU long name of 20 MiB is capped by the stream limit, not read into memory.
    let long_name =
        gzip(&RawTar::new().entry(b"././@LongLink", EntryType::GNULongName, zeros.len() as u64, &zeros, b"").finish());
    refused(&long_name, &limits, "too_large", "over");
    // The compressed bundle itself over the limit.
    let small = Limits { max_bundle_bytes: 100, ..limits };
    refused(&pack(&files(&[("a", &"y".repeat(1000))])).unwrap(), &small, "too_large", "over the limit of 100");
    // Too many entries.
    let many = RawTar::new().manifest(&[]).entry(b"d1", EntryType::Directory, 0, b"", b"");
    let many =
        (2..=6).fold(many, |t, i| t.entry(format!("d{i}").as_bytes(), EntryType::Directory, 0, b"", b"")).finish();
    refused(&many, &limits, "too_large", "more than 5 entries");
}

#[test]
fn manifest_mismatches_are_refused() {
    let not_listed = RawTar::new().manifest(&[("a", b"1")]).file("a", b"1").file("extra", b"2").finish();
    refused(&not_listed, &Limits::default(), "manifest", "`extra`: it is not in the manifest");
    let wrong_sha = RawTar::new().manifest(&[("a", b"1")]).file("a", b"2").finish();
    refused(&wrong_sha, &Limits::default(), "manifest", "`a`: sha256");
    let missing = RawTar::new().manifest(&[("a", b"1"), ("b", b"2")]).file("a", b"1").finish();
    refused(&missing, &Limits::default(), "manifest", "`b`");
    let no_manifest = RawTar::new().file("a", b"1").finish();
    refused(&no_manifest, &Limits::default(), "manifest", "`a`");
    refused(&RawTar::new().finish(), &Limits::default(), "manifest", "no entries");
}

#[test]
fn corrupt_archives_are_malformed() {
    let good = RawTar::new().manifest(&[("a", b"1")]).file("a", b"1");
    refused(&good.truncated(1024 + 300), &Limits::default(), "malformed", "the entry after `sluice-manifest.json`");
    let mut flipped = pack_with(&files(&[("a", "1")]), &Modes::new(), BundleCompression::None).unwrap();
    flipped[100] ^= 0xff; // inside the first header: its checksum no longer matches
    refused(&flipped, &Limits::default(), "malformed", "the first entry");
    refused(&[0x1f, 0x8b, 1, 2, 3], &Limits::default(), "malformed", "");
}

#[test]
fn the_destination_must_not_exist_and_its_parent_is_created() {
    let scratch = Scratch::new();
    let bytes = pack(&files(&[("a", "1")])).unwrap();
    let nested = scratch.root.path().join("new/parent/r");
    verify_and_unpack(&bytes, &digest(&bytes), &Limits::default(), &nested).unwrap();
    let err = verify_and_unpack(&bytes, &digest(&bytes), &Limits::default(), &nested).unwrap_err();
    assert_eq!(err.reason(), "io");
    assert!(err.to_string().contains("already exists"), "{err}");
}
