//! Gate evaluation against a fleet whose samples a test sets.

use super::*;
use crate::spec::{HealthSource, PrometheusSource};
use crate::time::Dur;

/// Agent reports say all is well; the source says what the test wants.
struct Obs {
    agent: Vec<Sample>,
    sourced: BTreeMap<TargetId, Vec<Sample>>,
    error: Option<String>,
}

impl Observations for Obs {
    fn running(&self, _: &TargetId) -> Option<&ReleaseId> {
        None
    }
    fn last_report(&self, _: &TargetId) -> Option<Millis> {
        None
    }
    fn apply_failure(&self, _: &TargetId, _: &ReleaseId) -> Option<String> {
        None
    }
    fn samples(&self, _: &TargetId, from: Millis, to: Millis, f: &mut dyn FnMut(&Sample)) {
        for s in self.agent.iter().filter(|s| from < s.at && s.at <= to) {
            f(s);
        }
    }
    fn source_samples(&self, _: &HealthSource, t: &TargetId, from: Millis, to: Millis, f: &mut dyn FnMut(&Sample)) {
        for s in self.sourced.get(t).into_iter().flatten().filter(|s| from < s.at && s.at <= to) {
            f(s);
        }
    }
    fn source_error(&self, _: &HealthSource) -> Option<String> {
        self.error.clone()
    }
}

fn gate() -> GateSpec {
    GateSpec::Threshold(ThresholdGate {
        name: "prom".into(),
        metric: Metric::Custom("prom_error_rate".into()),
        max: Some(0.01),
        min: None,
        window: Dur::secs(30),
        min_samples: 2,
        per_label: None,
        source: Some(HealthSource::Prometheus(PrometheusSource {
            url: "http://prom:9090".into(),
            query: "q".into(),
            target_label: "target".into(),
            every: None,
            timeout: Dur::secs(2),
            per: crate::spec::Per::Target,
        })),
        max_failing_targets: 0,
        failure_limit: 1,
        initial_delay: Dur::ZERO,
        on_fail: crate::spec::OnFail::Rollback,
    })
}

fn stage(g: GateSpec) -> StagePlan {
    StagePlan {
        name: "prod".into(),
        targets: vec![TargetId::from("a")],
        wave_ends: vec![1],
        wave_sizes: vec!["100%".into()],
        bake: Dur::secs(10),
        gates: vec![g],
        approval: false,
        approvals: None,
        coverage: None,
        label_values: BTreeMap::new(),
        traffic_share: 0.0,
        wave_traffic: vec![0.0],
        silent_after: None,
        on_silent: crate::spec::OnSilent::Fail,
        apply_timeout: crate::spec::DEFAULT_APPLY_TIMEOUT,
        max_unconfirmed: None,
        hold_timeout: crate::spec::DEFAULT_HOLD_TIMEOUT,
        max_unavailable: None,
    }
}

fn sample(at: u64, value: Option<f64>) -> Sample {
    Sample {
        at: Millis(at),
        release: Some(ReleaseId::from("new")),
        requests: 100,
        metrics: value.map(|v| ("prom_error_rate".to_string(), v)).into_iter().collect(),
        ..Sample::default()
    }
}

fn judge(obs: &Obs) -> GateEval {
    let g = gate();
    let st = stage(g.clone());
    let cand = ReleaseId::from("new");
    let none = BTreeSet::new();
    let w = Window {
        now: Millis(20_000),
        wave_start: Millis(0),
        candidate: &cand,
        canary_end: 1,
        told: &[Told { end: 1, at: Millis(0) }],
        excluded: &none,
    };
    let mut evals = evaluate(&g, &st, w, obs, &mut GateSums::default());
    assert_eq!(evals.len(), 1);
    evals.remove(0)
}

#[test]
fn a_sourced_gate_ignores_agent_reports_and_judges_the_source() {
    let agent: Vec<Sample> = (1..10).map(|i| sample(i * 1000, Some(0.9))).collect();
    let t = TargetId::from("a");
    // Agent reports alone (even with the metric) never count for a sourced gate.
    let e = judge(&Obs { agent: agent.clone(), sourced: BTreeMap::new(), error: None });
    assert_eq!(e.verdict, Verdict::Inconclusive, "{e:?}");
    assert_eq!(e.reason, "0 of 2 prometheus values needed in the last 30s");
    let ok = BTreeMap::from([(t.clone(), vec![sample(5_000, Some(0.0)), sample(7_000, Some(0.002))])]);
    let e = judge(&Obs { agent: agent.clone(), sourced: ok, error: None });
    assert_eq!(e.verdict, Verdict::Pass, "{e:?}");
    let bad = BTreeMap::from([(t, vec![sample(5_000, Some(0.2)), sample(7_000, Some(0.3))])]);
    let e = judge(&Obs { agent, sourced: bad, error: None });
    assert_eq!(e.verdict, Verdict::Fail, "{e:?}");
}

#[test]
fn a_source_error_is_named_while_the_gate_lacks_data() {
    let t = TargetId::from("a");
    let one = BTreeMap::from([(t, vec![sample(5_000, Some(0.0))])]);
    let e = judge(&Obs { agent: Vec::new(), sourced: one, error: Some("connection refused".into()) });
    assert_eq!(e.verdict, Verdict::Inconclusive);
    assert_eq!(
        e.reason,
        "prometheus http://prom:9090: connection refused; 1 of 2 prometheus values needed in the last 30s"
    );
}
