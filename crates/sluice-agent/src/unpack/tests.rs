use super::*;
use crate::bundle::{BundleCompression, pack_with};

fn files(list: &[(&str, &str)]) -> ReleaseFiles {
    list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
}

fn manifest_json(entries: &[(&str, u64, &str)]) -> Vec<u8> {
    let files: Vec<_> = entries
        .iter()
        .map(|(path, size, sha)| serde_json::json!({ "path": path, "size": size, "sha256": sha }))
        .collect();
    serde_json::to_vec(&serde_json::json!({ "format": MANIFEST_FORMAT, "files": files })).unwrap()
}

#[test]
fn unpacks_plain_and_gzip_bundles_with_nested_directories() {
    let f = files(&[("a.json", "{}"), ("conf/sub/x.conf", "x"), ("conf/y", "")]);
    for compression in [BundleCompression::None, BundleCompression::Gzip] {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("releases").join("r");
        let bytes = pack_with(&f, compression).unwrap();
        let got = verify_and_unpack(&bytes, &digest(&bytes), &Limits::default(), &dest).unwrap();
        assert_eq!(got, f);
        assert_eq!(fs::read(dest.join("conf/sub/x.conf")).unwrap(), b"x");
        assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1, "no temporary left beside dest");
    }
}

#[test]
fn refuses_an_existing_dest() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pack_with(&files(&[("a", "1")]), BundleCompression::None).unwrap();
    let err = verify_and_unpack(&bytes, &digest(&bytes), &Limits::default(), dir.path()).unwrap_err();
    assert!(matches!(err, BundleError::DestExists { .. }), "{err}");
}

#[test]
fn manifest_checks_refuse_before_any_file_is_read() {
    let sha = "0".repeat(64);
    let limits = Limits { max_file_bytes: 10, max_total_bytes: 15, max_entries: 3, ..Limits::default() };
    let check = |json: Vec<u8>, reason: &str, needle: &str| {
        let err = parse_manifest(&json, &limits).unwrap_err();
        assert_eq!(err.reason(), reason, "{err}");
        assert!(err.to_string().contains(needle), "{err} should contain {needle:?}");
    };
    check(b"[".to_vec(), "manifest", "invalid json");
    check(b"{\"format\":\"other\",\"files\":[]}".to_vec(), "manifest", "format");
    check(manifest_json(&[("../x", 1, &sha)]), "unsafe_path", "`../x`");
    check(manifest_json(&[("a", 11, &sha)]), "too_large", "`a`");
    check(manifest_json(&[("a", 8, &sha), ("b", 8, &sha)]), "too_large", "`b`");
    check(manifest_json(&[("a", 1, &sha), ("a", 1, &sha)]), "unsafe_path", "twice");
    check(manifest_json(&[("a", 1, "abc")]), "manifest", "sha256 of `a`");
    check(manifest_json(&[("a", 1, &sha), ("b", 1, &sha), ("c", 1, &sha)]), "too_large", "entries");
    check(manifest_json(&[(MANIFEST_NAME, 1, &sha)]), "unsafe_path", "reserved");
    assert_eq!(parse_manifest(&manifest_json(&[("a", 1, &sha)]), &limits).unwrap().len(), 1);
}

#[test]
fn counted_reader_fails_past_its_cap() {
    let read = Rc::new(Cell::new(0));
    let mut counted = Counted { inner: &[0u8; 100][..], read: Rc::clone(&read), cap: 50 };
    let mut out = Vec::new();
    assert!(counted.read_to_end(&mut out).is_err());
    assert!(read.get() > 50);
}

#[test]
fn names_entry_kinds() {
    assert_eq!(kind_name(EntryType::Fifo), "fifo");
    assert_eq!(kind_name(EntryType::Char), "character device");
    assert_eq!(kind_name(EntryType::new(b'Q')), "type 'Q'");
}
