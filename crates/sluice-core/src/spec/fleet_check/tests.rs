//! The fleet checks, rule by rule: a spec, a fleet, and what must be refused or warned, where.

use std::collections::BTreeSet;

use super::*;
use crate::spec::parse_spec;

/// `id: k=v,k=v` targets; every target tells it reports `error_rate`, `crash_rate` and the
/// names after `|` for service `web` (`-` after `|`: its agent says nothing).
fn fleet(spec: &[&str]) -> Vec<FleetTarget> {
    spec.iter()
        .map(|line| {
            let (head, reports) = line.split_once('|').unwrap_or((line, ""));
            let (id, labels) = head.split_once(':').unwrap_or((head, ""));
            let labels = labels
                .split(',')
                .filter_map(|kv| kv.trim().split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let mut t = FleetTarget::new(TargetInfo { id: TargetId::from(id.trim()), labels, traffic_share: 0.0 });
            let reported = if reports.trim() == "-" {
                Reported::default()
            } else {
                let mut metrics: BTreeSet<String> = ["error_rate", "crash_rate"].map(String::from).into();
                metrics.extend(reports.split_whitespace().map(String::from));
                Reported { metrics, complete: true }
            };
            t.reported.insert("web".into(), reported);
            t
        })
        .collect()
}

/// A spec with service `web` on pipeline `p` whose stages are `stages` (YAML list items).
fn spec_text(stages: &str) -> String {
    format!("services:\n  web:\n    pipeline: p\npipelines:\n  p:\n    stages:\n{stages}")
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Is {
    Problem,
    Warning,
}

/// Check `stages` against `targets` at a 5s report interval: exactly the `expect`ed findings
/// (kind, field path, a piece of the message), in order, problems first.
fn check(stages: &str, targets: &[&str], expect: &[(Is, &str, &str)]) -> Findings {
    let text = spec_text(stages);
    let spec = parse_spec("t.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let targets = fleet(targets);
    let found = check_against_fleet(&spec, Some(&text), LiveFleet { targets: &targets, report_interval: Dur::secs(5) });
    let got: Vec<(Is, &Problem)> = found
        .problems
        .iter()
        .map(|p| (Is::Problem, p))
        .chain(found.warnings.iter().map(|p| (Is::Warning, p)))
        .collect();
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for ((kind, p), (want_kind, path, piece)) in got.iter().zip(expect) {
        assert_eq!((kind, p.path.as_str()), (want_kind, *path), "{p:#?}");
        assert!(p.message.contains(piece), "{:?} lacks {piece:?}", p.message);
        assert!(p.line.is_some(), "{p:?} has no line");
    }
    found
}

const GATE: &str =
    "        gates: [{threshold: {name: e, metric: error_rate, max: 0.01, window: 30s, min_samples: 3}}]\n";

fn stage(name: &str, selector: &str, extra: &str) -> String {
    format!("      - name: {name}\n        selector: {selector}\n{extra}{GATE}")
}

const P: &str = "pipelines.p.stages";

#[test]
fn a_sound_spec_finds_nothing() {
    let stages = stage("dev", "{env: dev}", "") + &stage("prod", "{env: prod}", "        waves: [1, \"100%\"]\n");
    check(&stages, &["d1: env=dev", "p1: env=prod", "p2: env=prod"], &[]);
}

#[test]
fn a_stage_that_selects_nothing_is_refused_unless_allowed_empty() {
    let stages = stage("dev", "{env: dev}", "") + &stage("prod", "{env: prod}", "");
    let f = check(
        &stages,
        &["d1: env=dev"],
        &[(Is::Problem, "pipelines.p.stages[1].selector", "stage \"prod\" selects no target")],
    );
    assert_eq!(f.problems[0].line, Some((11, 9)));
    assert!(f.problems[0].message.contains("none of the 1 enrolled targets matches env=prod"), "{:?}", f.problems[0]);
    let stages = stage("dev", "{env: dev}", "") + &stage("prod", "{env: prod}", "        allow_empty: true\n");
    check(&stages, &["d1: env=dev"], &[]);
}

#[test]
fn a_target_belongs_to_the_first_stage_that_selects_it() {
    // `all` selects everything, so `prod` after it gets nothing.
    let stages = stage("all", "{}", "") + &stage("prod", "{env: prod}", "");
    check(
        &stages,
        &["p1: env=prod"],
        &[(Is::Problem, "pipelines.p.stages[1].selector", "(1 that match belong to an earlier stage: all)")],
    );
}

#[test]
fn a_label_no_target_of_the_stage_has_is_refused() {
    let stages = stage("prod", "{env: prod}", "        spread_by: [proxy, prxy]\n")
        + "      - name: canary\n        selector: {env: canary}\n        gates: [{threshold: {name: e, metric: error_rate, max: 0.01, per_label: ruleset}}]\n";
    check(
        &stages,
        // `ruleset` is on a prod target, not on the canary stage's.
        &["p1: env=prod,proxy=fl1,ruleset=a", "c1: env=canary"],
        &[
            (
                Is::Problem,
                &format!("{P}[0].spread_by[1]"),
                "label \"prxy\" is on no target of stage \"prod\" (its 1 targets have: env, proxy, ruleset)",
            ),
            (
                Is::Problem,
                &format!("{P}[1].gates[0].threshold.per_label"),
                "gate \"e\": per_label: label \"ruleset\" is on no target of stage \"canary\"",
            ),
        ],
    );
}

#[test]
fn a_first_wave_smaller_than_the_spread_combinations_is_a_warning() {
    let stages = stage("prod", "{env: prod}", "        waves: [2, \"100%\"]\n        spread_by: [proxy]\n");
    let fleet = ["a: env=prod,proxy=fl1", "b: env=prod,proxy=fl2", "c: env=prod,proxy=fl2", "d: env=prod"];
    check(
        &stages,
        &fleet,
        &[(
            Is::Warning,
            &format!("{P}[0].waves[0]"),
            "takes 2 target(s), fewer than the 3 combinations of proxy (spread_by)",
        )],
    );
    let stages = stage("prod", "{env: prod}", "        waves: [3, \"100%\"]\n        spread_by: [proxy]\n");
    check(&stages, &fleet, &[]);
}

#[test]
fn a_gate_metric_nothing_produces_is_refused() {
    let gate = |metric: &str| {
        format!(
            "      - name: prod\n        selector: {{env: prod}}\n        gates:\n          - threshold: {{ name: g, metric: {metric}, max: 1 }}\n"
        )
    };
    let path = format!("{P}[0].gates[0].threshold.metric");
    // Every target told, none has it: refused, naming what they do report.
    let f = check(
        &gate("queue_depth"),
        &["a: env=prod|scrape_ok", "b: env=prod"],
        &[(
            Is::Problem,
            &path,
            "by none of the 2 targets of stage \"prod\" (they report: crash_rate, error_rate, scrape_ok)",
        )],
    );
    assert!(f.problems[0].message.contains("a `command` with `metric: queue_depth`"), "{:?}", f.problems[0]);
    // Built-ins need their inputs too.
    check(
        &gate("latency_p99_ms"),
        &["a: env=prod"],
        &[(Is::Problem, &path, "`metrics` endpoint with `latency` or from `probes`")],
    );
    // One target has it: a warning names the others.
    check(
        &gate("queue_depth"),
        &["a: env=prod|queue_depth", "b: env=prod"],
        &[(Is::Warning, &path, "1 of the 2 targets of stage \"prod\" do not: b")],
    );
    // Agents that did not say: nothing is known, nothing refused.
    check(&gate("queue_depth"), &["a: env=prod|-"], &[]);
    check(
        &gate("queue_depth"),
        &["a: env=prod|-", "b: env=prod"],
        &[(
            Is::Warning,
            &path,
            "none of the 1 targets of stage \"prod\" that said what they report (1 have not said yet)",
        )],
    );
    // A sourced gate reads its own metric.
    let sourced = "      - name: prod\n        selector: {env: prod}\n        gates:\n          - threshold:\n              name: g\n              metric: prom_ratio\n              max: 1\n              min_samples: 1\n              source: { prometheus: { url: \"http://p:9090\", query: q } }\n";
    check(sourced, &["a: env=prod"], &[]);
}

#[test]
fn the_metric_is_checked_for_every_service_on_the_pipeline_and_only_for_them() {
    let text = "services:\n  web:\n    pipeline: p\n  api:\n    pipeline: p\npipelines:\n  p:\n    stages:\n      - name: prod\n        selector: {}\n        gates: [{threshold: {name: g, metric: queue_depth, max: 1, min_samples: 1}}]\n  other:\n    stages:\n      - name: all\n        selector: {}\n        gates: [{threshold: {name: g, metric: nowhere, max: 1, min_samples: 1}}]\n";
    let spec = parse_spec("t.yaml", text).unwrap();
    let mut targets = fleet(&["a: env=prod|queue_depth"]);
    targets[0].reported.insert("api".into(), Reported { metrics: BTreeSet::new(), complete: true });
    let fleet = LiveFleet { targets: &targets, report_interval: Dur::secs(5) };
    let f = check_against_fleet(&spec, Some(text), fleet);
    // `api` lacks it; `other` is used by no service, so its metric waits for rollout start.
    assert_eq!(f.problems.len(), 1, "{f:#?}");
    assert!(f.problems[0].message.contains("for service \"api\""), "{:?}", f.problems[0]);
    let f = check_rollout_against_fleet(&spec, Some(text), "other", "web", fleet);
    assert_eq!(f.problems.len(), 1, "{f:#?}");
    assert_eq!(f.problems[0].path, "pipelines.other.stages[0].gates[0].threshold.metric");
    assert_eq!(f.problems[0].line, Some((16, 9)));
}

#[test]
fn threshold_windows_the_report_interval_cannot_fill_are_refused() {
    let gate = |window: &str, min: u32, extra: &str| {
        format!(
            "      - name: prod\n        selector: {{env: prod}}\n        waves: [1, \"100%\"]\n        gates:\n          - threshold: {{ name: g, metric: error_rate, max: 1, window: {window}, min_samples: {min}{extra} }}\n"
        )
    };
    let path = format!("{P}[0].gates[0].threshold.min_samples");
    let three = ["a: env=prod,proxy=fl1", "b: env=prod,proxy=fl1", "c: env=prod,proxy=fl2"];
    // 10s at 5s: 2 reports from the one target of the first wave; 3 needed.
    check(
        &gate("10s", 3, ""),
        &three,
        &[(
            Is::Problem,
            &path,
            "needs 3 reports in its 10s window, but agents report every 5s: the first wave of stage \"prod\" (1 of 3 targets) can send at most 2 (2 per target); lower min_samples to 2, lengthen the window, or make the first wave at least 2 targets",
        )],
    );
    check(&gate("10s", 2, ""), &three, &[]);
    // 12s at 5s: 2 or 3 depending on where the window falls.
    check(&gate("12s", 3, ""), &three, &[(Is::Warning, &path, "sends 2 to 3 in any 12s")]);
    // Per label: each value is judged over its own targets. With a first wave of two, the
    // value with one target can never send 3 reports in 10s.
    let wide = |min: u32| {
        format!(
            "      - name: prod\n        selector: {{env: prod}}\n        waves: [2, \"100%\"]\n        gates:\n          - threshold: {{ name: g, metric: error_rate, max: 1, window: 10s, min_samples: {min}, per_label: proxy }}\n"
        )
    };
    check(&wide(3), &three, &[(Is::Problem, &path, "proxy=fl2 (1 target(s): at most 2) never get there")]);
    check(&wide(2), &three, &[]);
    // A sourced gate counts its source's answers.
    let sourced = ", source: { prometheus: { url: \"http://p:9090\", query: q, every: 1s } }";
    check(&gate("10s", 10, sourced), &three, &[]);
    check(&gate("10s", 11, sourced), &three, &[(Is::Problem, &path, "its source answers every 1s")]);
}

#[test]
fn compare_gates_need_enough_canaries_in_the_first_wave() {
    let gate = |waves: &str, extra: &str| {
        format!(
            "      - name: prod\n        selector: {{env: prod}}\n        waves: [{waves}, \"100%\"]\n        gates:\n          - compare: {{ name: c, metric: error_rate, min_samples: 3{extra} }}\n"
        )
    };
    let path = format!("{P}[0].gates[0].compare.min_samples");
    let six = [
        "a: env=prod,v=x",
        "b: env=prod,v=x",
        "c: env=prod,v=x",
        "d: env=prod,v=y",
        "e: env=prod,v=y",
        "f: env=prod,v=x",
    ];
    check(
        &gate("1", ""),
        &six,
        &[(
            Is::Problem,
            &path,
            "needs 3 canary targets with data, but the first wave of stage \"prod\" has 1 (of 6 targets)",
        )],
    );
    // The baseline falls back to the stage before the wave: three canaries of six is enough.
    check(&gate("3", ""), &six, &[]);
    check(&gate("\"50%\"", ""), &six, &[]);
    check(&gate("3", ", per_label: v"), &six, &[(Is::Problem, &path, "fewer targets than that for v=y (2)")]);
}

#[test]
fn silent_after_must_outlast_the_report_interval() {
    let stages = stage("prod", "{env: prod}", "        silent_after: 5s\n");
    check(
        &stages,
        &["a: env=prod"],
        &[(
            Is::Problem,
            &format!("{P}[0].silent_after"),
            "silent_after 5s is not longer than the server's report interval (5s)",
        )],
    );
    let stages = stage("prod", "{env: prod}", "        silent_after: 6s\n");
    check(&stages, &["a: env=prod"], &[]);
}

#[test]
fn with_no_target_enrolled_only_a_warning_says_the_checks_wait() {
    let stages = stage("prod", "{env: prod}", "");
    check(&stages, &[], &[(Is::Warning, "pipelines", "no target is enrolled yet")]);
}

#[test]
fn services_targets_still_run_are_found_when_dropped() {
    let spec = parse_spec("t.yaml", &spec_text(&stage("prod", "{}", ""))).unwrap();
    let mut targets = fleet(&["b: env=prod", "a: env=prod", "c: env=prod"]);
    for t in &mut targets[..2] {
        t.running = BTreeSet::from(["web".to_string(), "old".to_string()]);
    }
    let dropped = dropped_services(&spec, &targets);
    assert_eq!(
        dropped,
        vec![Dropped { service: "old".into(), targets: vec![TargetId::from("a"), TargetId::from("b")] }]
    );
    let p = dropped[0].problem(Some("services:\n  web: {}\n"));
    assert_eq!((p.path.as_str(), p.line), ("services", Some((1, 1))));
    assert!(p.message.contains("2 target(s) still run a release of it (a, b)"), "{p:?}");
}
