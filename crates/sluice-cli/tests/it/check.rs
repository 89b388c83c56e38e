//! `sluice check`: the spec and a candidate release, offline.

use super::{sluice, text};

#[test]
fn the_example_spec_checks_ok() {
    let o = sluice(&["check", "-f", "examples/sluice.yaml"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("ok (1 services, 1 pipelines)"), "{out}");
    assert!(out.contains("fleet checks not run offline"), "{out}");
    let o = sluice(&["check", "-f", "examples/sluice.yaml", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).expect("json");
    assert!(v["fleet_checks"].as_str().is_some_and(|s| s.contains("sluice apply")), "{v}");
}

#[test]
fn a_good_release_passes_and_the_doubled_feature_file_is_rejected() {
    let o = sluice(&["check", "-f", "examples/sluice.yaml", "edge-rules", "examples/releases/edge-rules-v1"]);
    let (out, err) = text(&o);
    // The consumer `check` hook is an agent-side command; the spec's validators all pass.
    assert_eq!(o.status.code(), Some(0), "{out}{err}");

    let o = sluice(&[
        "check",
        "-f",
        "examples/sluice.yaml",
        "edge-rules",
        "examples/releases/edge-rules-doubled",
        "--parent",
        "examples/releases/edge-rules-v1",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    assert!(out.contains("REJECTED"), "{out}");
    for v in ["max_items", "unique", "max_growth"] {
        assert!(out.contains(v), "{v} missing from:\n{out}");
    }
    assert!(out.contains("features.json"), "{out}");

    let o = sluice(&[
        "check",
        "-f",
        "examples/sluice.yaml",
        "edge-rules",
        "examples/releases/edge-rules-doubled",
        "--json",
    ]);
    let (out, _) = text(&o);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["ok"], false);
    assert!(v["release"]["report"]["violations"].as_array().is_some_and(|a| a.len() >= 2));
}

#[test]
fn a_bad_spec_exits_2_naming_file_line_and_field() {
    let dir = tempdir();
    let f = dir.join("bad.yaml");
    std::fs::write(&f, "services:\n  edge:\n    pipeline: nope\npipelines: {}\n").expect("write");
    let o = sluice(&["check", "-f", f.to_str().expect("utf8")]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.yaml:3:5: at `services.edge.pipeline`"), "{err}");

    let o = sluice(&["check", "-f", "does/not/exist.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    let o = sluice(&["check", "--bogus"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_link_leaving_the_release_is_refused() {
    let dir = tempdir();
    let rel = dir.join("rel");
    std::fs::create_dir_all(&rel).expect("mkdir");
    std::fs::write(rel.join("rules.json"), "{\"rules\": []}").expect("write");
    std::os::unix::fs::symlink("/etc/passwd", rel.join("features.json")).expect("symlink");
    let o = sluice(&["check", "-f", "examples/sluice.yaml", "edge-rules", rel.to_str().expect("utf8")]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("a link that leaves the release directory"), "{err}");
}

fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "sluice-cli-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tempdir");
    d
}
