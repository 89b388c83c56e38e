//! The configuration file of one demo agent: where the server is, who the target is, and the
//! one service it manages (the demo edge's release directory, its health and metrics URLs).

use std::path::Path;

use super::fleet::Member;

/// Everything one agent's config needs.
#[derive(Debug, Clone)]
pub struct AgentSetup<'a> {
    pub server: &'a str,
    pub member: &'a Member,
    pub enrollment_token: &'a str,
    pub state_dir: &'a Path,
    /// The edge's service directory; the agent switches `<path>/current`.
    pub service_dir: &'a Path,
    pub edge_port: u16,
    pub service: &'a str,
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The agent's `agent.yaml`.
pub fn render(a: &AgentSetup<'_>) -> String {
    let m = a.member;
    let edge = format!("http://127.0.0.1:{}", a.edge_port);
    format!(
        "# Written by `sluice demo` for target {id}.\n\
         server: {server}\n\
         id: {id_q}\n\
         enrollment_token: {token}\n\
         state_dir: {state}\n\
         labels: {{env: {env}, proxy: {proxy}, ruleset: {ruleset}}}\n\
         report_interval: 1s\n\
         services:\n\
         \x20 {service}:\n\
         \x20   path: {path}\n\
         \x20   health: {{http: {health}, timeout: 2s, attempts: 3}}\n\
         \x20   metrics:\n\
         \x20     url: {metrics}\n\
         \x20     requests: edge_requests_total\n\
         \x20     errors: {{metric: edge_requests_total, label: code, matches: \"5..\"}}\n\
         \x20     latency: edge_request_duration_seconds\n",
        id = m.id,
        server = q(a.server),
        id_q = q(&m.id),
        token = q(a.enrollment_token),
        state = q(&a.state_dir.display().to_string()),
        env = q(m.env),
        proxy = q(&m.proxy.to_string()),
        ruleset = q(&m.ruleset.to_string()),
        service = a.service,
        path = q(&a.service_dir.display().to_string()),
        health = q(&format!("{edge}/healthz")),
        metrics = q(&format!("{edge}/metrics")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::edge_decision::{Proxy, Ruleset};

    #[test]
    fn the_config_is_yaml_with_every_field() {
        let m = Member { id: "prod-07".into(), env: "prod", proxy: Proxy::Fl1, ruleset: Ruleset::Managed };
        let text = render(&AgentSetup {
            server: "http://127.0.0.1:7070",
            member: &m,
            enrollment_token: "tok\"en",
            state_dir: Path::new("/tmp/demo dir/agents/prod-07"),
            service_dir: Path::new("/tmp/demo dir/edges/prod-07"),
            edge_port: 4242,
            service: "edge",
        });
        let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(v["id"], "prod-07");
        assert_eq!(v["enrollment_token"], "tok\"en");
        assert_eq!(v["labels"]["proxy"], "fl1");
        assert_eq!(v["labels"]["ruleset"], "managed");
        assert_eq!(v["services"]["edge"]["path"], "/tmp/demo dir/edges/prod-07");
        assert_eq!(v["services"]["edge"]["health"]["http"], "http://127.0.0.1:4242/healthz");
        assert_eq!(v["services"]["edge"]["metrics"]["errors"]["matches"], "5..");
    }

    /// The contract with the agent: it reads this config, and from the edge's `/metrics` it
    /// counts the requests and the 5xx the edge answered.
    #[test]
    fn the_agent_reads_the_config_and_the_edges_metrics() {
        use crate::demo::edge_server::Edge;
        use sluice_agent::config::AgentConfig;
        use sluice_agent::{sampler, scrape};

        let root = tempfile::tempdir().unwrap();
        let m = Member { id: "staging-01".into(), env: "staging", proxy: Proxy::Fl1, ruleset: Ruleset::Managed };
        let service_dir = root.path().join("edge");
        let text = render(&AgentSetup {
            server: "http://127.0.0.1:7070",
            member: &m,
            enrollment_token: "t",
            state_dir: &root.path().join("state"),
            service_dir: &service_dir,
            edge_port: 4242,
            service: "edge",
        });
        let config = AgentConfig::parse("agent.yaml", &text).unwrap();
        assert_eq!(config.id.as_deref(), Some("staging-01"));
        let metrics = config.services["edge"].metrics.clone().unwrap();
        let selection = sampler::Selection::new(&metrics).unwrap();
        let read = |edge: &Edge| {
            let body = edge.respond("/metrics").body;
            selection.read(&scrape::parse(body.as_bytes(), &|n| selection.wants(n)).unwrap())
        };

        let release = root.path().join("r1");
        std::fs::create_dir_all(&release).unwrap();
        std::fs::write(release.join("rules.json"), r#"{"rules":[{"id":"w","action":"execute"}]}"#).unwrap();
        std::fs::write(release.join("flags.json"), r#"{"kill_switches":{"w":true}}"#).unwrap();
        std::fs::create_dir_all(&service_dir).unwrap();
        let edge = Edge::new(&service_dir.join("current"), Proxy::Fl1, Ruleset::Managed);
        let before = read(&edge);
        for _ in 0..3 {
            assert_eq!(edge.respond("/").status, 200);
        }
        std::os::unix::fs::symlink(&release, service_dir.join("current")).unwrap();
        for _ in 0..2 {
            assert_eq!(edge.respond("/").status, 500);
        }
        let d = sampler::delta(&selection, &before, &read(&edge));
        assert_eq!((d.requests, d.errors), (5, 2));
        assert!(d.latency_p99_ms.is_some());
    }
}
