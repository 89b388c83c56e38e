//! Bad scenario files: each is a clear error naming the file, line, column and field, never a
//! panic.

use sluice_sim::{SimError, load_scenario};

const TINY: &str = "\
name: tiny
duration: 1h
service: svc
fleet:
  - name: prod
    count: 10
    labels: { env: prod }
    traffic_share: 1.0
faults:
  boom:
    rules:
      - selector: { env: prod }
        error_share: 1.0
initial_release: { id: r0 }
releases:
  - id: r1
    at: 5m
    faults: [boom]
pipelines:
  p:
    stages:
      - name: prod
        selector: { env: prod }
        waves: [\"10%\", \"100%\"]
        gates:
          - threshold: { name: errors, metric: error_rate, max: 0.01 }
strategies:
  - name: sluice
    pipeline: p
";

fn refuse(text: &str) -> String {
    match load_scenario("tiny.yaml", text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => {
            let msg = e.to_string();
            eprintln!("{msg}");
            msg
        }
    }
}

#[test]
fn the_tiny_scenario_is_fine_and_runs() {
    let s = load_scenario("tiny.yaml", TINY).unwrap();
    let r = sluice_sim::run(&s, None);
    assert_eq!(r.strategies[0].invariant_violations, 0);
    assert_eq!(r.strategies[0].outcome, sluice_sim::Outcome::RolledBack);
}

#[test]
fn unknown_field() {
    let msg = refuse(&TINY.replace("    traffic_share: 1.0\n", "    traffic_share: 1.0\n    colour: red\n"));
    assert!(msg.starts_with("tiny.yaml:9:"), "{msg}");
    assert!(msg.contains("unknown field") && msg.contains("colour"), "{msg}");
}

#[test]
fn wrong_type() {
    let msg = refuse(&TINY.replace("count: 10", "count: many"));
    assert!(msg.starts_with("tiny.yaml:6:"), "{msg}");
    assert!(msg.contains("fleet[0].count"), "{msg}");
    let msg = refuse(&TINY.replace("at: 5m", "at: soon"));
    assert!(msg.starts_with("tiny.yaml:17:"), "{msg}");
    assert!(msg.contains("releases[0].at") && msg.contains("invalid duration"), "{msg}");
}

#[test]
fn missing_pipeline_reference() {
    let msg = refuse(&TINY.replace("    pipeline: p\n", "    pipeline: canary\n"));
    assert_eq!(msg, "tiny.yaml:29:5: at `strategies[0].pipeline`: pipeline \"canary\" does not exist (defined: p)");
}

#[test]
fn service_pipelines_must_exist() {
    let msg = refuse(&TINY.replace("strategies:\n", "service_pipelines: [p, fast]\nstrategies:\n"));
    assert_eq!(msg, "tiny.yaml:27:1: at `service_pipelines[1]`: pipeline \"fast\" does not exist (defined: p)");
}

#[test]
fn missing_stage_group_and_fault_references() {
    let msg = refuse(&TINY.replace(
        "    pipeline: p\n",
        "    pipeline: p\n    approvals: { staging: 5m }\n    exclude_groups: [staging]\n",
    ));
    assert!(
        msg.contains(
            "tiny.yaml:30:5: at `strategies[0].approvals.staging`: stage \"staging\" is not in pipeline \"p\""
        ),
        "{msg}"
    );
    assert!(
        msg.contains("tiny.yaml:31:5: at `strategies[0].exclude_groups[0]`: group \"staging\" does not exist"),
        "{msg}"
    );
    let msg = refuse(&TINY.replace("faults: [boom]", "faults: [bang]"));
    assert!(
        msg.contains("tiny.yaml:18:5: at `releases[0].faults[0]`: fault \"bang\" does not exist (defined: boom)"),
        "{msg}"
    );
}

#[test]
fn pipeline_problems_use_the_spec_checks() {
    let msg = refuse(&TINY.replace("waves: [\"10%\", \"100%\"]", "waves: [\"50%\", \"10%\"]"));
    assert!(msg.contains("tiny.yaml:24:9: at `pipelines.p.stages[0].waves[1]`: wave 10% is smaller"), "{msg}");
}

#[test]
fn budgets_refuse_huge_fleets_and_empty_strategies() {
    let msg = refuse(&TINY.replace("count: 10", "count: 4000000000"));
    assert!(msg.contains("at `fleet`") && msg.contains("more than the 1000000 allowed"), "{msg}");
    let msg = refuse(&TINY.replace("    pipeline: p\n", "    global_push: { propagation: 1m, detect_after: 1m }\n"));
    assert!(msg.contains("strategies[0].global_push") && msg.contains("revert_after"), "{msg}");
}

#[test]
fn alias_bomb() {
    // A billion laughs inside a field that takes any value (a JSON Schema), so the parser has
    // to expand it unless its budget stops it.
    let mut bomb = String::from("            l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "            l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
        ));
    }
    let text = TINY.replace(
        "    pipeline: p\n",
        &format!(
            "    pipeline: p\n    validators:\n      - json_schema:\n          files: x.json\n          schema:\n{bomb}"
        ),
    );
    let err = load_scenario("tiny.yaml", &text).unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, SimError::Yaml(_)));
    assert!(msg.starts_with("tiny.yaml:3"), "{msg}");
    assert!(msg.contains("strategies[0].validators[0]"), "{msg}");
}

