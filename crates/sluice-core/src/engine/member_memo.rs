//! What the engine read about each member at an earlier step — its gate sums, its last report
//! time, whether it runs the candidate — so a step re-reads only the members that reported
//! since: a step then costs O(changed targets) in reads of the fleet, plus a scan of plain
//! vectors, not O(wave) lookups.
//!
//! A member's gate sum depends on its samples in a window and on when it was told to apply.
//! It stays exact until the member reports (the shell's report log says which did:
//! [`Observations::reported_since`]), until the oldest sample it counted leaves the window, or
//! until a sample it saw beyond `now` comes into view — each sum keeps that time. What it runs
//! and when it last reported change only with a report. A shell without a log
//! (`report_position` is `None`) gets every member read on every step, as before. Either way
//! the engine decides the same: the memo is not state, so it is never serialized, a clone of a
//! rollout starts without it, and equality ignores it (the engine proptest steps a rollout with
//! the log beside one without and asserts the same actions, evaluations and state).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use super::gates::Agg;
use super::observe::Observations;
use super::plan::Plan;
use crate::release::{ReleaseId, TargetId};
use crate::time::Millis;

/// Which of a member's samples a sum covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Span {
    /// The candidate's samples since the member was told to apply, in the gate's window.
    Canary,
    /// Other releases' samples in the gate's window (a compare gate's baseline).
    Baseline,
    /// Other releases' samples in the window before the wave started.
    Before,
}

#[derive(Debug, Clone)]
struct Entry {
    agg: Agg,
    /// What the window was anchored on (when the member was told, when the wave started).
    anchor: Millis,
    computed: Millis,
    /// The sum stays exact while `now` is below this.
    until: Millis,
}

/// One gate's remembered sums in one stage, per span, indexed like the stage's targets.
#[derive(Debug, Default)]
pub(super) struct GateSums {
    spans: BTreeMap<Span, Vec<Option<Entry>>>,
}

impl GateSums {
    /// The sum for the member at `index`: remembered if still exact at `now`, else from
    /// `compute`, which returns it with the time until which it stays exact.
    pub(super) fn get(
        &mut self,
        span: Span,
        index: usize,
        anchor: Millis,
        now: Millis,
        compute: impl FnOnce() -> (Agg, Millis),
    ) -> Agg {
        let v = self.spans.entry(span).or_default();
        if v.len() <= index {
            v.resize(index + 1, None);
        }
        if let Some(e) = &v[index]
            && e.anchor == anchor
            && e.computed <= now
            && now < e.until
        {
            return e.agg.clone();
        }
        let (agg, until) = compute();
        v[index] = Some(Entry { agg: agg.clone(), anchor, computed: now, until });
        agg
    }

    fn forget(&mut self, index: usize) {
        for v in self.spans.values_mut() {
            if let Some(e) = v.get_mut(index) {
                *e = None;
            }
        }
    }
}

/// What a member last told: when it reported, and whether it runs the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    pub last_report: Option<Millis>,
    pub on_candidate: bool,
}

/// The memo's contents, reached through [`MemberMemo::with`].
#[derive(Debug, Default)]
pub(super) struct Memo {
    /// The shell's report log position at the last [`MemberMemo::sync`].
    position: Option<u64>,
    gates: BTreeMap<(usize, usize), GateSums>,
    seen: BTreeMap<usize, Vec<Option<Seen>>>,
}

impl Memo {
    /// One gate's sums in `stage`, by the gate's place in the stage.
    pub(super) fn gate(&mut self, stage: usize, gate: usize) -> &mut GateSums {
        self.gates.entry((stage, gate)).or_default()
    }

    /// What the member at `index` of `stage` (`target`) last told.
    pub(super) fn seen(
        &mut self,
        obs: &dyn Observations,
        (stage, index): (usize, usize),
        target: &TargetId,
        candidate: &ReleaseId,
    ) -> Seen {
        let v = self.seen.entry(stage).or_default();
        if v.len() <= index {
            v.resize(index + 1, None);
        }
        *v[index].get_or_insert_with(|| Seen {
            last_report: obs.last_report(target),
            on_candidate: obs.running(target) == Some(candidate),
        })
    }
}

/// A rollout's memo of its members (see the module docs). Behind a mutex so the engine's
/// `&self` checks can fill it; never held across anything but the engine's own loops.
#[derive(Default)]
pub struct MemberMemo(Mutex<Memo>);

impl MemberMemo {
    /// Forget what members that reported since the last call told (everything, when the shell
    /// keeps no log or it does not reach back that far).
    pub(super) fn sync(&self, plan: &Plan, obs: &dyn Observations) {
        self.with(|m| {
            let now = obs.report_position();
            let changed = match (m.position, now) {
                (Some(p), Some(_)) => obs.reported_since(p),
                _ => None,
            };
            match changed {
                None => {
                    m.gates.clear();
                    m.seen.clear();
                }
                Some(targets) => {
                    for t in &targets {
                        let Some((stage, index)) = plan.locate(t) else { continue };
                        for ((s, _), sums) in m.gates.iter_mut() {
                            if *s == stage {
                                sums.forget(index);
                            }
                        }
                        if let Some(e) = m.seen.get_mut(&stage).and_then(|v| v.get_mut(index)) {
                            *e = None;
                        }
                    }
                }
            }
            m.position = now;
        });
    }

    /// Run `f` with the memo.
    pub(super) fn with<R>(&self, f: impl FnOnce(&mut Memo) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Clone for MemberMemo {
    /// A memo: a clone starts without it (and reads every member once).
    fn clone(&self) -> Self {
        MemberMemo::default()
    }
}

impl PartialEq for MemberMemo {
    /// A memo: never part of what makes two rollouts the same.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for MemberMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemberMemo")
    }
}
