//! Each kind of client error maps to its documented exit code, and says what happened.

use serde_json::json;
use sluice_api::{ApiError, ClientError, ErrorCode};
use sluice_cli::exit;
use sluice_cli::failure::{describe, exit_code};

fn api(code: ErrorCode) -> ClientError {
    ClientError::Api(ApiError::new(code, "nope"))
}

#[test]
fn every_client_error_kind_has_its_exit_code() {
    for (code, want) in [
        (ErrorCode::BadRequest, exit::USAGE),
        (ErrorCode::Unauthorized, exit::USAGE),
        (ErrorCode::Forbidden, exit::USAGE),
        (ErrorCode::NotFound, exit::USAGE),
        (ErrorCode::Conflict, exit::USAGE),
        (ErrorCode::PayloadTooLarge, exit::USAGE),
        (ErrorCode::ValidationFailed, exit::REJECTED),
        (ErrorCode::Unavailable, exit::UNREACHABLE),
        (ErrorCode::Internal, exit::INTERNAL),
    ] {
        assert_eq!(exit_code(&api(code)), want, "{code}");
    }
    assert_eq!(ErrorCode::ALL.len(), 9, "a new error code needs an exit code here");
    let unreachable =
        ClientError::Unreachable { url: "http://127.0.0.1:9/v1/targets".into(), message: "refused".into() };
    assert_eq!(exit_code(&unreachable), exit::UNREACHABLE);
    assert!(describe(&unreachable).contains("http://127.0.0.1:9/v1/targets"));
    let bad = ClientError::BadResponse { url: "http://x/v1/targets".into(), message: "expected value".into() };
    assert_eq!(exit_code(&bad), exit::INTERNAL);
}

#[test]
fn refusals_print_the_code_message_and_located_problems() {
    let e = ClientError::Api(
        ApiError::new(ErrorCode::BadRequest, "the spec has 2 problems").with_details(json!({"problems": [
            {"file": "sluice.yaml", "line": 3, "column": 5, "path": "services.edge.pipeline", "message": "unknown pipeline `nope`"},
            "waves must grow to 100%"
        ]})),
    );
    let text = describe(&e);
    assert!(text.contains("bad_request"), "{text}");
    assert!(text.contains("the spec has 2 problems"), "{text}");
    assert!(text.contains("sluice.yaml:3:5: at `services.edge.pipeline`: unknown pipeline `nope`"), "{text}");
    assert!(text.contains("waves must grow to 100%"), "{text}");
}

#[test]
fn validation_refusals_list_each_violation() {
    let e = ClientError::Api(
        ApiError::new(ErrorCode::ValidationFailed, "release rejected by 1 validator").with_details(json!({
            "violations": [{"validator": "max_items", "index": 2, "file": "features.json", "path": "/features",
                            "message": "312 items at /features, limit 200"}],
            "checks": [],
            "files_checked": 3
        })),
    );
    let text = describe(&e);
    assert!(text.contains("validation_failed"), "{text}");
    assert!(
        text.contains("max_items (validator #2) features.json:/features: 312 items at /features, limit 200"),
        "{text}"
    );
    assert_eq!(exit_code(&e), exit::REJECTED);
}
