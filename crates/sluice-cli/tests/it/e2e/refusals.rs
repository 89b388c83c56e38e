//! Requests the server must refuse, changing nothing: no token or a wrong one (401), an
//! agent's credential on an operator route (403), and a second rollout of a service while one
//! is active (409, through the real `sluice` binary, naming the rollout in the way).

use std::process::Command;

use sluice_api::{Enroll, NewEnrollmentTokens, StartRollout};
use sluice_core::release::TargetId;

use super::restart::SPEC;
use super::rig::{BIN, Rig};

async fn event_count(rig: &Rig) -> usize {
    rig.admin().events(0, 10_000, None).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_wrong_token_and_wrong_kind_of_token_are_refused_and_change_nothing() {
    let mut rig = Rig::start(SPEC).await;
    rig.add_agent("dev-1", &[("env", "dev")], &[("files", "")]).await;
    rig.wait_fleet_ready().await;
    let v1 = rig.release("files", &[("app.conf", "v1\n")]).await;
    let before = event_count(&rig).await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", rig.base_url());
    let start = serde_json::json!({"service": "files", "release": v1.0});

    // No token.
    let resp = http.post(url("/v1/rollouts")).json(&start).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized", "{body}");
    // A wrong token.
    let resp = http.post(url("/v1/rollouts")).bearer_auth("sluice_admin_wrong").json(&start).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    // An agent's own credential on an operator route.
    let token = rig.admin().enrollment_tokens(&NewEnrollmentTokens { count: 1, ttl_ms: None }).await.unwrap().tokens;
    let agent = rig
        .admin()
        .with_token(None)
        .enroll(&Enroll {
            enrollment_token: token[0].clone(),
            target: TargetId("intruder".into()),
            labels: [("env".to_string(), "lab".to_string())].into(),
            facts: Default::default(),
        })
        .await
        .unwrap();
    let resp = http.post(url("/v1/rollouts")).bearer_auth(&agent.credential).json(&start).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "forbidden", "{body}");
    // The admin token on an agent route.
    let admin_token = std::fs::read_to_string(rig.data_dir().join("admin.token")).unwrap();
    let resp = http.get(url("/v1/agent/desired")).bearer_auth(admin_token.trim()).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    // The CLI with a wrong token: exit 2, the server's code in the message.
    let out = Command::new(BIN)
        .args(["targets", "--server", &rig.base_url(), "--token", "nope"])
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_TOKEN_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthorized"), "{out:?}");

    // Nothing changed: no rollout, and the only new events are the enrollment's.
    assert!(rig.admin().rollouts(false).await.unwrap().is_empty());
    let events = rig.admin().events(0, 10_000, None).await.unwrap();
    assert!(
        events[before..].iter().all(|e| matches!(
            e.kind.as_str(),
            "enrollment_token_created" | "target_registered" | "agent_credential_set" | "target_enrolled"
        )),
        "{:#?}",
        &events[before..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_rollout_of_a_service_waits_behind_the_first_or_is_a_clear_conflict() {
    let mut rig = Rig::start(SPEC).await;
    rig.add_agent("dev-1", &[("env", "dev")], &[("files", "")]).await;
    rig.add_agent("prod-1", &[("env", "prod")], &[("files", "")]).await;
    rig.wait_fleet_ready().await;
    let v1 = rig.release("files", &[("app.conf", "v1\n")]).await;
    let v2 = rig.release("files", &[("app.conf", "v2\n")]).await;
    let first = rig.start_rollout("files", &v1).await;
    let token = std::fs::read_to_string(rig.data_dir().join("admin.token")).unwrap();
    let start = |extra: &[&str]| {
        Command::new(BIN)
            .args(["rollout", "start", "files", &v2.0, "--server", &rig.base_url(), "--token", token.trim()])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = start(&["--no-queue"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("conflict") && stderr.contains(&first.id), "{stderr}");
    // By default it waits behind the first instead, and says so.
    let out = start(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("queued files release") && stderr.contains(&format!("behind rollout {}", first.id)),
        "{stderr}"
    );
    let services = rig.admin().services().await.unwrap();
    assert_eq!(
        services.iter().find(|s| s.service == "files").and_then(|s| s.queued.as_ref()).map(|q| &q.release),
        Some(&v2)
    );
    // Through the API too, and still only the first rollout exists.
    let again = rig
        .admin()
        .start_rollout(&StartRollout {
            service: "files".into(),
            release: v2.0.clone(),
            pipeline: None,
            emergency: false,
            reason: None,
            seed: None,
            queue: false,
            ..StartRollout::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some(sluice_api::ErrorCode::Conflict));
    assert_eq!(rig.admin().rollouts(false).await.unwrap().len(), 1);
}
