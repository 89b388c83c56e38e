//! The operator verbs through the binary against a mock server: what is sent, what is printed
//! where, and the exit codes of refusals and of rollouts that end badly.

use sluice_core::engine::PhaseKind;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use sluice_api::{ApiError, ErrorCode, RolloutView};
use sluice_core::engine::Outcome;

use super::fixtures::{CANDIDATE, rollout_view};
use super::mock_server::serve;
use super::{repo, text};

fn sluice(url: &str, args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(cwd.path())
        .env("SLUICE_SERVER", url)
        .env("SLUICE_TOKEN", "admin-t0k")
        .env_remove("SLUICE_TOKEN_FILE")
        .output()
        .unwrap()
}

fn example(p: &str) -> String {
    repo().join(p).to_str().unwrap().to_string()
}

fn error(code: ErrorCode, msg: &str, details: serde_json::Value) -> (u16, String) {
    (code.http_status(), serde_json::to_string(&ApiError::new(code, msg).with_details(details)).unwrap())
}

fn ended(mut v: RolloutView, outcome: Outcome, phase: PhaseKind) -> RolloutView {
    v.outcome = Some(outcome);
    v.phase = phase;
    v.bake_ends_at = None;
    v
}

#[test]
fn apply_sends_text_and_file_name_and_a_refusal_prints_located_problems_exit_2() {
    let ok = serve(|_| {
        let warning = "sluice.yaml:52:11: at `pipelines.default.stages[3].waves[0]`: the first wave is small";
        (
            200,
            json!({"version": 3, "changed": true, "services": ["edge-rules"], "pipelines": ["default"],
                   "warnings": [warning], "report_interval_ms": 5000, "targets": 48})
            .to_string(),
        )
    });
    let spec = example("examples/sluice.yaml");
    let o = sluice(&ok.url, &["apply", "-f", &spec]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("applied as version 3") && out.contains("edge-rules") && out.contains("default"), "{out}");
    assert!(out.contains("checked against 48 enrolled target(s); the server's report interval is 5s"), "{out}");
    assert!(err.contains("warning: sluice.yaml:52:11: at `pipelines.default.stages[3].waves[0]`"), "{err}");
    let o = sluice(&ok.url, &["apply", "-f", &spec, "--force"]);
    assert_eq!(o.status.code(), Some(0));
    let seen = ok.seen.lock().unwrap().clone();
    assert_eq!((seen[0].method.as_str(), seen[0].target.as_str()), ("POST", "/v1/specs"));
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer admin-t0k"));
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body["file"], spec.as_str());
    assert_eq!(body["force"], false);
    assert!(body["text"].as_str().unwrap().contains("edge-rules"));
    let forced: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(forced["force"], true);

    let refused = serve(|_| {
        error(
            ErrorCode::BadRequest,
            "the spec has 1 problem",
            json!([{"file": "sluice.yaml", "line": 3, "column": 5, "path": "services.edge.pipeline", "message": "unknown pipeline"}]),
        )
    });
    let o = sluice(&refused.url, &["apply", "-f", &spec]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("bad_request") && err.contains("the spec has 1 problem"), "{err}");
    assert!(err.contains("sluice.yaml:3:5: at `services.edge.pipeline`: unknown pipeline"), "{err}");
}

