use super::*;

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
fn manifest_lists_every_file_in_order() {
    let m = manifest_of(&files(&[("b", "22"), ("a", "1")]), &Modes::new()).unwrap();
    let paths: Vec<_> = m.files.iter().map(|f| (f.path.as_str(), f.size)).collect();
    assert_eq!(paths, [("a", 1), ("b", 2)]);
    assert_eq!(m.format, MANIFEST_FORMAT);
}

#[test]
fn modes_are_written_only_for_executables() {
    let modes = Modes::from([("run.sh".to_string(), Mode::Executable), ("conf".to_string(), Mode::Regular)]);
    let m = manifest_of(&files(&[("run.sh", "#!/bin/sh\n"), ("conf", "x")]), &modes).unwrap();
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["files"][0].get("mode"), None, "`conf` is regular: no mode written");
    assert_eq!(json["files"][1]["mode"], "0755");
    assert_eq!(m.modes(), Modes::from([("run.sh".to_string(), Mode::Executable)]));
    let err = manifest_of(&files(&[("a", "")]), &Modes::from([("b".to_string(), Mode::Executable)])).unwrap_err();
    assert!(matches!(err, BundleError::ModeWithoutFile { .. }), "{err}");
}

#[test]
fn manifests_without_modes_still_parse() {
    let sha = "0".repeat(64);
    let parsed = parse(&manifest_json(&[("a", 1, &sha)]), &Limits::default()).unwrap();
    assert_eq!(parsed["a"].mode, Mode::Regular);
}

#[test]
fn modes_are_normalised_or_refused() {
    let sha = "0".repeat(64);
    let with_mode = |mode: &str| {
        let json = serde_json::json!({
            "format": MANIFEST_FORMAT,
            "files": [{ "path": "a", "size": 1, "sha256": sha, "mode": mode }],
        });
        parse(&serde_json::to_vec(&json).unwrap(), &Limits::default())
    };
    assert_eq!(with_mode("0755").unwrap()["a"].mode, Mode::Executable);
    assert_eq!(with_mode("0666").unwrap()["a"].mode, Mode::Regular, "never world-writable");
    assert_eq!(with_mode("4777").unwrap()["a"].mode, Mode::Executable, "never setuid");
    let err = with_mode("rwxr-xr-x").unwrap_err();
    assert_eq!(err.reason(), "manifest", "{err}");
    assert!(err.to_string().contains("octal"), "{err}");
}

#[test]
fn manifest_checks_refuse_before_any_file_is_read() {
    let sha = "0".repeat(64);
    let limits = Limits { max_file_bytes: 10, max_total_bytes: 15, max_entries: 3, ..Limits::default() };
    let check = |json: Vec<u8>, reason: &str, needle: &str| {
        let err = parse(&json, &limits).unwrap_err();
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
    assert_eq!(parse(&manifest_json(&[("a", 1, &sha)]), &limits).unwrap().len(), 1);
}
