//! Operators' named tokens through the real `sluice` binary against a real server: the secret
//! printed once and alone on stdout, the list without secrets, a viewer refused a start with a
//! message naming the role it lacks, a scoped deployer's start recorded under its name, and a
//! revoked token refused on its very next command.

use std::process::{Command, Output};

use super::restart::SPEC;
use super::rig::{BIN, Rig};

fn sluice(rig: &Rig, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--server", &rig.base_url(), "--token", token])
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_TOKEN_FILE")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_made_listed_used_and_revoked_with_the_cli() {
    let mut rig = Rig::start(SPEC).await;
    rig.add_agent("dev-1", &[("env", "dev")], &[("files", "")]).await;
    rig.add_agent("prod-1", &[("env", "prod")], &[("files", "")]).await;
    rig.wait_fleet_ready().await;
    let v1 = rig.release("files", &[("app.conf", "v1\n")]).await;
    let admin = std::fs::read_to_string(rig.data_dir().join("admin.token")).unwrap().trim().to_string();

    let out = sluice(&rig, &admin, &["token", "create", "vera", "--role", "viewer"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let vera = text(&out.stdout).trim().to_string();
    assert!(
        vera.starts_with("sluice_api_") && !vera.contains(char::is_whitespace),
        "stdout is the secret alone: {out:?}"
    );
    assert!(text(&out.stderr).contains("shown only now"), "{out:?}");
    let out = sluice(&rig, &admin, &["token", "create", "dora", "--role", "deployer", "--service", "files"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let dora = text(&out.stdout).trim().to_string();

    // Bad input: a clear usage error, nothing made.
    let out = sluice(&rig, &admin, &["token", "create", "eve", "--role", "root"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("unknown role \"root\""), "{out:?}");

    let out = sluice(&rig, &admin, &["token", "list"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let list = text(&out.stdout);
    assert!(list.contains("vera") && list.contains("every service") && list.contains("dora") && list.contains("files"));
    assert!(!list.contains("sluice_api_") && !list.contains("| eve "), "{list}");

    // A viewer may look but not start; the message says what it lacks.
    let out = sluice(&rig, &vera, &["rollout", "start", "files", &v1.0]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("needs the deployer or admin role"), "{out:?}");
    assert_eq!(sluice(&rig, &vera, &["service", "list"]).status.code(), Some(0));
    assert!(rig.admin().rollouts(false).await.unwrap().is_empty(), "nothing started");

    // The scoped deployer starts it; the start is recorded under its name.
    let out = sluice(&rig, &dora, &["rollout", "start", "files", &v1.0]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let events = rig.admin().events(0, 10_000, None).await.unwrap();
    let started = events.iter().find(|e| e.kind == "started").expect("a started event");
    assert_eq!(started.actor, "dora");

    // Revoked: its next command is refused.
    let out = sluice(&rig, &admin, &["token", "revoke", "dora", "--reason", "left the team"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = sluice(&rig, &dora, &["service", "list"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("unauthorized"), "{out:?}");
}