#[test]
fn release_create_prints_only_the_id_on_stdout_and_a_server_rejection_is_exit_3() {
    let created = serve(|req| {
        assert!(req.target.starts_with("/v1/services/edge-rules/releases?message="), "{}", req.target);
        let release = json!({"id": CANDIDATE, "service": "edge-rules", "parent": null, "created_at": 0, "created_by": "admin",
                             "message": "v1", "size": req.body.len(), "files": ["features.json", "flags.json", "rules.json"]});
        (
            200,
            json!({"release": release, "created": true,
                     "validation": {"violations": [], "checks": [], "files_checked": 3}})
            .to_string(),
        )
    });
    let dir = example("examples/releases/edge-rules-v1");
    let spec = example("examples/sluice.yaml");
    let o = sluice(&created.url, &["release", "create", "edge-rules", &dir, "-m", "v1", "-f", &spec]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(out, format!("{CANDIDATE}\n"));
    assert!(err.contains("created release 3fa9c2e1b0d4 of edge-rules"), "{err}");
    let seen = created.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    // The bundle: its digest is the release id the server will compute.
    assert_eq!(sluice_bundle::digest(&seen[0].body).len(), "sha256:".len() + 64);

    let rejected = serve(|_| {
        error(
            ErrorCode::ValidationFailed,
            "release rejected",
            json!({"violations": [{"validator": "max_growth", "index": 4, "file": "features.json", "path": "/features",
                                   "message": "grew 2.1x, limit 1.5x"}], "checks": [], "files_checked": 3}),
        )
    });
    let o = sluice(&rejected.url, &["release", "create", "edge-rules", &dir]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("max_growth") && err.contains("features.json") && err.contains("grew 2.1x, limit 1.5x"),
        "{err}"
    );
}

#[test]
fn status_watch_follows_until_the_end_and_a_rollback_is_exit_4() {
    let polls = Arc::new(AtomicUsize::new(0));
    let n = Arc::clone(&polls);
    let server = serve(move |req| {
        assert_eq!(req.target, "/v1/rollouts/r-7");
        let v = rollout_view();
        let v =
            if n.fetch_add(1, Ordering::SeqCst) < 2 { v } else { ended(v, Outcome::RolledBack, PhaseKind::RolledBack) };
        (200, serde_json::to_string(&v).unwrap())
    });
    let o = sluice(&server.url, &["rollout", "status", "r-7", "--watch"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(4), "{out}{err}");
    assert!(polls.load(Ordering::SeqCst) >= 3);
    // Not a terminal: one line per change on stderr, the final table on stdout.
    assert!(err.contains("r-7 edge-rules: baking | prod wave 2/3 (5%) 2/10 on candidate"), "{err}");
    assert!(err.contains("r-7 edge-rules: rolled back"), "{err}");
    assert_eq!(err.matches("edge-rules: baking").count(), 1, "unchanged polls print nothing:\n{err}");
    assert!(err.contains("ended rolled back"), "{err}");
    assert!(out.contains("phase: rolled back") && out.contains("http-5xx"), "{out}");
}

#[test]
fn start_wait_prints_the_id_and_exits_0_when_completed() {
    let polls = Arc::new(AtomicUsize::new(0));
    let n = Arc::clone(&polls);
    let server = serve(move |req| {
        let v = rollout_view();
        match (req.method.as_str(), req.target.as_str()) {
            ("POST", "/v1/rollouts") => {
                let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
                assert_eq!(body["service"], "edge-rules");
                assert_eq!(body["release"], "3fa9c2");
                (200, serde_json::to_string(&v).unwrap())
            }
            ("GET", "/v1/rollouts/r-7") => {
                let v = if n.fetch_add(1, Ordering::SeqCst) < 1 {
                    v
                } else {
                    ended(v, Outcome::Completed, PhaseKind::Completed)
                };
                (200, serde_json::to_string(&v).unwrap())
            }
            other => panic!("unexpected {other:?}"),
        }
    });
    let o = sluice(&server.url, &["rollout", "start", "edge-rules", "3fa9c2", "--wait"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(out, "r-7\n");
    assert!(err.contains("phase: completed"), "{err}");

    let o = sluice(&server.url, &["rollout", "status", "r-7", "--json"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["release"], CANDIDATE, "full id in JSON");
}

#[test]
fn commands_send_their_reason_and_a_conflict_is_exit_2_with_the_code() {
    let server = serve(|req| match req.target.as_str() {
        "/v1/rollouts/r-7/rollback" => {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            assert_eq!(body["reason"], "bad bot scores");
            let v = ended(rollout_view(), Outcome::RolledBack, PhaseKind::RolledBack);
            (200, serde_json::to_string(&v).unwrap())
        }
        _ => error(ErrorCode::Conflict, "rollout r-7 is not awaiting approval", serde_json::Value::Null),
    });
    let o = sluice(&server.url, &["rollout", "rollback", "r-7", "--reason", "bad bot scores"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("rollout r-7: rollback sent; phase rolled back"), "{out}");

    let o = sluice(&server.url, &["approve", "r-7"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("conflict") && err.contains("not awaiting approval"), "{err}");
    let o = sluice(&server.url, &["approve", "r-7", "--json"]);
    let (out, _) = text(&o);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["code"], "conflict");
}

#[test]
fn enrollment_tokens_print_one_per_line_and_events_ask_with_their_filters() {
    let server = serve(|req| match req.target.as_str() {
        "/v1/enrollment-tokens" => {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            assert_eq!(body["count"], 2);
            assert_eq!(body["ttl_ms"], 3_600_000);
            (200, json!({"tokens": ["et-1", "et-2"]}).to_string())
        }
        t if t.starts_with("/v1/events") => {
            assert_eq!(t, "/v1/events?after=5&limit=10&rollout=r-7");
            let e = super::fixtures::event(6, "paused", json!({"event": "paused", "by": "alice"}));
            (200, serde_json::to_string(&vec![e]).unwrap())
        }
        other => panic!("unexpected {other}"),
    });
    let o = sluice(&server.url, &["enrollment-token", "--count", "2", "--ttl", "1h"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(out, "et-1\net-2\n");

    let o = sluice(&server.url, &["events", "--rollout", "r-7", "--after", "5", "--limit", "10"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("paused by alice") && out.contains("2025-12-05T08:47:18Z"), "{out}");
}
