//! Start-time policy: what a rollout must satisfy to start, judged the same way by the server
//! and the simulator.
//!
//! Some things are refused outright — a change record lacking what a stage asks for, an
//! emergency without a reason. Others are side doors that only broken glass opens, with a
//! reason and a second person's approval: a pipeline the service does not list, and a plan that
//! would put more of prod (the pipeline's last stage) on the release before any of it was
//! judged than the pipeline's `max_blast` allows.

use crate::change::ChangeRecord;
use crate::engine::{BreakGlass, TargetInfo};
use crate::spec::{PipelineSpec, ServiceSpec, WaveSize};

/// The most of prod a rollout may expose before any of it was judged, when the pipeline does
/// not say.
pub const DEFAULT_MAX_BLAST: WaveSize = WaveSize::Percent(25.0);

/// A start to judge.
#[derive(Debug, Clone, Copy)]
pub struct StartRequest<'a> {
    pub service: &'a str,
    pub spec: &'a ServiceSpec,
    pub pipeline_name: &'a str,
    pub pipeline: &'a PipelineSpec,
    /// The fleet the rollout would plan over.
    pub targets: &'a [TargetInfo],
    pub change: &'a ChangeRecord,
    pub emergency: bool,
    pub reason: Option<&'a str>,
}

/// Why a start may not go ahead as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartRefusal {
    /// Missing what the policy asks for; broken glass does not help.
    #[error("{}", .0.join("; "))]
    Refused(Vec<String>),
    /// A side door: allowed only with `--break-glass --reason` and a second person's approval.
    #[error("{} (this needs --break-glass --reason TEXT and a second person's approval)", .0.join("; "))]
    NeedsBreakGlass(Vec<String>),
    /// Broken glass asked for with nothing to break.
    #[error("the policy refuses nothing about this rollout: start it without --break-glass")]
    NothingToBreak,
}

/// What the policy says about a start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartVerdict {
    /// Refused whatever happens.
    pub refused: Vec<String>,
    /// Refused unless broken glass lets it through.
    pub side_doors: Vec<String>,
}

impl StartVerdict {
    /// The break glass the rollout starts with (`None`: not needed), or why it may not start.
    /// `glass_reason` is the `--break-glass --reason` given, if any.
    pub fn resolve(self, glass_reason: Option<&str>) -> Result<Option<BreakGlass>, StartRefusal> {
        if !self.refused.is_empty() {
            return Err(StartRefusal::Refused(self.refused));
        }
        match (glass_reason.map(str::trim).filter(|r| !r.is_empty()), self.side_doors.is_empty()) {
            (None, true) => Ok(None),
            (None, false) => Err(StartRefusal::NeedsBreakGlass(self.side_doors)),
            (Some(_), true) => Err(StartRefusal::NothingToBreak),
            (Some(reason), false) => {
                Ok(Some(BreakGlass { reason: reason.to_string(), skips: self.side_doors, approved: None }))
            }
        }
    }
}

/// Judge a start (not a revert: the way back is never refused).
pub fn judge_start(req: &StartRequest<'_>) -> StartVerdict {
    let mut v = StartVerdict::default();
    if req.emergency && req.reason.is_none_or(|r| r.trim().is_empty()) {
        v.refused.push("an emergency rollout needs a reason (--reason)".into());
    }
    v.refused.extend(req.change.missing(req.pipeline));
    if !req.spec.allows_pipeline(req.pipeline_name) {
        let mut listed = vec![req.spec.pipeline.as_str()];
        listed.extend(req.spec.pipelines.iter().map(String::as_str));
        v.side_doors.push(format!(
            "service {} may use pipeline {} only (its `pipeline` and `pipelines`), not {}",
            req.service,
            listed.join(", "),
            req.pipeline_name
        ));
    }
    if let Some(blast) = blast(req.pipeline, req.targets) {
        v.side_doors.push(blast);
    }
    v
}

/// How many of a stage of `n` targets `max` lets take a release before any was judged: a share
/// rounds down, and one target always may.
fn blast_allowed(max: WaveSize, n: usize) -> usize {
    let allowed = match max {
        WaveSize::Count(c) => usize::try_from(c).unwrap_or(usize::MAX),
        WaveSize::Percent(p) => ((p / 100.0) * n as f64).floor() as usize,
    };
    allowed.max(1)
}