#[test]
fn twenty_megabytes() {
    let text = format!("{TINY}# {}\n", "x".repeat(20 * 1024 * 1024));
    let msg = refuse(&text);
    assert!(msg.starts_with("tiny.yaml: file is 2097"), "{msg}");
    assert!(msg.contains("limit"), "{msg}");
}

#[test]
fn not_yaml_at_all() {
    for text in ["", "- a\n- b\n", "name: [unclosed\n", "\u{0}\u{1}binary"] {
        let msg = refuse(text);
        assert!(msg.starts_with("tiny.yaml"), "{msg}");
    }
}

#[test]
fn silence_never_confirms_and_slow_rollbacks_are_checked_with_their_location() {
    let rule = |extra: &str| TINY.replace("        error_share: 1.0\n", &format!("        error_share: 1.0\n{extra}"));
    // The shape: `silent` is a flag or `{ for: DURATION }` (`once: true` for a restart).
    let msg = refuse(&rule("        silent: maybe\n"));
    assert!(msg.starts_with("tiny.yaml:14:"), "{msg}");
    assert!(
        msg.contains("faults.boom.rules[0].silent")
            && msg.contains("true, false, { for: DURATION } or { for: DURATION, once: true }"),
        "{msg}"
    );
    let msg = refuse(&rule("        silent: { once: true }\n"));
    assert!(msg.starts_with("tiny.yaml:14:") && msg.contains("missing field `for`"), "{msg}");
    let msg = refuse(&rule("        silent: { for: 1m, once: maybe }\n"));
    assert!(
        msg.starts_with("tiny.yaml:14:") && msg.contains("silent.once") && msg.contains("invalid boolean"),
        "{msg}"
    );
    let msg = refuse(&rule("        silent: { until: 5m }\n"));
    assert!(msg.starts_with("tiny.yaml:14:") && msg.contains("unknown field") && msg.contains("until"), "{msg}");
    let msg = refuse(&rule("        silent: { for: soon }\n"));
    assert!(msg.starts_with("tiny.yaml:14:") && msg.contains("invalid duration"), "{msg}");
    // The meaning.
    let msg = refuse(&rule("        silent: { for: 0s }\n"));
    assert_eq!(
        msg,
        "tiny.yaml:14:9: at `faults.boom.rules[0].silent.for`: a silence must last more than 0s (or write `silent: true`)"
    );
    let msg = refuse(&rule("        silent: true\n        flap: 1m\n"));
    assert!(msg.contains("tiny.yaml:15:9: at `faults.boom.rules[0].flap`: a silent target cannot flap"), "{msg}");
    let msg = refuse(&rule("        never_confirms: true\n        apply_error: nope\n"));
    assert!(
        msg.contains("tiny.yaml:14:9: at `faults.boom.rules[0].never_confirms`: `never_confirms` and `apply_error` exclude each other"),
        "{msg}"
    );
    let msg = refuse(&rule("        never_confirms: true\n        silent: true\n"));
    assert!(msg.contains("`never_confirms` and `silent` exclude each other"), "{msg}");
    let msg = refuse(&rule("        rollback_delay: { min: 2d, max: 40d }\n"));
    assert!(
        msg.contains("tiny.yaml:14:9: at `faults.boom.rules[0].rollback_delay`: need min ≤ max ≤ 720h (got 48h..960h)"),
        "{msg}"
    );
    let msg = refuse(
        &TINY.replace("    traffic_share: 1.0\n", "    traffic_share: 1.0\n    rollback_delay: { min: 3h, max: 1h }\n"),
    );
    assert!(msg.contains("tiny.yaml:9:5: at `fleet[0].rollback_delay`: need min ≤ max"), "{msg}");
    // Hours and days are fine where a slow rollback is meant; the agents' default stays ≤ 1h.
    load_scenario("tiny.yaml", &rule("        rollback_delay: { min: 6h, max: 3d }\n        silent: { for: 2h }\n"))
        .unwrap();
    let msg =
        refuse(&TINY.replace("service: svc\n", "service: svc\nagents: { rollback_delay: { min: 1s, max: 2h } }\n"));
    assert!(msg.contains("at `agents.rollback_delay`: need min ≤ max ≤ 1h"), "{msg}");
}
