//! Labels on targets and the selectors that pick stages out of a fleet.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A target's labels (`env=prod`, `proxy=fl1`) and discovered facts (`os=debian-12`), one map.
pub type Labels = BTreeMap<String, String>;

/// One allowed value or a list of allowed values for a label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum LabelMatch {
    /// The label must have exactly this value.
    Is(String),
    /// The label must have one of these values.
    OneOf(Vec<String>),
}

/// A label selector: every key must match. An empty selector matches every target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Selector(pub BTreeMap<String, LabelMatch>);

impl Selector {
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0.iter().all(|(k, m)| match (labels.get(k), m) {
            (Some(v), LabelMatch::Is(want)) => v == want,
            (Some(v), LabelMatch::OneOf(want)) => want.iter().any(|w| w == v),
            (None, _) => false,
        })
    }

    /// `env=prod,proxy in (fl1, fl2)` — for messages.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "(all targets)".into();
        }
        self.0
            .iter()
            .map(|(k, m)| match m {
                LabelMatch::Is(v) => format!("{k}={v}"),
                LabelMatch::OneOf(vs) => format!("{k} in ({})", vs.join(", ")),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn selector_matching() {
        let mut s = Selector::default();
        assert!(s.matches(&labels(&[])));
        s.0.insert("env".into(), LabelMatch::Is("prod".into()));
        assert!(s.matches(&labels(&[("env", "prod"), ("proxy", "fl1")])));
        assert!(!s.matches(&labels(&[("env", "staging")])));
        assert!(!s.matches(&labels(&[("proxy", "fl1")])));
        s.0.insert("proxy".into(), LabelMatch::OneOf(vec!["fl1".into(), "fl2".into()]));
        assert!(s.matches(&labels(&[("env", "prod"), ("proxy", "fl2")])));
        assert!(!s.matches(&labels(&[("env", "prod"), ("proxy", "fl3")])));
        assert_eq!(s.describe(), "env=prod,proxy in (fl1, fl2)");
    }
}
