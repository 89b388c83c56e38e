//! `sluice demo --once --json`: the whole story against a real server, 48 real agents and 48
//! demo edges, checked step by step.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::repo;

/// Generous for a debug build on two cores; the release build must stay under 3 minutes.
const LIMIT: Duration = Duration::from_secs(480);

/// A bound on a child process, not logic under test.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

#[test]
fn the_demo_story_holds() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["demo", "--once", "--json"])
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sluice demo");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let deadline = now() + LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sluice demo took longer than {LIMIT:?}; stderr:\n{}", err.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    assert_eq!(v["ok"], true, "{v:#}\n{err}");
    assert_eq!(status.code(), Some(0), "{err}");

    let steps = v["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["good-release", "killswitch-2025-12-05", "feature-file-2025-11-18", "revert", "emergency-cve"]);
    for s in steps {
        let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "name",
                "outcome",
                "prod_targets_ever_on_bad",
                "release",
                "stage_caught",
                "targets_ever_on_release",
                "verdict_to_rollback_ms"
            ]
        );
    }

    let good = &steps[0];
    assert_eq!(good["release"], "v2-good");
    assert_eq!(good["outcome"], "completed");
    assert_eq!(good["targets_ever_on_release"], 48);
    assert!(good["stage_caught"].is_null() && good["verdict_to_rollback_ms"].is_null());

    let kill = &steps[1];
    assert_eq!(kill["release"], "v3-killswitch");
    assert_eq!(kill["outcome"], "rolled_back");
    assert_eq!(kill["stage_caught"], "staging");
    assert_eq!(kill["prod_targets_ever_on_bad"], 0);
    let touched = kill["targets_ever_on_release"].as_u64().unwrap();
    assert!((5..=8).contains(&touched), "dev 2 + test 2 + at least one staging target: {touched}");
    assert!(kill["verdict_to_rollback_ms"].as_u64().is_some(), "{kill}");

    let file = &steps[2];
    assert_eq!(file["release"], "v4-features-doubled");
    assert_eq!(file["outcome"], "rejected");
    assert_eq!(file["targets_ever_on_release"], 0);
    assert_eq!(file["prod_targets_ever_on_bad"], 0);

    // The revert: every target back on the baseline, no approval asked.
    let revert = &steps[3];
    assert_eq!(revert["release"], "v1");
    assert_eq!(revert["outcome"], "completed");
    assert_eq!(revert["targets_ever_on_release"], 48);

    // The emergency change: every target, each stage's first wave judged on the way (the story
    // checks the events; a missing judgement would have made `ok` false).
    let emergency = &steps[4];
    assert_eq!(emergency["release"], "v5-cve");
    assert_eq!(emergency["outcome"], "completed");
    assert_eq!(emergency["targets_ever_on_release"], 48);
}
