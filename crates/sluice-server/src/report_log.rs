//! Which targets reported (or got a health source's value), in order, so a rollout's step
//! re-reads only those members and remembers what the others told
//! ([`sluice_core::engine::Observations::reported_since`]). Bounded: a step asking about a
//! position older than the log holds is told "unknown" and reads every member.

use std::collections::VecDeque;

use sluice_core::release::TargetId;

/// Entries kept: 10 s of reports from 10,000 agents every 5 s (steps are at most a second or
/// so apart while anything is judged).
const MAX_ENTRIES: usize = 20_000;

#[derive(Debug, Default)]
pub struct ReportLog {
    /// The position of `targets[0]`.
    first: u64,
    targets: VecDeque<TargetId>,
}

impl ReportLog {
    /// `target` reported: its samples, release or last report time may have changed.
    pub fn push(&mut self, target: &TargetId) {
        self.targets.push_back(target.clone());
        if self.targets.len() > MAX_ENTRIES {
            self.targets.pop_front();
            self.first += 1;
        }
    }

    /// Where the log stands.
    pub fn position(&self) -> u64 {
        self.first + self.targets.len() as u64
    }

    /// Every target that reported after `position`; `None` if the log no longer reaches back
    /// that far (or `position` is not one it gave).
    pub fn since(&self, position: u64) -> Option<Vec<TargetId>> {
        let skip = usize::try_from(position.checked_sub(self.first)?).ok()?;
        if skip > self.targets.len() {
            return None;
        }
        Some(self.targets.range(skip..).cloned().collect())
    }

    /// Samples changed for targets nobody listed (a source's rings dropped): every earlier
    /// position becomes unknown.
    pub fn forget_all(&mut self) {
        self.first = self.position() + 1;
        self.targets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TargetId {
        TargetId::from(s)
    }

    #[test]
    fn lists_what_came_after_a_position_and_nothing_it_cannot_vouch_for() {
        let mut log = ReportLog::default();
        let p0 = log.position();
        log.push(&t("a"));
        let p1 = log.position();
        log.push(&t("b"));
        log.push(&t("a"));
        assert_eq!(log.since(p0), Some(vec![t("a"), t("b"), t("a")]));
        assert_eq!(log.since(p1), Some(vec![t("b"), t("a")]));
        assert_eq!(log.since(log.position()), Some(vec![]));
        assert_eq!(log.since(log.position() + 1), None, "a position it never gave");
        log.forget_all();
        assert_eq!(log.since(p1), None);
        let p2 = log.position();
        log.push(&t("c"));
        assert_eq!(log.since(p2), Some(vec![t("c")]));
    }

    #[test]
    fn a_position_older_than_the_bound_is_unknown() {
        let mut log = ReportLog::default();
        let p0 = log.position();
        for i in 0..=MAX_ENTRIES {
            log.push(&t(&format!("t{i}")));
        }
        assert_eq!(log.since(p0), None);
        assert_eq!(log.since(p0 + 1).map(|v| v.len()), Some(MAX_ENTRIES));
    }
}
