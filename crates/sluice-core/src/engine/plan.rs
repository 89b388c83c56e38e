//! The plan of a rollout: which targets each stage holds, in which order waves take them, and
//! where each wave ends. Computed once when a rollout starts and frozen with it, so a restart or
//! a replay sees the same waves.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::labels::Labels;
use crate::release::TargetId;
use crate::spec::{
    ApprovalSpec, CanaryOrder, CoverageSpec, DEFAULT_APPLY_TIMEOUT, DEFAULT_HOLD_TIMEOUT, EmergencyApprovals,
    EmergencyWaves, GateSpec, OnSilent, PipelineSpec, WaveSize,
};
use crate::time::Dur;

/// A target as the planner needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub id: TargetId,
    pub labels: Labels,
    /// Share of the fleet's traffic this target serves, for previews (0 when unknown).
    #[serde(default)]
    pub traffic_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePlan {
    pub name: String,
    /// The stage's targets in wave order: wave `w` covers `targets[..wave_ends[w]]`.
    pub targets: Vec<TargetId>,
    /// Cumulative end of each wave; non-decreasing, the last equals `targets.len()`.
    pub wave_ends: Vec<usize>,
    /// The wave sizes as written (`1%`, `10`), for messages.
    pub wave_sizes: Vec<String>,
    pub bake: Dur,
    pub gates: Vec<GateSpec>,
    pub approval: bool,
    /// How many approvals the stage needs, from whom (with `approval`; `None` in plans stored
    /// before counts existed: one approver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalSpec>,
    pub coverage: Option<CoverageSpec>,
    /// For each label a gate breaks down by or coverage looks at: the value per target,
    /// aligned with `targets` (empty string when the target lacks the label).
    pub label_values: BTreeMap<String, Vec<String>>,
    /// Sum of the stage's targets' traffic shares.
    pub traffic_share: f64,
    /// Traffic share covered by each wave (cumulative).
    pub wave_traffic: Vec<f64>,
    /// As the stage's spec says (`None`: three report intervals).
    #[serde(default)]
    pub silent_after: Option<Dur>,
    #[serde(default)]
    pub on_silent: OnSilent,
    #[serde(default = "default_apply_timeout")]
    pub apply_timeout: Dur,
    #[serde(default)]
    pub max_unconfirmed: Option<WaveSize>,
    #[serde(default = "default_hold_timeout")]
    pub hold_timeout: Dur,
    /// How many of the stage's targets may be out of service at once (`None`: unbounded),
    /// resolved against the stage's size (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<usize>,
}

fn default_apply_timeout() -> Dur {
    DEFAULT_APPLY_TIMEOUT
}

fn default_hold_timeout() -> Dur {
    DEFAULT_HOLD_TIMEOUT
}

impl StagePlan {
    /// How many members of a wave of `n` may miss the apply deadline.
    pub fn unconfirmed_allowed(&self, n: usize) -> usize {
        match self.max_unconfirmed {
            None => 0,
            Some(WaveSize::Count(c)) => usize::try_from(c).unwrap_or(usize::MAX),
            Some(WaveSize::Percent(p)) => ((p / 100.0) * n as f64).floor() as usize,
        }
    }

    /// The approvals the stage needs before it starts, if it needs any.
    pub fn approval_rule(&self) -> Option<ApprovalSpec> {
        if !self.approval {
            return None;
        }
        Some(self.approvals.clone().unwrap_or_else(ApprovalSpec::one))
    }

    /// Where wave `wave` ends (how many of the stage's targets it covers).
    pub fn wave_end(&self, wave: usize) -> usize {
        self.wave_ends.get(wave).copied().unwrap_or(0).min(self.targets.len())
    }

