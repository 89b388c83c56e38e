//! How the demo edge answers one request, given its config and what it plays: the two
//! outages of the scenarios, reproduced as plain decisions (no real panic, no real Lua).
//!
//! - 5 Dec 2025: on the old proxy (`fl1`) serving the managed ruleset, a kill switch on a rule
//!   whose action is `execute` makes every request fail with the Lua error.
//! - 18 Nov 2025: a feature file with more than 200 entries overflows the new proxy's (`fl2`)
//!   preallocation (5xx); the old proxy keeps serving but scores every request as a bot (0).

use std::fmt;
use std::str::FromStr;

use super::edge_config::{EdgeConfig, RuleAction};

/// Features the new proxy preallocates for.
pub const FEATURE_LIMIT: usize = 200;

/// The Lua error of 5 Dec 2025, verbatim.
pub const EXECUTE_NIL: &str = "attempt to index field 'execute' (a nil value)";

/// Bot score of a normal request (1 = certainly a bot, 99 = certainly human).
const NORMAL_BOT_SCORE: u8 = 87;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    /// The old proxy (Lua).
    Fl1,
    /// The new proxy (Rust).
    Fl2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ruleset {
    Managed,
    None,
}

impl FromStr for Proxy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fl1" => Ok(Proxy::Fl1),
            "fl2" => Ok(Proxy::Fl2),
            _ => Err(format!("unknown proxy {s:?} (expected fl1 or fl2)")),
        }
    }
}

impl FromStr for Ruleset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "managed" => Ok(Ruleset::Managed),
            "none" => Ok(Ruleset::None),
            _ => Err(format!("unknown ruleset {s:?} (expected managed or none)")),
        }
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proxy::Fl1 => "fl1",
            Proxy::Fl2 => "fl2",
        })
    }
}

impl fmt::Display for Ruleset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ruleset::Managed => "managed",
            Ruleset::None => "none",
        })
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// The bot score given to the request (0 when scoring is broken).
    pub bot_score: u8,
}

impl Answer {
    fn ok(bot_score: u8) -> Answer {
        Answer { status: 200, body: "ok\n".into(), bot_score }
    }
    fn error(body: String) -> Answer {
        Answer { status: 500, body: format!("{body}\n"), bot_score: 0 }
    }
}

/// Answer a request with `config` (or the error loading it) on an edge playing `proxy` with
/// `ruleset`.
pub fn decide(config: &Result<EdgeConfig, String>, proxy: Proxy, ruleset: Ruleset) -> Answer {
    let config = match config {
        Ok(c) => c,
        Err(why) => return Answer::error(format!("edge config unusable: {why}")),
    };
    if proxy == Proxy::Fl1 && ruleset == Ruleset::Managed {
        let killed_execute =
            config.rules.iter().any(|r| r.action == RuleAction::Execute && config.killed.contains(&r.id));
        if killed_execute {
            return Answer::error(EXECUTE_NIL.into());
        }
    }
    if config.features > FEATURE_LIMIT {
        return match proxy {
            Proxy::Fl2 => Answer::error(format!(
                "bot management: {} features exceed the {FEATURE_LIMIT} preallocated \
                 (called `Result::unwrap()` on an `Err` value)",
                config.features
            )),
            Proxy::Fl1 => Answer::ok(0),
        };
    }
    Answer::ok(NORMAL_BOT_SCORE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::edge_config::Rule;

    fn rule(id: &str, action: RuleAction) -> Rule {
        Rule { id: id.into(), action, enabled: true }
    }

    fn config(killed: &[&str], features: usize) -> Result<EdgeConfig, String> {
        Ok(EdgeConfig {
            rules: vec![
                rule("r1", RuleAction::Block),
                rule("waf-test", RuleAction::Execute),
                rule("r3", RuleAction::Log),
            ],
            killed: killed.iter().map(|s| s.to_string()).collect(),
            features,
        })
    }

    fn check(cfg: &Result<EdgeConfig, String>, proxy: Proxy, ruleset: Ruleset, status: u16, bot_score: u8) -> Answer {
        let a = decide(cfg, proxy, ruleset);
        assert_eq!((a.status, a.bot_score), (status, bot_score), "{proxy} {ruleset}: {a:?}");
        a
    }

    #[test]
    fn a_healthy_config_serves_everywhere() {
        for proxy in [Proxy::Fl1, Proxy::Fl2] {
            for ruleset in [Ruleset::Managed, Ruleset::None] {
                check(&config(&[], 60), proxy, ruleset, 200, NORMAL_BOT_SCORE);
                check(&Ok(EdgeConfig::default()), proxy, ruleset, 200, NORMAL_BOT_SCORE);
            }
        }
    }

    #[test]
    fn a_kill_switch_on_an_execute_rule_breaks_only_fl1_with_the_managed_ruleset() {
        let cfg = config(&["waf-test"], 60);
        let a = check(&cfg, Proxy::Fl1, Ruleset::Managed, 500, 0);
        assert_eq!(a.body.trim(), EXECUTE_NIL);
        check(&cfg, Proxy::Fl1, Ruleset::None, 200, NORMAL_BOT_SCORE);
        check(&cfg, Proxy::Fl2, Ruleset::Managed, 200, NORMAL_BOT_SCORE);
        check(&cfg, Proxy::Fl2, Ruleset::None, 200, NORMAL_BOT_SCORE);
    }

    #[test]
    fn a_kill_switch_on_other_rules_is_harmless() {
        check(&config(&["r1", "r3", "no-such-rule"], 60), Proxy::Fl1, Ruleset::Managed, 200, NORMAL_BOT_SCORE);
    }

    #[test]
    fn too_many_features_fail_fl2_and_zero_fl1_bot_scores() {
        let cfg = config(&[], 220);
        let a = check(&cfg, Proxy::Fl2, Ruleset::Managed, 500, 0);
        assert!(a.body.contains("220 features"), "{}", a.body);
        check(&cfg, Proxy::Fl2, Ruleset::None, 500, 0);
        check(&cfg, Proxy::Fl1, Ruleset::Managed, 200, 0);
        check(&cfg, Proxy::Fl1, Ruleset::None, 200, 0);
        check(&config(&[], FEATURE_LIMIT), Proxy::Fl2, Ruleset::None, 200, NORMAL_BOT_SCORE);
    }

    #[test]
    fn an_unreadable_config_is_a_500_not_a_panic() {
        let a = check(&Err("rules.json is not valid: EOF".into()), Proxy::Fl2, Ruleset::None, 500, 0);
        assert!(a.body.contains("rules.json"));
    }

    #[test]
    fn labels_parse_and_print() {
        assert_eq!("fl1".parse::<Proxy>().unwrap().to_string(), "fl1");
        assert_eq!("none".parse::<Ruleset>().unwrap(), Ruleset::None);
        assert!("fl3".parse::<Proxy>().is_err());
        assert!("".parse::<Ruleset>().is_err());
    }
}
