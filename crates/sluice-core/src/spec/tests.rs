//! The spec parser on good and bad files: every refusal names file, line, column, field path.

use super::parse::{SpecError, YamlError, parse_spec};

const EXAMPLE: &str = include_str!("../../../../examples/sluice.yaml");

fn err(text: &str) -> String {
    match parse_spec("sluice.yaml", text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_example_spec_parses() {
    let spec = parse_spec("examples/sluice.yaml", EXAMPLE).expect("example parses");
    assert_eq!(spec.pipelines["default"].stages.len(), 4);
    assert_eq!(spec.services["edge-rules"].validators.len(), 6);
}

#[test]
fn unknown_fields_are_errors_with_location_and_path() {
    let e = err(
        "services: {}\npipelines:\n  p:\n    stages:\n      - name: dev\n        selector: {env: dev}\n        bake_time: 5m\n",
    );
    assert!(e.starts_with("sluice.yaml:7:"), "{e}");
    assert!(e.contains("bake_time"), "{e}");
    assert!(e.contains("pipelines.p.stages[0]"), "{e}");
}

#[test]
fn wrong_types_say_what_was_expected() {
    let e = err("pipelines:\n  p:\n    stages:\n      - name: dev\n        selector: {env: dev}\n        bake: fast\n");
    assert!(e.starts_with("sluice.yaml:6:"), "{e}");
    assert!(e.contains("invalid duration"), "{e}");
    assert!(e.contains("pipelines.p.stages[0].bake"), "{e}");
    let e = err(
        "pipelines:\n  p:\n    stages:\n      - name: dev\n        selector: {env: dev}\n        waves: [\"150%\"]\n",
    );
    assert!(e.contains("(0, 100]"), "{e}");
}

#[test]
fn a_missing_pipeline_is_named_with_its_line() {
    let e = err(
        "services:\n  edge:\n    pipeline: nope\npipelines:\n  default:\n    stages:\n      - name: dev\n        selector: {env: dev}\n        gates: [{threshold: {name: e, metric: error_rate, max: 0.01}}]\n",
    );
    assert_eq!(e, "sluice.yaml:3:5: at `services.edge.pipeline`: pipeline \"nope\" does not exist (defined: default)");
}

#[test]
fn shrinking_waves_and_a_missing_100_percent_are_refused() {
    let e = err(
        "pipelines:\n  p:\n    stages:\n      - name: prod\n        selector: {env: prod}\n        waves: [\"50%\", \"10%\"]\n",
    );
    assert!(e.contains("never shrink"), "{e}");
    assert!(e.contains("the last wave must be \"100%\""), "{e}");
    assert!(e.contains("pipelines.p.stages[0].waves[1]"), "{e}");
}

#[test]
fn a_stage_without_gates_is_refused() {
    let e = err("pipelines:\n  p:\n    stages:\n      - name: dev\n        selector: {env: dev}\n");
    assert!(e.contains("has no gate"), "{e}");
}

#[test]
fn every_problem_is_reported() {
    let e = err("services:\n  a:\n    pipeline: x\n  b:\n    pipeline: y\npipelines: {}\n");
    assert_eq!(e.lines().count(), 2, "{e}");
}

#[test]
fn alias_bombs_and_huge_files_are_refused() {
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    let e = parse_spec("bomb.yaml", &bomb).expect_err("bomb refused");
    assert!(matches!(e, SpecError::Yaml(YamlError::Invalid { .. })), "{e}");
    let huge = format!("# {}\n", "x".repeat(20 * 1024 * 1024));
    let e = parse_spec("huge.yaml", &huge).expect_err("huge refused");
    assert!(e.to_string().contains("larger than the 4194304-byte limit"), "{e}");
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "[",
        "{a: [}",
        "- - - -",
        "services: 3",
        "\u{0}\u{1}",
        "pipelines:\n  p: {stages: [{name: a, selector: 5}]}",
    ] {
        let _ = parse_spec("g.yaml", text);
    }
}

#[test]
fn the_checked_in_schema_is_current() {
    let want = serde_json::to_string_pretty(&super::Spec::json_schema()).expect("schema json") + "\n";
    let have = include_str!("../../../../schema/sluice.schema.json");
    assert!(have == want, "schema/sluice.schema.json is stale: run `cargo run -- schema > schema/sluice.schema.json`");
}

const SOURCED: &str = r#"pipelines:
  p:
    stages:
      - name: prod
        selector: {env: prod}
        gates:
          - threshold:
              name: prom-5xx
              metric: prom_error_rate
              max: 0.01
              window: 30s
              min_samples: 2
              per_label: variant
              source:
                prometheus:
                  url: URL
                  query: QUERY
                  target_label: LABEL
                  every: EVERY
                  timeout: 2s
"#;

fn sourced(url: &str, query: &str, label: &str, every: &str) -> String {
    SOURCED.replace("URL", url).replace("QUERY", query).replace("LABEL", label).replace("EVERY", every)
}

#[test]
fn a_gate_may_read_prometheus() {
    let text = sourced("http://127.0.0.1:9090", "'sum by (target) (rate(x[15s]))'", "target", "2s");
    let spec = parse_spec("s.yaml", &text).expect("parses");
    let g = &spec.pipelines["p"].stages[0].gates[0];
    let Some(super::HealthSource::Prometheus(p)) = g.source() else { panic!("no source: {g:?}") };
    assert_eq!(p.url, "http://127.0.0.1:9090");
    assert_eq!(p.query, "sum by (target) (rate(x[15s]))");
    assert_eq!(p.every, Some(crate::time::Dur::secs(2)));
    // Defaults: label `target`, timeout 2s, every unset (the server's report interval).
    let minimal = "pipelines:\n  p:\n    stages:\n      - name: prod\n        selector: {env: prod}\n        gates:\n          - compare: {name: c, metric: m, source: {prometheus: {url: 'https://p', query: q}}}\n";
    let spec = parse_spec("s.yaml", minimal).expect("parses");
    let Some(super::HealthSource::Prometheus(p)) = spec.pipelines["p"].stages[0].gates[0].source() else { panic!() };
    assert_eq!((p.target_label.as_str(), p.timeout, p.every), ("target", crate::time::Dur::secs(2), None));
}

#[test]
fn bad_prometheus_sources_are_refused_with_their_place() {
    let e = err(&sourced("ftp://x", "q", "target", "2s"));
    assert!(e.contains("s.yaml:16:") || e.contains("sluice.yaml:16:"), "{e}");
    assert!(e.contains("pipelines.p.stages[0].gates[0].threshold.source.prometheus.url"), "{e}");
    assert!(e.contains("must start with http:// or https://"), "{e}");
    let e = err(&sourced("http://x", "' '", "9bad", "10ms"));
    assert!(e.contains("query must not be empty"), "{e}");
    assert!(e.contains("not a Prometheus label name"), "{e}");
    assert!(e.contains("every must be at least 100ms"), "{e}");
    assert_eq!(e.lines().count(), 3, "{e}");
    let e = err(&sourced("http://x", "q", "target", "soon"));
    assert!(e.contains("invalid duration"), "{e}");
    let e = err(&SOURCED.replace("url: URL", "uri: URL"));
    assert!(e.contains("uri"), "{e}");
}

#[test]
fn a_production_stage_that_moves_everything_at_once_is_warned_about() {
    use super::warnings::spec_warnings;
    let gate = "        gates: [{threshold: {name: e, metric: error_rate, max: 0.01}}]\n";
    let text = format!(
        "services: {{}}\npipelines:\n  p:\n    stages:\n      - name: dev\n        selector: {{env: dev}}\n{gate}      - name: prod\n        selector: {{env: prod}}\n{gate}        waves: [\"100%\"]\n"
    );
    let text = text.as_str();
    let spec = parse_spec("sluice.yaml", text).expect("parses");
    let w = spec_warnings(&spec, Some(text));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].path, "pipelines.p.stages[1].waves");
    assert_eq!(w[0].line, Some((11, 9)));
    assert!(w[0].message.contains("stage \"prod\"") && w[0].message.contains("one wave of 100%"), "{}", w[0].message);
    // A canary first, or a bound on what is out at once, is enough; dev's single wave is fine.
    let canary = text.replace("waves: [\"100%\"]", "waves: [1, \"100%\"]");
    assert!(spec_warnings(&parse_spec("s.yaml", &canary).expect("parses"), None).is_empty());
    let bounded = format!("{text}        max_unavailable: 10%\n");
    assert!(spec_warnings(&parse_spec("s.yaml", &bounded).expect("parses"), None).is_empty());
    // A stage judged by compare gates alone has nothing to watch it once it passed.
    let compare_only = bounded.replacen(
        "gates: [{threshold: {name: e, metric: error_rate, max: 0.01}}]",
        "gates: [{compare: {name: p99, metric: latency_p99_ms}}]",
        1,
    );
    let w = spec_warnings(&parse_spec("s.yaml", &compare_only).expect("parses"), None);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].path, "pipelines.p.stages[0].gates");
    assert!(w[0].message.contains("compare gates alone"), "{}", w[0].message);
    // The example spec gets no warning.
    assert!(spec_warnings(&parse_spec("e.yaml", EXAMPLE).expect("parses"), Some(EXAMPLE)).is_empty());
}
