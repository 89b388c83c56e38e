use super::*;

const GOOD: &str = "\
server: http://127.0.0.1:7070
id: prod-eu-01
enrollment_token: \"tok\"
state_dir: /var/lib/sluice-agent
labels: {env: prod, proxy: fl1, ruleset: managed}
facts: {rack: r12}
report_interval: 2s
keep_releases: 3
services:
  edge:
    path: /srv/edge
    check: \"edge -t {release}\"
    reload: \"systemctl reload edge\"
    health: {http: \"http://127.0.0.1:8080/healthz\", timeout: 2s, attempts: 3}
    metrics:
      url: http://127.0.0.1:9100/metrics
      requests: edge_requests_total
      errors: {metric: edge_requests_total, label: code, matches: \"5..\"}
      latency: edge_request_duration_seconds
  rules: {}
";

fn err(text: &str) -> String {
    AgentConfig::parse("agent.yaml", text).unwrap_err().to_string()
}

#[test]
fn a_full_config_parses() {
    let c = AgentConfig::parse("agent.yaml", GOOD).unwrap();
    assert_eq!(c.server, "http://127.0.0.1:7070");
    assert_eq!(c.id.as_deref(), Some("prod-eu-01"));
    assert_eq!(c.labels.get("proxy").map(String::as_str), Some("fl1"));
    assert_eq!(c.report_interval, Dur::secs(2));
    assert_eq!(c.keep_releases, 3);
    let edge = &c.services["edge"];
    assert_eq!(edge.health.as_ref().unwrap().attempts, 3);
    let metrics = edge.metrics.as_ref().unwrap();
    assert_eq!(metrics.timeout, Dur::secs(2));
    let (label, re) = metrics.errors.as_ref().unwrap().matcher().unwrap().unwrap();
    assert_eq!(label, "code");
    assert!(re.is_match("503") && !re.is_match("1503") && !re.is_match("200"));
    assert_eq!(c.service_dir("edge"), PathBuf::from("/srv/edge"));
    assert_eq!(c.service_dir("rules"), PathBuf::from("/var/lib/sluice-agent/services/rules"));
    assert!(!format!("{c:?}").contains("tok\""), "the token stays out of Debug");
}

#[test]
fn defaults() {
    let c = AgentConfig::parse("a.yaml", "server: https://s\nstate_dir: st\n").unwrap();
    assert_eq!(c.id, None);
    assert_eq!(c.report_interval, Dur::secs(5));
    assert_eq!(c.keep_releases, 5);
    assert!(c.services.is_empty());
}

#[test]
fn unknown_fields_are_located() {
    let text = GOOD.replace("    reload:", "    reloda:");
    let e = err(&text);
    assert!(e.starts_with("agent.yaml:13:5: at `services.edge"), "{e}");
    assert!(e.contains("reloda"), "{e}");
    let e = err("server: http://s\nstate_dir: /x\nreport_intervall: 5s\n");
    assert!(e.starts_with("agent.yaml:3:1:"), "{e}");
}

#[test]
fn wrong_types_are_located() {
    let e = err("server: http://s\nstate_dir: /x\nreport_interval: soon\n");
    assert!(e.starts_with("agent.yaml:3:"), "{e}");
    assert!(e.contains("invalid duration"), "{e}");
    let e = err("server: http://s\nstate_dir: /x\nkeep_releases: -1\n");
    assert!(e.starts_with("agent.yaml:3:"), "{e}");
    let e = err("state_dir: /x\n");
    assert!(e.contains("server"), "{e}");
}

#[test]
fn meaningless_values_are_located() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "server: http://127.0.0.1:7070",
            "server: 127.0.0.1:7070",
            "agent.yaml:1:1: at `server`: `127.0.0.1:7070` does not start with http:// or https://",
        ),
        ("id: prod-eu-01", "id: \"prod eu\"", "agent.yaml:2:1: at `id`: `prod eu` has spaces"),
        (
            "report_interval: 2s",
            "report_interval: 500ms",
            "agent.yaml:7:1: at `report_interval`: 500ms is shorter than 1s",
        ),
        (
            "state_dir: /var/lib/sluice-agent",
            "state_dir: /x\nenrollment_token_file: /t",
            "agent.yaml:5:1: at `enrollment_token_file`: give",
        ),
        ("  rules: {}", "  ru les: {}", "agent.yaml:20:3: at `services.ru les`: open service \"ru les\""),
        (
            "  rules: {}",
            "  rules: {path: /srv/edge}",
            "agent.yaml:20:3: at `services.rules.path`: service `edge` has the same directory",
        ),
        (
            "http://127.0.0.1:8080/healthz",
            "https://h/healthz",
            "agent.yaml:14:5: at `services.edge.health.http`: `https://h/healthz` does not start with http://",
        ),
        (
            "url: http://127.0.0.1:9100/metrics",
            "url: http:///metrics",
            "agent.yaml:16:7: at `services.edge.metrics.url`: `http:///metrics` has no host",
        ),
        (
            "requests: edge_requests_total",
            "requests: edge-requests",
            "agent.yaml:17:7: at `services.edge.metrics.requests`: `edge-requests` is not a metric name",
        ),
        (
            "matches: \"5..\"",
            "matches: \"5(\"",
            "agent.yaml:18:7: at `services.edge.metrics.errors.matches`: not a regular expression",
        ),
        (", matches: \"5..\"", "", "agent.yaml:18:7: at `services.edge.metrics.errors.label`: `label` needs `matches`"),
        (
            "latency: edge_request_duration_seconds",
            "latency: \"9x\"",
            "agent.yaml:19:7: at `services.edge.metrics.latency`",
        ),
    ];
    for (from, to, want) in cases {
        assert!(GOOD.contains(from), "{from}");
        let e = err(&GOOD.replacen(from, to, 1));
        assert!(e.starts_with(want), "{from} -> {to}:\n got {e}\nwant {want}");
    }
}

#[test]
fn load_resolves_relative_paths_against_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.yaml");
    std::fs::write(
        &file,
        "server: http://s\nstate_dir: state\nenrollment_token_file: tok\nservices: {a: {path: srv/a}, b: {}}\n",
    )
    .unwrap();
    let c = AgentConfig::load(&file).unwrap();
    assert_eq!(c.state_dir, dir.path().join("state"));
    assert_eq!(c.enrollment_token_file, Some(dir.path().join("tok")));
    assert_eq!(c.service_dir("a"), dir.path().join("srv/a"));
    assert_eq!(c.service_dir("b"), dir.path().join("state/services/b"));
    let missing = AgentConfig::load(&dir.path().join("nope.yaml")).unwrap_err().to_string();
    assert!(missing.contains("nope.yaml: cannot read"), "{missing}");
}

mod health_sources;
