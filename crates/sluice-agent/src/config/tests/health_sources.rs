//! `probes`, `command` and `metrics_listen`.

use super::super::*;

const GOOD: &str = "\
server: http://127.0.0.1:7070
state_dir: /var/lib/sluice-agent
metrics_listen: 127.0.0.1:9464
services:
  nginx-conf:
    probes:
      - url: http://127.0.0.1:8081/
        rate: 10/s
        timeout: 500ms
      - url: http://127.0.0.1:8081/api/
        every: 250ms
      - url: https://localhost/x
    command: {run: \"echo 3\", every: 5s, timeout: 2s, metric: queue_depth}
  other:
    command:
      run: \"true\"
      metric: ok
";

fn err(text: &str) -> String {
    AgentConfig::parse("agent.yaml", text).unwrap_err().to_string()
}

#[test]
fn probes_command_and_metrics_listen_parse() {
    let c = AgentConfig::parse("agent.yaml", GOOD).unwrap();
    assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
    let s = &c.services["nginx-conf"];
    assert_eq!(s.probes.len(), 3);
    assert_eq!(s.probes[0].rate, Some(Rate { per_sec: 10.0 }));
    assert_eq!(s.probes[0].period(), std::time::Duration::from_millis(100));
    assert_eq!(s.probes[0].timeout, Dur(500));
    assert_eq!(s.probes[1].period(), std::time::Duration::from_millis(250));
    // Defaults: 5/s, 1s.
    assert_eq!(s.probes[2].period(), std::time::Duration::from_millis(200));
    assert_eq!(s.probes[2].timeout, Dur::secs(1));
    let command = s.command.as_ref().unwrap();
    assert_eq!((command.run.as_str(), command.metric.as_str()), ("echo 3", "queue_depth"));
    assert_eq!((command.every, command.timeout), (Dur::secs(5), Dur::secs(2)));
    let other = c.services["other"].command.as_ref().unwrap();
    assert_eq!((other.every, other.timeout), (Dur::secs(5), Dur::secs(2)));
    // Port 0 is allowed; none by default.
    let c = AgentConfig::parse("a.yaml", "server: http://s\nstate_dir: /x\nmetrics_listen: \"[::1]:0\"\n").unwrap();
    assert_eq!(c.metrics_listen.map(|a| a.port()), Some(0));
    let c = AgentConfig::parse("a.yaml", "server: http://s\nstate_dir: /x\n").unwrap();
    assert_eq!(c.metrics_listen, None);
    assert!(c.services.values().all(|s| s.probes.is_empty() && s.command.is_none()));
}

#[test]
fn rates_in_every_spelling() {
    let per_sec = |s: &str| s.parse::<Rate>().map(|r| r.per_sec);
    assert_eq!(per_sec("10/s"), Ok(10.0));
    assert_eq!(per_sec(" 30 / m "), Ok(0.5));
    assert_eq!(per_sec("60/min"), Ok(1.0));
    assert_eq!(per_sec("3600/h"), Ok(1.0));
    assert_eq!(per_sec("2.5"), Ok(2.5));
    for bad in ["", "fast", "10/d", "0/s", "-1/s", "NaN/s", "inf/s", "/s"] {
        assert!(per_sec(bad).is_err(), "{bad}");
    }
    // A bare YAML number is per second.
    let text = GOOD.replace("rate: 10/s", "rate: 20");
    let c = AgentConfig::parse("agent.yaml", &text).unwrap();
    assert_eq!(c.services["nginx-conf"].probes[0].rate, Some(Rate { per_sec: 20.0 }));
}

#[test]
fn meaningless_values_are_located() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "metrics_listen: 127.0.0.1:9464",
            "metrics_listen: localhost:9464",
            "agent.yaml:3:17: at `metrics_listen`: invalid socket address",
        ),
        (
            "rate: 10/s",
            "rate: 1000/s",
            "agent.yaml:8:9: at `services.nginx-conf.probes[0].rate`: more than 100/s per probe",
        ),
        ("rate: 10/s", "rate: 10/week", "agent.yaml:8:"),
        (
            "rate: 10/s",
            "rate: 10/h\n        every: 1s",
            "agent.yaml:9:9: at `services.nginx-conf.probes[0].every`: give `rate` or `every`, not both",
        ),
        (
            "every: 250ms",
            "every: 5ms",
            "agent.yaml:11:9: at `services.nginx-conf.probes[1].every`: more than 100/s per probe",
        ),
        ("every: 250ms", "every: 2h", "agent.yaml:11:9: at `services.nginx-conf.probes[1].every`: less than 1/h"),
        (
            "timeout: 500ms",
            "timeout: 0",
            "agent.yaml:9:9: at `services.nginx-conf.probes[0].timeout`: the timeout is 0",
        ),
        (
            "timeout: 500ms",
            "timeout: 1m",
            "agent.yaml:9:9: at `services.nginx-conf.probes[0].timeout`: 1m is longer than 10s",
        ),
        (
            "url: https://localhost/x",
            "url: ftp://localhost/x",
            "agent.yaml:12:9: at `services.nginx-conf.probes[2].url`: `ftp://localhost/x` does not start with http:// or https://",
        ),
        (
            "      - url: http://127.0.0.1:8081/api/",
            "      - url: http://127.0.0.1:8081/api/\n        method: POST",
            "agent.yaml:11:9: at `services.nginx-conf.probes[1].method`: unknown field `method`",
        ),
        (
            "metric: ok",
            "metric: scrape_ok",
            "agent.yaml:17:7: at `services.other.command.metric`: `scrape_ok` is a name the agent reports itself",
        ),
        (
            "metric: ok",
            "metric: queue-depth",
            "agent.yaml:17:7: at `services.other.command.metric`: `queue-depth` is not a metric name",
        ),
        ("run: \"true\"", "run: \" \"", "agent.yaml:16:7: at `services.other.command.run`: the command is empty"),
        (
            "metric: ok",
            "metric: ok\n      every: 10ms",
            "agent.yaml:18:7: at `services.other.command.every`: 10ms is shorter than 100ms",
        ),
        // Flow style: the nearest enclosing field.
        (
            "every: 5s, timeout: 2s",
            "every: 5s, timeout: 0",
            "agent.yaml:13:5: at `services.nginx-conf.command.timeout`: the timeout is 0",
        ),
        ("      metric: ok\n", "", "agent.yaml:16:7: at `services.other.command`: missing field `metric`"),
    ];
    for (from, to, want) in cases {
        assert!(GOOD.contains(from), "{from}");
        let e = err(&GOOD.replacen(from, to, 1));
        assert!(e.starts_with(want), "{from} -> {to}:\n got {e}\nwant {want}");
    }
}
