//! The operator verbs through the binary, without a server: local refusals come before any
//! connection, a closed port is exit 5 naming the URL, usage errors are exit 2.

use std::path::Path;
use std::process::{Command, Output};

use super::{repo, text};

/// Run `sluice` in `cwd` with no SLUICE_* variables from the caller's environment.
fn sluice_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(cwd)
        .env_remove("SLUICE_SERVER")
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_TOKEN_FILE")
        .output()
        .expect("run sluice")
}

/// A URL nothing listens on.
fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

fn example(p: &str) -> String {
    repo().join(p).to_str().unwrap().to_string()
}

#[test]
fn release_create_refuses_locally_with_exit_3_before_connecting() {
    let cwd = tempfile::tempdir().unwrap();
    // No token anywhere and nothing listening: a refusal must come from the local validators.
    let o = sluice_in(
        cwd.path(),
        &[
            "release",
            "create",
            "edge-rules",
            &example("examples/releases/edge-rules-doubled"),
            "-f",
            &example("examples/sluice.yaml"),
            "--server",
            &closed_url(),
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    assert!(out.is_empty(), "no release id on stdout: {out}");
    assert!(err.contains("REJECTED"), "{err}");
    assert!(err.contains("nothing was uploaded"), "{err}");
    for v in ["max_items", "unique", "features.json"] {
        assert!(err.contains(v), "{v} missing from:\n{err}");
    }

    let o = sluice_in(
        cwd.path(),
        &[
            "release",
            "create",
            "edge-rules",
            &example("examples/releases/edge-rules-doubled"),
            "-f",
            &example("examples/sluice.yaml"),
            "--json",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(v["report"]["violations"].as_array().is_some_and(|a| a.len() >= 2), "{v}");
}

#[test]
fn a_closed_port_is_exit_5_naming_the_url() {
    let cwd = tempfile::tempdir().unwrap();
    let url = closed_url();
    let o = sluice_in(cwd.path(), &["targets", "--server", &url, "--token", "t0k"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}{err}");
    assert!(err.contains(&url), "{err}");
    assert!(out.is_empty(), "{out}");
}

#[test]
fn a_missing_token_is_exit_2_naming_every_source() {
    let cwd = tempfile::tempdir().unwrap();
    let o = sluice_in(cwd.path(), &["targets", "--server", &closed_url()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for want in ["--token", "SLUICE_TOKEN", "--token-file", "SLUICE_TOKEN_FILE", "sluice-data/admin.token"] {
        assert!(err.contains(want), "{want:?} missing from {err}");
    }
}

#[test]
fn the_token_comes_from_the_environment_and_the_default_file() {
    let cwd = tempfile::tempdir().unwrap();
    let url = closed_url();
    // SLUICE_TOKEN is enough to get as far as connecting (exit 5, not 2).
    let o = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["targets", "--server", &url])
        .current_dir(cwd.path())
        .env_remove("SLUICE_TOKEN_FILE")
        .env("SLUICE_TOKEN", "t0k")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", text(&o).1);
    // So is ./sluice-data/admin.token.
    std::fs::create_dir(cwd.path().join("sluice-data")).unwrap();
    std::fs::write(cwd.path().join("sluice-data/admin.token"), "t0k\n").unwrap();
    let o = sluice_in(cwd.path(), &["targets", "--server", &url]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o).1);
    // A named token file that does not exist is a configuration error, even with the default.
    let o = sluice_in(cwd.path(), &["targets", "--server", &url, "--token-file", "nope.token"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("nope.token"), "{err}");
}

#[test]
fn usage_errors_are_exit_2_before_connecting() {
    let cwd = tempfile::tempdir().unwrap();
    let url = closed_url();
    let cases: &[&[&str]] = &[
        &["rollout", "rollback", "r-1", "--token", "t"],
        &["rollout", "start", "edge-rules", "3fa9c2", "--emergency", "--token", "t"],
        &["enrollment-token", "--count", "0", "--token", "t"],
        &["enrollment-token", "--ttl", "soon", "--token", "t"],
        &["events", "--limit", "0", "--token", "t"],
        &["targets", "--server", "127.0.0.1:7070", "--token", "t"],
        &["apply", "-f", "does-not-exist.yaml", "--token", "t"],
    ];
    for args in cases {
        let mut all: Vec<&str> = args.to_vec();
        if !args.contains(&"--server") {
            all.extend(["--server", &url]);
        }
        let o = sluice_in(cwd.path(), &all);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {out}{err}");
        assert!(err.contains("error"), "{args:?}: {err}");
    }
}
