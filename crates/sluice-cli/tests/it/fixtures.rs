//! Views as the server would send them, for rendering tests.

use sluice_api::Position;
use sluice_api::{EventView, RolloutView, StageView, TargetServiceView, TargetView, WaveView};
use sluice_core::engine::PhaseKind;
use sluice_core::engine::{Deadline, GateEval, Rollout, StartOptions, TargetInfo, Verdict};
use sluice_core::labels::Labels;
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::spec::{GateKind, parse_spec};
use sluice_core::time::{Dur, Millis};

pub const CANDIDATE: &str = "sha256:3fa9c2e1b0d4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233";
pub const KNOWN_GOOD: &str = "sha256:1b2c3d4e5f60718293a4b5c6d7e8f9000112233445566778899aabbccddeeff0";
/// 5 Dec 2025 08:47:12 UTC.
pub const AT: Millis = Millis(1_764_924_432_000);

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn wave(size: &str, targets: usize, on_candidate: usize, state: &str) -> WaveView {
    WaveView { size: size.into(), targets, on_candidate, state: state.into() }
}

/// A rollout of `edge-rules` baking its second prod wave, one gate failing for `proxy=fl1`.
pub fn rollout_view() -> RolloutView {
    let text = std::fs::read_to_string(super::repo().join("examples/sluice.yaml")).unwrap();
    let spec = parse_spec("sluice.yaml", &text).unwrap();
    let pipeline = &spec.pipelines["default"];
    let targets: Vec<TargetInfo> = ["dev", "test", "staging", "prod"]
        .iter()
        .enumerate()
        .flat_map(|(i, env)| {
            (0..(1 + i * 3)).map(move |n| TargetInfo {
                id: TargetId(format!("{env}-{n}")),
                labels: labels(&[("env", env), ("proxy", if n % 2 == 0 { "fl1" } else { "fl2" })]),
                traffic_share: 0.0,
            })
        })
        .collect();
    let (rollout, _) = Rollout::start(
        "r-7",
        "edge-rules",
        ReleaseId(CANDIDATE.into()),
        Some(ReleaseId(KNOWN_GOOD.into())),
        pipeline,
        &targets,
        &StartOptions::default(),
        AT,
    )
    .unwrap();
    let gates = vec![
        GateEval {
            gate: "http-5xx".into(),
            kind: GateKind::Threshold,
            metric: "error_rate".into(),
            scope: Some("proxy=fl1".into()),
            verdict: Verdict::Fail,
            value: Some(0.2846),
            reference: Some(0.01),
            p_value: None,
            u: None,
            samples: 12,
            baseline_samples: None,
            reason: "error_rate 0.2846 > max 0.01".into(),
            failing_targets: vec![],
            max_failing_targets: Some(0),
            failure_limit: 1,
            consecutive_failures: 1,
            initial_delay: Dur::ZERO,
            on_fail: sluice_core::spec::OnFail::Rollback,
        },
        GateEval {
            gate: "p99-vs-baseline".into(),
            kind: GateKind::Compare,
            metric: "latency_p99_ms".into(),
            scope: None,
            verdict: Verdict::Inconclusive,
            value: Some(120.0),
            reference: Some(100.0),
            p_value: Some(0.0312),
            u: Some(3.0),
            samples: 2,
            baseline_samples: Some(8),
            reason: "2 canary targets with data, need 3".into(),
            failing_targets: vec![],
            max_failing_targets: None,
            failure_limit: 1,
            consecutive_failures: 0,
            initial_delay: Dur::ZERO,
            on_fail: sluice_core::spec::OnFail::Rollback,
        },
    ];
    RolloutView {
        id: "r-7".into(),
        service: "edge-rules".into(),
        release: ReleaseId(CANDIDATE.into()),
        known_good: Some(ReleaseId(KNOWN_GOOD.into())),
        phase: PhaseKind::Baking,
        reason: None,
        revert: false,
        author: Some("alice".into()),
        change: sluice_core::change::ChangeRecord {
            message: Some("tighten the bot rule".into()),
            ticket: Some("OPS-42".into()),
            risk: Some(sluice_core::change::Risk::Medium),
            rollback_plan: None,
        },
        start_reason: None,
        break_glass: None,
        approvals: Default::default(),
        position: Some(Position { stage: 1, wave: 1 }),
        observed_ms: Some(60_000),
        probation_ms: rollout.plan.probation.0,
        outcome: None,
        emergency: false,
        created_at: AT,
        updated_at: Millis(AT.0 + 60_000),
        version: 9,
        bake_ends_at: Some(Millis(AT.0 + 360_000)),
        deadlines: vec![
            Deadline { what: "bake".into(), at: Millis(AT.0 + 360_000) },
            Deadline { what: "hold".into(), at: Millis(AT.0 + 1_260_000) },
        ],
        stages: vec![
            StageView {
                name: "dev".into(),
                targets: 1,
                bake_ms: 30_000,
                state: "passed".into(),
                waves: vec![wave("100%", 1, 1, "passed")],
                gates: Vec::new(),
            },
            StageView {
                name: "prod".into(),
                targets: 10,
                bake_ms: 300_000,
                state: "active".into(),
                waves: vec![wave("1", 1, 1, "passed"), wave("5%", 3, 2, "baking"), wave("100%", 10, 0, "pending")],
                gates: Vec::new(),
            },
        ],
        gates,
        touched: 4,
    }
}

pub fn target(id: &str, connected: bool, running: Option<&str>, desired: Option<&str>) -> TargetView {
    TargetView {
        id: TargetId(id.into()),
        labels: labels(&[("env", "prod"), ("proxy", "fl2")]),
        facts: labels(&[("os", "debian-12"), ("arch", "x86_64")]),
        first_seen: AT,
        last_seen: AT,
        connected,
        services: vec![TargetServiceView {
            service: "edge-rules".into(),
            desired: desired.map(|d| ReleaseId(d.into())),
            running: running.map(|r| ReleaseId(r.into())),
            known_good: Some(ReleaseId(KNOWN_GOOD.into())),
            last_failure: None,
        }],
    }
}

pub fn event(seq: u64, kind: &str, body: serde_json::Value) -> EventView {
    EventView {
        seq,
        at: Millis(AT.0 + seq * 1000),
        actor: "engine".into(),
        kind: kind.into(),
        rollout: Some("r-7".into()),
        service: Some("edge-rules".into()),
        body,
    }
}
