//! What each member's samples summed to for each gate at an earlier step, so a step re-reads
//! only the members whose samples changed since.
//!
//! A member's sum for a gate depends on its samples in a window and on when it was told to
//! apply. It stays exact until a sample arrives (the shell's log says which targets got one:
//! [`Observations::samples_changed_since`]), until the oldest sample it counted leaves the
//! window, or until a sample it saw beyond `now` comes into view — each entry keeps that time.
//! A shell without a log (`sample_position` is `None`) gets every member re-read on every
//! step, as before. Either way the sums are the same: the cache is a memo, not state, so it is
//! never serialized, a clone of a rollout starts without it, and equality ignores it
//! (`gates_remembered_between_steps_judge_as_reading_every_member`, engine tests).

use std::collections::BTreeMap;

use super::gates::Agg;
use super::observe::Observations;
use super::plan::Plan;
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

/// Every gate's remembered sums of one rollout, by stage and the gate's place in it.
#[derive(Default)]
pub struct MemberSums {
    /// The shell's sample log position at the last [`MemberSums::sync`].
    position: Option<u64>,
    gates: BTreeMap<(usize, usize), GateSums>,
}

impl MemberSums {
    /// Forget the sums of members whose samples changed since the last call (every sum, when
    /// the shell keeps no log or it does not reach back that far).
    pub(super) fn sync(&mut self, plan: &Plan, obs: &dyn Observations) {
        let now = obs.sample_position();
        let changed = match (self.position, now) {
            (Some(p), Some(_)) => obs.samples_changed_since(p),
            _ => None,
        };
        match changed {
            None => self.gates.clear(),
            Some(targets) => {
                for t in &targets {
                    let Some((stage, index)) = plan.locate(t) else { continue };
                    for ((s, _), sums) in self.gates.iter_mut() {
                        if *s == stage {
                            sums.forget(index);
                        }
                    }
                }
            }
        }
        self.position = now;
    }

    pub(super) fn gate(&mut self, stage: usize, gate: usize) -> &mut GateSums {
        self.gates.entry((stage, gate)).or_default()
    }
}

impl Clone for MemberSums {
    /// A memo: a clone starts without it (and re-reads every member once).
    fn clone(&self) -> Self {
        MemberSums::default()
    }
}

impl PartialEq for MemberSums {
    /// A memo: never part of what makes two rollouts the same.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for MemberSums {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemberSums({} gates)", self.gates.len())
    }
}
