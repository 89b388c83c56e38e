//! Property tests: whatever the bytes, reading a bundle never panics, the in-memory and the
//! on-disk readers agree, and unpacking never writes anything anywhere but inside its
//! destination.

use std::fs;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use sluice_bundle::{BundleCompression, Limits, Modes, pack_with};
use tar::EntryType;

use crate::support::{RawTar, everything_under, files, gzip, read_both_ways};

/// Reads `bytes` in memory and unpacks them (with their true digest, so the archive itself is
/// what is tested), and checks that both agree, that a success wrote exactly the returned
/// files into the destination, and that a refusal wrote nothing at all.
fn check_contained(bytes: &[u8]) {
    let limits =
        Limits { max_bundle_bytes: 1 << 20, max_total_bytes: 1 << 16, max_file_bytes: 1 << 14, max_entries: 64 };
    // A refusal was already checked to leave the disk untouched.
    let Ok((bundle, scratch)) = read_both_ways(bytes, &limits) else { return };
    for path in everything_under(scratch.root.path()) {
        assert!(
            ["svc", "svc/releases", "svc/releases/r1"].contains(&path.as_str()) || path.starts_with("svc/releases/r1/"),
            "{path} is outside the destination"
        );
    }
    let dest = scratch.dest();
    let regular = everything_under(&dest).iter().filter(|p| dest.join(p).is_file()).count();
    assert_eq!(regular, bundle.files.len());
    for (path, content) in &bundle.files {
        assert_eq!(&fs::read(dest.join(path)).unwrap(), content);
    }
}

fn name() -> impl Strategy<Value = String> {
    let segment = prop::sample::select(vec!["a", "b", "..", ".", "", "evil", "sluice-manifest.json"]);
    (any::<bool>(), vec(segment, 1..4)).prop_map(|(absolute, segments)| {
        let joined = segments.join("/");
        if absolute { format!("/tmp/{joined}") } else { joined }
    })
}

fn kind() -> impl Strategy<Value = EntryType> {
    prop::sample::select(vec![
        EntryType::Regular,
        EntryType::Regular,
        EntryType::Directory,
        EntryType::Symlink,
        EntryType::Link,
        EntryType::Fifo,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_or_escape(bytes in vec(any::<u8>(), 0..4096), compressed in any::<bool>()) {
        let bytes = if compressed { gzip(&bytes) } else { bytes };
        check_contained(&bytes);
    }

    #[test]
    fn hostile_entries_never_escape(
        entries in vec((name(), kind(), vec(any::<u8>(), 0..64)), 0..6),
        listed in any::<bool>(),
        compressed in any::<bool>(),
    ) {
        // The manifest lists the regular entries (as an attacker who knows the format would),
        // or nothing.
        let manifest: Vec<(&str, &[u8])> = entries
            .iter()
            .filter(|(_, kind, _)| listed && *kind == EntryType::Regular)
            .map(|(name, _, data)| (name.as_str(), data.as_slice()))
            .collect();
        let mut tar = RawTar::new().manifest(&manifest);
        for (name, kind, data) in &entries {
            let data: &[u8] = if *kind == EntryType::Regular { data } else { b"" };
            tar = tar.entry(name.as_bytes(), *kind, data.len() as u64, data, b"../../../../tmp/evil");
        }
        let bytes = tar.finish();
        check_contained(&if compressed { gzip(&bytes) } else { bytes });
    }

    #[test]
    fn mutated_bundles_never_panic_or_escape(flips in vec((any::<Index>(), any::<u8>()), 1..8)) {
        let release = files(&[("a.json", "{\"features\":[]}"), ("conf/b.conf", "b"), ("c", "")]);
        let mut bytes = pack_with(&release, &Modes::new(), BundleCompression::None).unwrap();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        check_contained(&bytes);
    }
}