    /// Label `label` of the target at `index` in `targets`.
    pub fn label_of(&self, label: &str, index: usize) -> Option<&str> {
        self.label_values.get(label).and_then(|v| v.get(index)).map(String::as_str)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub stages: Vec<StagePlan>,
    /// How long every stage stays judged after the last wave before the release becomes
    /// known-good.
    #[serde(default)]
    pub probation: Dur,
    /// Where each target is (stage, index in its wave order), built on first use.
    #[serde(skip)]
    index: TargetIndex,
}

/// A lookup built from the plan on first use: not part of the plan's value (equal plans have
/// equal indexes), never serialized.
#[derive(Debug, Clone, Default)]
struct TargetIndex(std::sync::OnceLock<std::collections::HashMap<TargetId, (usize, usize)>>);

impl PartialEq for TargetIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// What orders a plan's waves: `stable` stages use the service's seed (the same hosts first in
/// every rollout of it), `rotate` stages the rollout's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeds {
    pub stable: u64,
    pub rotate: u64,
}

impl Seeds {
    /// The stable seed of `service`, and `rollout` for rotating stages.
    pub fn for_service(service: &str, rollout: u64) -> Seeds {
        Seeds { stable: mix(0, service), rotate: rollout }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no target matches any stage of the pipeline ({0} targets known)")]
    NoTargets(usize),
    #[error(
        "stage {stage:?} selects no target ({known} targets known): fix its selector, or set `allow_empty: true` to skip it"
    )]
    EmptyStage { stage: String, known: usize },
}

impl Plan {
    /// The stage and the index in its wave order of `target`, if the plan covers it.
    pub fn locate(&self, target: &TargetId) -> Option<(usize, usize)> {
        self.index
            .0
            .get_or_init(|| {
                let mut m = std::collections::HashMap::new();
                for (s, sp) in self.stages.iter().enumerate() {
                    for (i, t) in sp.targets.iter().enumerate() {
                        // A target in two stages (never planned so): the first wins, as in `touched`.
                        m.entry(t.clone()).or_insert((s, i));
                    }
                }
                m
            })
            .get(target)
            .copied()
    }

    /// Assign each target to the first stage that selects it, order each stage's targets for
    /// waves (spread over the `spread_by` labels, then by a seeded hash), and cut the waves.
    /// With `emergency`, the pipeline's emergency profile applies: bakes capped, each stage's
    /// first wave then the rest at once (unless `waves: as_written`), approvals replaced by one
    /// if it says so; every stage's first wave and every gate stay.
    pub fn new(
        pipeline: &PipelineSpec,
        targets: &[TargetInfo],
        seeds: Seeds,
        emergency: bool,
    ) -> Result<Plan, PlanError> {
        let mut per_stage: Vec<Vec<&TargetInfo>> = vec![Vec::new(); pipeline.stages.len()];
        for t in targets {
            if let Some(i) = pipeline.stages.iter().position(|s| s.selector.matches(&t.labels)) {
                per_stage[i].push(t);
            }
        }
        if per_stage.iter().all(Vec::is_empty) {
            return Err(PlanError::NoTargets(targets.len()));
        }
        if let Some((spec, _)) = pipeline.stages.iter().zip(&per_stage).find(|(s, m)| m.is_empty() && !s.allow_empty) {
            return Err(PlanError::EmptyStage { stage: spec.name.clone(), known: targets.len() });
        }
        // Coverage compares label combinations across stages, so every stage records them.
        let coverage_keys: BTreeSet<String> = pipeline
            .stages
            .iter()
            .filter_map(|s| s.require_coverage.as_ref())
            .flat_map(|c| c.labels.iter().cloned())
            .collect();
        let mut stages = Vec::with_capacity(pipeline.stages.len());
        for (spec, mut members) in pipeline.stages.iter().zip(per_stage) {
            let spread: Vec<String> = if !spec.spread_by.is_empty() {
                spec.spread_by.clone()
            } else {
                spec.require_coverage.as_ref().map(|c| c.labels.clone()).unwrap_or_default()
            };
            let seed = match spec.canary {
                CanaryOrder::Stable => seeds.stable,
                CanaryOrder::Rotate => seeds.rotate,
            };
            order_for_waves(&mut members, &spread, seed);
            let n = members.len();
            let waves: Vec<WaveSize> = match (emergency, pipeline.emergency.waves, spec.waves.as_slice()) {
                (true, EmergencyWaves::FirstThenRest, [first, _, ..]) => vec![*first, WaveSize::Percent(100.0)],
                _ => spec.waves.clone(),
            };
            let mut wave_ends = Vec::with_capacity(waves.len());
            let mut last = 0usize;
            for w in &waves {
                // Cumulative and never shrinking, whatever mix of counts and percentages.
                last = last.max(w.targets_of(n));
                wave_ends.push(last);
            }
            if let Some(e) = wave_ends.last_mut() {
                *e = n;
            }
            let mut label_keys: BTreeSet<String> =
                spec.gates.iter().filter_map(|g| g.per_label().map(str::to_string)).collect();
            label_keys.extend(coverage_keys.iter().cloned());
            let label_values = label_keys
                .into_iter()
                .map(|k| {
                    let vals = members.iter().map(|t| t.labels.get(&k).cloned().unwrap_or_default()).collect();
                    (k, vals)
                })
                .collect();
            let mut acc = 0.0;
            let mut cum = Vec::with_capacity(n);
            for t in &members {
                acc += t.traffic_share;
                cum.push(acc);
            }
            let wave_traffic = wave_ends.iter().map(|&e| if e == 0 { 0.0 } else { cum[e - 1] }).collect();
            let bake = if emergency { spec.bake.min(pipeline.emergency.max_bake) } else { spec.bake };
            let approvals = match (emergency, pipeline.emergency.approvals, spec.approval_rule()) {
                (true, EmergencyApprovals::One, Some(rule)) => Some(ApprovalSpec { count: 1, ..rule }),
                (_, _, rule) => rule,
            };
            stages.push(StagePlan {
                name: spec.name.clone(),
                targets: members.iter().map(|t| t.id.clone()).collect(),
                wave_ends,
                wave_sizes: waves.iter().map(ToString::to_string).collect(),
                bake,
                gates: spec.gates.clone(),
                approval: approvals.is_some(),
                approvals,
                coverage: spec.require_coverage.clone(),
                label_values,
                traffic_share: acc,
                wave_traffic,
                silent_after: spec.silent_after,
                on_silent: spec.on_silent,
                apply_timeout: spec.apply_timeout,
                max_unconfirmed: spec.max_unconfirmed,
                hold_timeout: spec.hold_timeout,
                max_unavailable: spec.max_unavailable.map(|m| unavailable_allowed(m, n)),
            });
        }
        Ok(Plan { stages, probation: pipeline.probation(emergency), index: TargetIndex::default() })
    }
}

