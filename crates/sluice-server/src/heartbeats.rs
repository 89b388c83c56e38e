//! Heartbeats off the decision path. A report changes the in-memory fleet at once (the driver
//! judges from there); what the store keeps of it — a target's last-seen time and changed
//! facts — is noted here and written by one task in one transaction per [`FLUSH_EVERY`],
//! whatever the fleet's size. A report never waits on the store's write lock or an fsync, and
//! never competes with rollout decisions for it more than once a second.
//!
//! A crash loses at most the last second of last-seen times: the fleet is rebuilt from the
//! store at start, and an agent's next report writes its facts again if they differ from what
//! the store has.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sluice_core::release::TargetId;
use sluice_store::TargetUpsert;

use crate::app::SharedApp;

/// How often noted heartbeats are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Heartbeats noted since the last write, the latest per target.
#[derive(Debug, Default)]
pub struct Heartbeats {
    pending: Mutex<BTreeMap<TargetId, TargetUpsert>>,
}

impl Heartbeats {
    /// Note a target's latest state for the store (replaces an older note of it).
    pub fn note(&self, upsert: TargetUpsert) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        match pending.get(&upsert.id) {
            Some(old) if old.seen_at > upsert.seen_at => {}
            _ => {
                pending.insert(upsert.id.clone(), upsert);
            }
        }
    }

    /// Notes not written yet.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn take(&self) -> Vec<TargetUpsert> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner)).into_values().collect()
    }

    /// Put back notes a failed write did not keep (newer notes of the same target win).
    fn put_back(&self, notes: Vec<TargetUpsert>) {
        for n in notes {
            self.note(n);
        }
    }
}

/// Write what was noted, in one transaction; on failure keep it for the next try.
async fn flush(app: &SharedApp) {
    let notes = app.heartbeats.take();
    if notes.is_empty() {
        return;
    }
    if let Err(e) = app.store.upsert_targets(&notes).await {
        tracing::warn!(error = %e, targets = notes.len(), "cannot write heartbeats; trying again");
        app.heartbeats.put_back(notes);
    }
}

/// The writer task: every [`FLUSH_EVERY`], and once more at shutdown.
pub async fn run(app: SharedApp) {
    let mut shutdown = app.shutdown.clone();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stop = tokio::select! {
            _ = tick.tick() => false,
            _ = shutdown.wait_for(|s| *s) => true,
        };
        if stop {
            break;
        }
        flush(&app).await;
    }
    flush(&app).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::time::Millis;

    fn up(id: &str, at: u64, os: &str) -> TargetUpsert {
        TargetUpsert {
            id: TargetId::from(id),
            labels: Default::default(),
            facts: [("os".to_string(), os.to_string())].into_iter().collect(),
            seen_at: Millis(at),
        }
    }

    #[test]
    fn the_latest_note_of_a_target_wins_and_a_failed_write_keeps_newer_notes() {
        let h = Heartbeats::default();
        h.note(up("a", 10, "debian-12"));
        h.note(up("a", 20, "debian-13"));
        h.note(up("a", 15, "stale"));
        h.note(up("b", 5, "x"));
        assert_eq!(h.len(), 2);
        let taken = h.take();
        assert_eq!(h.len(), 0);
        assert_eq!(taken[0].seen_at, Millis(20));
        assert_eq!(taken[0].facts.get("os").map(String::as_str), Some("debian-13"));
        // A newer note arrived while the write failed: it is kept, the old one not restored.
        h.note(up("a", 30, "debian-13"));
        h.put_back(taken);
        let again = h.take();
        assert_eq!(again.iter().find(|u| u.id.0 == "a").map(|u| u.seen_at), Some(Millis(30)));
        assert!(again.iter().any(|u| u.id.0 == "b"));
    }
}
