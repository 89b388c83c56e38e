//! `sluice sim`: the replays through the binary, JSON shape and determinism.

use super::{sluice, text};

#[test]
fn the_5_dec_replay_prints_json_with_every_field_and_is_deterministic() {
    let a = sluice(&["sim", "examples/scenarios/cloudflare-2025-12-05.yaml", "--json", "--seed", "7"]);
    let (out, err) = text(&a);
    assert_eq!(a.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["seed"], 7);
    let strategies = v["strategies"].as_array().expect("strategies");
    let names: Vec<&str> = strategies.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["global-push", "sluice-staging-covered", "sluice-staging-gap"]);
    for s in strategies {
        for k in [
            "peak_failing_traffic_pct",
            "failing_traffic_pct_minutes",
            "failing_s",
            "targets_ever_on_bad_release",
            "prod_share_ever_on_bad_release_pct",
            "detect_s",
            "recover_s",
            "outcome",
        ] {
            assert!(s.get(k).is_some(), "{k} missing in {s}");
        }
    }
    let b = sluice(&["sim", "examples/scenarios/cloudflare-2025-12-05.yaml", "--json", "--seed", "7"]);
    assert_eq!(a.stdout, b.stdout, "same seed must give byte-identical JSON");
}

#[test]
fn the_table_and_svg_are_written() {
    let svg = std::env::temp_dir().join(format!("sluice-sim-{}.svg", std::process::id()));
    let o = sluice(&["sim", "examples/scenarios/cloudflare-2025-11-18.yaml", "--svg", svg.to_str().expect("utf8")]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("global-push") && out.contains("sluice-no-validator"), "{out}");
    let s = std::fs::read_to_string(&svg).expect("svg written");
    assert!(s.starts_with("<svg") || s.starts_with("<?xml"), "{}", &s[..s.len().min(100)]);
    assert!(s.contains("polyline") || s.contains("<path"), "no line drawn");
}

#[test]
fn a_bad_scenario_exits_2_with_its_location() {
    let f = std::env::temp_dir().join(format!("sluice-bad-scenario-{}.yaml", std::process::id()));
    std::fs::write(&f, "name: x\nbogus_field: 1\n").expect("write");
    let o = sluice(&["sim", f.to_str().expect("utf8")]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(":2:") || err.contains(":1:"), "no line in: {err}");
}

#[test]
fn the_silent_consumer_replay_carries_the_table_in_json_and_is_deterministic() {
    let args = ["sim", "examples/scenarios/silent-consumer-crash.yaml", "--json"];
    let a = sluice(&args);
    let (out, err) = text(&a);
    assert_eq!(a.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let strategies = v["strategies"].as_array().expect("strategies");
    let names: Vec<&str> = strategies.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["global-push", "sluice-staging-covered", "sluice-staging-gap", "sluice-never-confirms"]);
    let outcomes: Vec<&str> = strategies.iter().filter_map(|s| s["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["rolled_back", "rollback_incomplete", "rollback_incomplete", "rolled_back"]);
    for s in &strategies[2..] {
        let share = s["prod_share_ever_on_bad_release_pct"].as_f64().expect("a number");
        assert!(share <= 1.0, "{s}");
        assert_eq!(s["invariant_violations"], 0, "{s}");
    }
    assert_eq!(sluice(&args).stdout, a.stdout, "same seed must give byte-identical JSON");
    // The table shows the same figures.
    let t = sluice(&["sim", "examples/scenarios/silent-consumer-crash.yaml"]);
    let (table, _) = text(&t);
    assert!(table.contains("rollback incomplete") && table.contains("silent: prod-fl2-bare-"), "{table}");
}