/// `max_unavailable` of a stage of `n` targets: a share rounds down, and at least one target may
/// always be out (else nothing could ever move).
fn unavailable_allowed(m: WaveSize, n: usize) -> usize {
    let allowed = match m {
        WaveSize::Count(c) => usize::try_from(c).unwrap_or(usize::MAX),
        WaveSize::Percent(p) => ((p / 100.0) * n as f64).floor() as usize,
    };
    allowed.max(1)
}

/// Seeded order: round-robin over the combinations of `spread` labels (each combination's
/// members in hash order), so the first wave holds one target of as many variants as it can.
fn order_for_waves(members: &mut Vec<&TargetInfo>, spread: &[String], seed: u64) {
    members.sort_by_cached_key(|t| (mix(seed, &t.id.0), t.id.clone()));
    if spread.is_empty() {
        return;
    }
    let mut groups: BTreeMap<Vec<String>, Vec<&TargetInfo>> = BTreeMap::new();
    for t in members.iter() {
        let key = spread.iter().map(|l| t.labels.get(l).cloned().unwrap_or_default()).collect();
        groups.entry(key).or_default().push(t);
    }
    // Groups in a seeded order too, so no variant is always first.
    let mut groups: Vec<(u64, Vec<&TargetInfo>)> =
        groups.into_iter().map(|(k, v)| (mix(seed, &k.join("\u{1f}")), v)).collect();
    groups.sort_by_key(|(h, _)| *h);
    let mut out = Vec::with_capacity(members.len());
    let mut round = 0;
    while out.len() < members.len() {
        for (_, g) in &groups {
            if let Some(t) = g.get(round) {
                out.push(*t);
            }
        }
        round += 1;
    }
    *members = out;
}

/// A stable 64-bit mix of a seed and a string (FNV-1a then splitmix64), for ordering only.
pub fn mix(seed: u64, s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
