//! The demo's fleet on paper: 48 targets in four stages, with the labels that decide who the
//! two outages hurt. Dev and test hold no fl1 + managed-ruleset target, so the 5 Dec kill
//! switch passes them and is caught in staging, the first stage that has one; prod holds many
//! (28% of its targets, as 28% of Cloudflare's traffic failed).

use super::edge_decision::{Proxy, Ruleset};

/// One target of the demo: an agent in front of one demo edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub env: &'static str,
    pub proxy: Proxy,
    pub ruleset: Ruleset,
}

impl Member {
    /// Whether the 5 Dec kill switch breaks this target.
    pub fn is_fl1_managed(&self) -> bool {
        self.proxy == Proxy::Fl1 && self.ruleset == Ruleset::Managed
    }
}

use Proxy::{Fl1, Fl2};
use Ruleset::{Managed, None as Plain};

/// (env, proxy, ruleset, count), in stage order.
const GROUPS: [(&str, Proxy, Ruleset, usize); 12] = [
    ("dev", Fl2, Managed, 1),
    ("dev", Fl1, Plain, 1),
    ("test", Fl2, Managed, 1),
    ("test", Fl1, Plain, 1),
    ("staging", Fl1, Managed, 1),
    ("staging", Fl2, Managed, 1),
    ("staging", Fl1, Plain, 1),
    ("staging", Fl2, Plain, 1),
    ("prod", Fl1, Managed, 11),
    ("prod", Fl2, Managed, 13),
    ("prod", Fl1, Plain, 7),
    ("prod", Fl2, Plain, 9),
];

/// The stages of the demo pipeline, in order.
pub const STAGES: [&str; 4] = ["dev", "test", "staging", "prod"];

/// Every member, numbered within its env (`prod-07`); prod's label mixes are interleaved so
/// neighbours differ.
pub fn members() -> Vec<Member> {
    let mut out = Vec::new();
    for env in STAGES {
        let mut pools: Vec<(Proxy, Ruleset, usize)> =
            GROUPS.iter().filter(|g| g.0 == env).map(|g| (g.1, g.2, g.3)).collect();
        let mut n = 0;
        while pools.iter().any(|p| p.2 > 0) {
            for pool in pools.iter_mut().filter(|p| p.2 > 0) {
                pool.2 -= 1;
                n += 1;
                out.push(Member { id: format!("{env}-{n:02}"), env, proxy: pool.0, ruleset: pool.1 });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_has_the_shape_the_story_needs() {
        let m = members();
        let count = |env: &str| m.iter().filter(|t| t.env == env).count();
        let broken = |env: &str| m.iter().filter(|t| t.env == env && t.is_fl1_managed()).count();
        assert_eq!([count("dev"), count("test"), count("staging"), count("prod")], [2, 2, 4, 40]);
        assert_eq!([broken("dev"), broken("test"), broken("staging"), broken("prod")], [0, 0, 1, 11]);
        let mut ids: Vec<&str> = m.iter().map(|t| t.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 48);
        assert!(m.iter().any(|t| t.id == "prod-40") && m.iter().any(|t| t.id == "dev-01"));
    }
}
