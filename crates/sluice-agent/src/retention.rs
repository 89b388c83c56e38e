//! Which releases stay on disk: the last N that were current, and always the current, the
//! previous and the known-good release, whatever N is.

use std::collections::BTreeSet;

use sluice_core::release::ReleaseId;

use crate::state::{HistoryEvent, ServiceState};

/// The releases to keep: current, previous and known-good, plus the `keep` most recent
/// distinct releases that became current (applied or rolled back to).
pub(crate) fn keep_set(state: &ServiceState, keep: usize) -> BTreeSet<ReleaseId> {
    let mut kept: BTreeSet<ReleaseId> =
        [&state.current, &state.previous, &state.known_good].into_iter().flatten().cloned().collect();
    let mut recent = BTreeSet::new();
    for entry in state.history.iter().rev() {
        if recent.len() >= keep {
            break;
        }
        if matches!(entry.event, HistoryEvent::Applied | HistoryEvent::RolledBack) {
            recent.insert(entry.release.clone());
        }
    }
    kept.extend(recent);
    kept
}

#[cfg(test)]
mod tests {
    use sluice_core::time::Millis;

    use super::*;
    use crate::state::HistoryEntry;

    fn state(events: &[(&str, HistoryEvent)]) -> ServiceState {
        let history = events
            .iter()
            .enumerate()
            .map(|(i, (r, event))| HistoryEntry {
                at: Millis(i as u64),
                release: (*r).into(),
                event: *event,
                reason: None,
            })
            .collect();
        ServiceState { history, ..Default::default() }
    }

    fn ids(set: &BTreeSet<ReleaseId>) -> Vec<&str> {
        set.iter().map(|r| r.0.as_str()).collect()
    }

    #[test]
    fn keeps_the_last_n_distinct_releases_that_were_current() {
        use HistoryEvent::*;
        let s = state(&[
            ("a", Applied),
            ("b", Applied),
            ("x", Refused),
            ("c", Applied),
            ("b", RolledBack),
            ("y", SwitchedBack),
        ]);
        assert_eq!(ids(&keep_set(&s, 2)), ["b", "c"]);
        assert_eq!(ids(&keep_set(&s, 5)), ["a", "b", "c"]);
        assert!(keep_set(&s, 0).is_empty());
    }

    #[test]
    fn always_keeps_current_previous_and_known_good() {
        use HistoryEvent::*;
        let mut s = state(&[("k", Applied), ("a", Applied), ("b", Applied), ("c", Applied)]);
        s.current = Some("c".into());
        s.previous = Some("b".into());
        s.known_good = Some("k".into());
        assert_eq!(ids(&keep_set(&s, 0)), ["b", "c", "k"]);
        assert_eq!(ids(&keep_set(&s, 1)), ["b", "c", "k"]);
    }
}