/// The refusal if the last stage's first wave exposes more of it than `max_blast`.
fn blast(pipeline: &PipelineSpec, targets: &[TargetInfo]) -> Option<String> {
    let last = pipeline.stages.len().checked_sub(1)?;
    let stage = &pipeline.stages[last];
    let n = targets
        .iter()
        .filter(|t| pipeline.stages.iter().position(|s| s.selector.matches(&t.labels)) == Some(last))
        .count();
    if n == 0 {
        return None;
    }
    let first = stage.waves.first()?.targets_of(n);
    let max = pipeline.max_blast.unwrap_or(DEFAULT_MAX_BLAST);
    let allowed = blast_allowed(max, n);
    (first > allowed).then(|| {
        format!(
            "stage {} (prod) would put {first} of its {n} targets on the release in its first wave, before any was judged; the pipeline's max_blast ({max}) allows {allowed}",
            stage.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;
    use crate::release::TargetId;
    use crate::spec::parse_spec;

    fn spec(waves: &str, extra: &str) -> crate::spec::Spec {
        let text = format!(
            "services:\n  web:\n    pipeline: gradual\n{extra}pipelines:\n  gradual:\n    stages:\n      - name: prod\n        selector: {{env: prod}}\n        waves: {waves}\n        gates: [{{threshold: {{name: e, metric: error_rate, max: 0.1}}}}]\n  fast:\n    stages:\n      - name: prod\n        selector: {{env: prod}}\n        gates: [{{threshold: {{name: e, metric: error_rate, max: 0.1}}}}]\n"
        );
        parse_spec("t.yaml", &text).expect("test spec parses")
    }

    fn fleet(n: usize) -> Vec<TargetInfo> {
        (0..n)
            .map(|i| TargetInfo {
                id: TargetId(format!("t{i}")),
                labels: Labels::from([("env".to_string(), "prod".to_string())]),
                traffic_share: 0.0,
            })
            .collect()
    }

    fn judge(spec: &crate::spec::Spec, pipeline: &str, n: usize) -> StartVerdict {
        let change = ChangeRecord::default();
        let targets = fleet(n);
        judge_start(&StartRequest {
            service: "web",
            spec: &spec.services["web"],
            pipeline_name: pipeline,
            pipeline: &spec.pipelines[pipeline],
            targets: &targets,
            change: &change,
            emergency: false,
            reason: None,
        })
    }

    #[test]
    fn all_of_prod_at_once_or_an_unlisted_pipeline_needs_broken_glass() {
        let s = spec("[1, \"100%\"]", "");
        assert_eq!(judge(&s, "gradual", 40), StartVerdict::default());
        // One target of a small prod is always allowed.
        assert_eq!(judge(&s, "gradual", 2), StartVerdict::default());
        let v = judge(&s, "fast", 40);
        assert_eq!(v.side_doors.len(), 2, "{v:?}");
        assert!(v.side_doors[0].contains("may use pipeline gradual only"), "{v:?}");
        assert!(v.side_doors[1].contains("40 of its 40 targets") && v.side_doors[1].contains("allows 10"), "{v:?}");
        let refusal = v.clone().resolve(None).expect_err("refused");
        assert!(refusal.to_string().contains("--break-glass"), "{refusal}");
        let glass = v.resolve(Some("sev1, edge down")).expect("glass").expect("needed");
        assert_eq!(glass.skips.len(), 2);
        assert_eq!(judge(&s, "gradual", 40).resolve(Some("why")), Err(StartRefusal::NothingToBreak));
        // Listed, it is no side door; its blast still is.
        let s = spec("[1, \"100%\"]", "    pipelines: [fast]\n");
        assert_eq!(judge(&s, "fast", 40).side_doors.len(), 1);
    }

    #[test]
    fn a_first_wave_over_max_blast_is_a_side_door() {
        let s = spec("[\"50%\", \"100%\"]", "");
        let v = judge(&s, "gradual", 10);
        assert!(v.side_doors[0].contains("5 of its 10") && v.side_doors[0].contains("(25%) allows 2"), "{v:?}");
    }
}
