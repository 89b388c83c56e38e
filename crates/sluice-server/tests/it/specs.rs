//! Applying specs: YAML errors and problems are 400s that say where; unchanged text is not
//! stored again.

use sluice_api::{ApplySpec, ErrorCode};

use crate::harness::{SPEC, all_events, start_in};

#[tokio::test]
async fn a_yaml_error_is_400_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start_in(dir.path()).await;
    let text = "version: 1\nservices:\n  web:\n    pipelin: default\n";
    let err = admin
        .apply_spec(&ApplySpec { text: text.into(), file: Some("edge.yaml".into()), force: false })
        .await
        .unwrap_err();
    let sluice_api::ClientError::Api(e) = err else { panic!("expected an API error") };
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(e.message.starts_with("edge.yaml:4:"), "{}", e.message);
    assert!(e.message.contains("pipelin"), "{}", e.message);
    assert_eq!(admin.current_spec().await.unwrap_err().code(), Some(ErrorCode::NotFound));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn problems_are_400_with_every_problem_in_details() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start_in(dir.path()).await;
    let text = "version: 1\nservices:\n  web:\n    pipeline: nope\n  api:\n    pipeline: also-nope\n";
    let err = admin.apply_spec(&ApplySpec { text: text.into(), file: None, force: false }).await.unwrap_err();
    let sluice_api::ClientError::Api(e) = err else { panic!("expected an API error") };
    assert_eq!(e.code, ErrorCode::BadRequest);
    let problems = e.details.unwrap()["problems"].as_array().unwrap().clone();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].as_str().unwrap().starts_with("sluice.yaml:"), "{problems:?}");
    assert!(e.message.contains("\"nope\""), "{}", e.message);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_same_text_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start_in(dir.path()).await;
    let first = admin.apply_spec(&ApplySpec { text: SPEC.into(), file: None, force: false }).await.unwrap();
    assert!(first.changed);
    assert_eq!(first.version, 1);
    assert_eq!(first.services, vec!["web".to_string()]);
    let events = all_events(&admin).await;
    let again = admin.apply_spec(&ApplySpec { text: SPEC.into(), file: None, force: false }).await.unwrap();
    assert!(!again.changed);
    assert_eq!(again.version, 1);
    assert_eq!(all_events(&admin).await, events);
    let other = admin
        .apply_spec(&ApplySpec { text: SPEC.replace("max: 3", "max: 4"), file: None, force: false })
        .await
        .unwrap();
    assert_eq!((other.version, other.changed), (2, true));
    assert_eq!(admin.current_spec().await.unwrap().version, 2);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_json_is_400_with_the_serde_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start_in(dir.path()).await;
    let token = std::fs::read_to_string(server.admin_token_path()).unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/specs", admin.base()))
        .bearer_auth(token.trim())
        .header("content-type", "application/json")
        .body("{\"text\": 12}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let e: sluice_api::ApiError = resp.json().await.unwrap();
    assert!(e.message.contains("invalid type"), "{}", e.message);
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/specs", admin.base()))
        .bearer_auth(token.trim())
        .body(vec![b' '; sluice_api::MAX_JSON_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    server.shutdown().await.unwrap();
}
