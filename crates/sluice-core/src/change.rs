//! The change record every rollout carries: what the change is (message), where it is tracked
//! (ticket), how risky its author says it is, and the rollback plan beside the automatic one.
//! A pipeline's stages say what a change must carry to go through them ([`RecordRules`]);
//! [`ChangeRecord::missing`] names what is missing, so the server and the simulator refuse the
//! same starts.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::PipelineSpec;

/// How risky the author says a change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    pub const ALL: [Risk; 3] = [Risk::Low, Risk::Medium, Risk::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Risk {
    type Err = String;

    fn from_str(s: &str) -> Result<Risk, String> {
        Risk::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!(
                "unknown risk {s:?}: one of {}",
                Risk::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
            )
        })
    }
}

/// What a change says about itself. The author is the rollout's ([`crate::engine::Rollout::author`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// What the change does and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Where it is tracked: a URL or an id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// `None`: not stated; rules treat it as `high` (missing data never passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    /// The plan beside the automatic one (every touched target back to known-good), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_plan: Option<String>,
}

/// Longest message, ticket or rollback plan accepted, in bytes.
pub const MAX_FIELD_BYTES: usize = 4096;

impl ChangeRecord {
    /// Trimmed, blank fields dropped; a field over [`MAX_FIELD_BYTES`] or a ticket with a line
    /// break is refused, naming it.
    pub fn normalized(self) -> Result<ChangeRecord, String> {
        let clean = |what: &str, v: Option<String>| -> Result<Option<String>, String> {
            let Some(v) = v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) else { return Ok(None) };
            if v.len() > MAX_FIELD_BYTES {
                return Err(format!("the change record's {what} is {} bytes; at most {MAX_FIELD_BYTES}", v.len()));
            }
            Ok(Some(v))
        };
        let ticket = clean("ticket", self.ticket)?;
        if ticket.as_ref().is_some_and(|t| t.contains(['\n', '\r'])) {
            return Err("the change record's ticket is one line (a URL or an id)".into());
        }
        Ok(ChangeRecord {
            message: clean("message", self.message)?,
            ticket,
            risk: self.risk,
            rollback_plan: clean("rollback plan", self.rollback_plan)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == ChangeRecord::default()
    }

    /// The risk rules judge by: as stated, else `high`.
    pub fn judged_risk(&self) -> Risk {
        self.risk.unwrap_or(Risk::High)
    }

    /// What this record lacks to go through `pipeline`, one line per missing field naming the
    /// stage that asks for it and the option that gives it. Empty when nothing is missing.
    pub fn missing(&self, pipeline: &PipelineSpec) -> Vec<String> {
        let risk = self.judged_risk();
        let risk_words = match self.risk {
            Some(r) => format!("risk {r}"),
            None => "risk not stated, so judged high".to_string(),
        };
        let mut out = Vec::new();
        let mut need = |field: &str, flag: &str, stage: &str, why: String| {
            if !out.iter().any(|l: &String| l.starts_with(&format!("{field} "))) {
                out.push(format!("{field} is required (give {flag}): stage {stage} {why}"));
            }
        };
        for stage in &pipeline.stages {
            let rules = &stage.requires;
            if rules.message && self.message.is_none() {
                need("a message", "--message", &stage.name, "asks every change for one".into());
            }
            if let Some(from) = rules.ticket_from
                && risk >= from
                && self.ticket.is_none()
            {
                need(
                    "a ticket",
                    "--ticket",
                    &stage.name,
                    format!("asks for one at risk {from} and above ({risk_words})"),
                );
            }
            if let Some(from) = rules.rollback_plan_from
                && risk >= from
                && self.rollback_plan.is_none()
            {
                need(
                    "a rollback plan",
                    "--rollback-plan",
                    &stage.name,
                    format!("asks for one at risk {from} and above ({risk_words})"),
                );
            }
        }
        out
    }
}

/// What a change must carry to go through a stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRules {
    /// Every change needs a message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub message: bool,
    /// A change at this risk or above needs a ticket (`low`: every change). A change whose
    /// risk is not stated counts as `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_from: Option<Risk>,
    /// A change at this risk or above needs a rollback plan in words, beside the automatic one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_plan_from: Option<Risk>,
}

impl RecordRules {
    pub fn is_empty(&self) -> bool {
        *self == RecordRules::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(requires: &str) -> PipelineSpec {
        let text = format!(
            "services: {{}}\npipelines:\n  p:\n    stages:\n      - name: dev\n        selector: {{env: dev}}\n        gates: [{{threshold: {{name: e, metric: error_rate, max: 0.1}}}}]\n      - name: prod\n        selector: {{env: prod}}\n        gates: [{{threshold: {{name: e, metric: error_rate, max: 0.1}}}}]\n        requires: {requires}\n"
        );
        let spec = crate::spec::parse_spec("t.yaml", &text).expect("test spec parses");
        spec.pipelines["p"].clone()
    }

    #[test]
    fn a_high_risk_change_needs_a_ticket_where_a_stage_asks_and_an_unstated_risk_counts_as_high() {
        let p = pipeline("{message: true, ticket_from: high}");
        let mut rec = ChangeRecord { message: Some("bump".into()), risk: Some(Risk::Medium), ..Default::default() };
        assert!(rec.missing(&p).is_empty(), "{:?}", rec.missing(&p));
        rec.risk = Some(Risk::High);
        let missing = rec.missing(&p);
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].contains("--ticket") && missing[0].contains("stage prod"), "{missing:?}");
        rec.risk = None;
        let missing = rec.missing(&p);
        assert!(missing[0].contains("risk not stated, so judged high"), "{missing:?}");
        rec.ticket = Some("OPS-1".into());
        assert!(rec.missing(&p).is_empty());
        rec.message = None;
        assert!(rec.missing(&p)[0].contains("--message"));
    }

    #[test]
    fn blank_fields_drop_and_a_multi_line_ticket_is_refused() {
        let rec = ChangeRecord { message: Some("  ".into()), ticket: Some(" OPS-2 ".into()), ..Default::default() };
        let rec = rec.normalized().expect("valid");
        assert_eq!((rec.message, rec.ticket.as_deref()), (None, Some("OPS-2")));
        let bad = ChangeRecord { ticket: Some("a\nb".into()), ..Default::default() }.normalized();
        assert!(bad.expect_err("refused").contains("one line"));
        assert_eq!("severe".parse::<Risk>().expect_err("unknown"), "unknown risk \"severe\": one of low, medium, high");
    }
}
