//! The simulated fleet of one strategy's run: the event queue on a virtual clock, what each
//! target runs (and ran, for reports about the past), agents applying what they are told after
//! a seeded delay (hours, for a slow rollback), hanging in an apply they never confirm, going
//! silent like a crashed host (no report, no order taken until they come back), failure effects
//! switching on and off, and the engine's view of all of it ([`Observations`]).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use sluice_core::engine::{Observations, Sample};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::{Dur, Millis};

use crate::failure::{FailureModel, PPM};
use crate::fleet::Fleet;
use crate::releases::Catalogue;
use crate::rng::{Stream, between};
use crate::scenario::{DelaySpec, Scenario};
use crate::timeline::Timeline;

/// The most events one strategy's run may process: a scenario that would need more (a fast
/// flap on a huge fleet over weeks) stops there, with a note, instead of running for hours.
pub(crate) const MAX_EVENTS: u64 = 200_000_000;

/// What one run shares with every other: the scenario compiled for a seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub scenario: &'a Scenario,
    pub fleet: &'a Fleet,
    pub cat: &'a Catalogue,
    pub model: &'a FailureModel,
    pub seed: u64,
    pub end: Millis,
}

/// Something that happens at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Ev {
    /// An agent finished applying (dropped if it was told something newer since).
    Apply { target: u32, release: u32, generation: u32 },
    /// A target's failure effect may change (onset, flap edge, a silence starts).
    Effect { target: u32, epoch: u32 },
    /// A silent target is back (after the orders due then were carried out): still on the
    /// release that silenced it, it goes silent again, unless the silence happens once (a
    /// restart).
    Back { target: u32, epoch: u32 },
    /// Release `n` of the catalogue is created.
    Release(u32),
    /// The engine steps.
    Tick,
    /// A person notices (global push).
    Detect,
    /// A person pushes the known-good release back (global push).
    Revert,
    /// People stop new releases from being pushed (global push).
    Stop,
    /// A person approves the waiting stage.
    Approve,
    /// A person clears the service's hold.
    ClearHold,
}

impl Ev {
    /// Order among events at the same time: the fleet settles before anyone looks at it.
    fn class(self) -> u8 {
        match self {
            Ev::Apply { .. } | Ev::Effect { .. } => 0,
            Ev::Back { .. } => 1,
            Ev::Release(_) => 2,
            Ev::Tick => 3,
            _ => 4,
        }
    }
}

#[derive(Debug)]
struct TargetState {
    /// The release the target reports running.
    running: u32,
    /// A release it was told to run and hangs applying (`never_confirms`): its faults hit the
    /// target while it still reports `running`.
    stuck: Option<u32>,
    /// When the release whose faults hit it (`stuck`, else `running`) took effect.
    since: Millis,
    /// Bumped each time the agent is told something; older applies are dropped.
    generation: u32,
    /// Bumped each time the running release changes; older effect events are dropped.
    epoch: u32,
    /// Traffic units × failing ppm counted in the timeline (prod only).
    failing: u64,
    /// The release the agent's check refused, if the last order was refused.
    refused: Option<u32>,
    /// (since ms, release it reported, release whose faults hit it) for every change, oldest
    /// first.
    history: Vec<(u64, u32, u32)>,
}

impl TargetState {
    /// The release whose faults hit the target.
    fn effective(&self) -> u32 {
        self.stuck.unwrap_or(self.running)
    }
}

/// The spans `[from, until)` (ms) in which a target is or was silent, oldest first; `until` is
/// `u64::MAX` for a silence that never ends.
type Silences = Vec<(u64, u64)>;

/// The silence a target is in at `at`, if any (`at` not before its last change).
fn silent_at(silences: &[(u64, u64)], at: u64) -> Option<(u64, u64)> {
    silences.last().copied().filter(|&(from, until)| from <= at && at < until)
}

/// Which delay an order takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Delay {
    Apply,
    /// A rollback: the fault's or the group's slow rollback delay if the scenario gives one,
    /// else the agents'.
    Rollback,
    /// Uniform in [0, d] (global push propagation).
    Within(Dur),
    /// A revert pushed to everyone: uniform in [0, d], or the slow rollback delay of a target
    /// that has one.
    Revert(Dur),
}

#[derive(Debug)]
pub(crate) struct World<'a> {
    pub ctx: Ctx<'a>,
    pub now: Millis,
    queue: BinaryHeap<Reverse<(Millis, u8, u64, Ev)>>,
    seq: u64,
    targets: Vec<TargetState>,
    /// Each target's silences; empty when no fault silences anyone (kept apart from
    /// `targets`, which the engine's questions read on every step).
    silences: Vec<Silences>,
    pub present: Vec<bool>,
    pub timeline: Timeline,
    orders: u64,
    /// A report reused across `samples` calls: (release index it names, the report).
    scratch: RefCell<(u32, Sample)>,
    events: u64,
    /// When the run stopped early because it hit [`MAX_EVENTS`].
    pub stopped_early: Option<Millis>,
}

impl<'a> World<'a> {
    pub(crate) fn new(ctx: Ctx<'a>, present: Vec<bool>) -> World<'a> {
        let targets = (0..ctx.fleet.len())
            .map(|_| TargetState {
                running: 0,
                stuck: None,
                since: Millis(0),
                generation: 0,
                epoch: 0,
                failing: 0,
                refused: None,
                history: vec![(0, 0, 0)],
            })
            .collect();
        let silences = if ctx.model.any_silent { vec![Vec::new(); ctx.fleet.len()] } else { Vec::new() };
        let prod_units: u64 = (0..ctx.fleet.len())
            .filter(|&i| present[i])
            .map(|i| ctx.fleet.group(i as u32))
            .filter(|g| g.prod)
            .map(|g| g.traffic_units)
            .fold(0u64, u64::saturating_add);
        let timeline = Timeline::new(ctx.fleet.len(), prod_units, ctx.cat.first_bad());
        let scratch = RefCell::new((u32::MAX, Sample::default()));
        let mut w = World {
            ctx,
            now: Millis(0),
            queue: BinaryHeap::new(),
            seq: 0,
            targets,
            silences,
            present,
            timeline,
            orders: 0,
            scratch,
            events: 0,
            stopped_early: None,
        };
        for r in 1..ctx.cat.releases.len() {
            w.schedule(ctx.cat.releases[r].created, Ev::Release(r as u32));
        }
        w
    }

    pub(crate) fn schedule(&mut self, at: Millis, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at.max(self.now), ev.class(), self.seq, ev)));
    }

    /// The next event for the strategy, after carrying out the fleet's own; `None` at the end.
    pub(crate) fn next(&mut self) -> Option<Ev> {
        while let Some(Reverse((at, _, _, ev))) = self.queue.pop() {
            if at > self.ctx.end {
                return None;
            }
            self.events += 1;
            if self.events > MAX_EVENTS {
                self.stopped_early = Some(at);
                return None;
            }
            self.now = at;
            match ev {
                Ev::Apply { target, release, generation } => self.on_apply(target, release, generation),
                Ev::Effect { target, epoch } => {
                    if self.targets[target as usize].epoch == epoch {
                        self.refresh(target);
                    }
                }
                Ev::Back { target, epoch } => {
                    if self.targets[target as usize].epoch == epoch {
                        let st = &self.targets[target as usize];
                        let set = self.ctx.cat.get(st.effective()).fault_set;
                        let group = self.ctx.fleet.group_of[target as usize];
                        if self.ctx.model.silence_repeats(set, group) {
                            self.silence(target, set);
                        }
                        self.refresh(target);
                    }
                }
                other => return Some(other),
            }
        }
        None
    }

    /// Tell these targets to run `release`; each applies after its delay (a silent one once it
    /// is back). Returns when the last one will have applied, silence aside.
    pub(crate) fn tell(&mut self, targets: impl IntoIterator<Item = u32>, release: u32, delay: Delay) -> Millis {
        self.orders += 1;
        let (seed, n) = (self.ctx.seed, self.orders);
        let span = |d: &DelaySpec| (d.min.0, d.max.0);
        let mut last = self.now;
        for t in targets {
            if !self.present[t as usize] {
                continue;
            }
            let (stream, (lo, hi)) = match delay {
                Delay::Apply => (Stream::ApplyDelay, span(&self.ctx.scenario.agents.apply_delay)),
                Delay::Rollback => match self.slow_rollback(t) {
                    Some(d) => (Stream::RollbackDelay, span(&d)),
                    None => (Stream::RollbackDelay, span(&self.ctx.scenario.agents.rollback_delay)),
                },
                Delay::Revert(d) => match self.slow_rollback(t) {
                    Some(slow) => (Stream::RollbackDelay, span(&slow)),
                    None => (Stream::Propagation, (0, d.0)),
                },
                Delay::Within(d) => (Stream::Propagation, (0, d.0)),
            };
            let st = &mut self.targets[t as usize];
            st.generation = st.generation.wrapping_add(1);
            st.refused = None;
            let generation = st.generation;
            let at = self.now + Dur(between(seed, stream, u64::from(t), n, lo, hi));
            last = last.max(at);
            self.schedule(at, Ev::Apply { target: t, release, generation });
        }
        last
    }

    /// The slow rollback delay of a target: its release's fault's, else its group's.
    fn slow_rollback(&self, t: u32) -> Option<DelaySpec> {
        let group = self.ctx.fleet.group_of[t as usize];
        let set = self.ctx.cat.get(self.targets[t as usize].effective()).fault_set;
        self.ctx.model.rollback_delay(set, group).or(self.ctx.fleet.group(t).rollback_delay)
    }

    fn on_apply(&mut self, t: u32, release: u32, generation: u32) {
        let group = self.ctx.fleet.group_of[t as usize];
        let now = self.now;
        if self.targets[t as usize].generation != generation {
            return;
        }
        // A silent target takes no order: it carries out the latest when it is back.
        if let Some((_, until)) = silent_at(self.silences_of(t), now.0) {
            if until != u64::MAX {
                self.schedule(Millis(until), Ev::Apply { target: t, release, generation });
            }
            return;
        }
        let st = &mut self.targets[t as usize];
        if st.effective() == release {
            return;
        }
        let set = self.ctx.cat.get(release).fault_set;
        if self.ctx.model.apply_error(set, group).is_some() {
            st.refused = Some(release);
            return;
        }
        let old_bad = self.ctx.cat.get(st.effective()).bad();
        if release == st.running {
            // Told to go back to what it reports: the hanging apply is given up.
            st.stuck = None;
        } else if self.ctx.model.never_confirms(set, group) {
            st.stuck = Some(release);
        } else {
            st.running = release;
            st.stuck = None;
        }
        st.since = now;
        st.epoch = st.epoch.wrapping_add(1);
        st.history.push((now.0, st.running, st.effective()));
        // A silence that had not begun ends with the release that caused it.
        if let Some(sil) = self.silences.get_mut(t as usize)
            && let Some(last) = sil.last_mut()
            && last.1 > now.0
        {
            if last.0 >= now.0 {
                sil.pop();
            } else {
                last.1 = now.0;
            }
        }
        self.silence(t, set);
        let new_bad = self.ctx.cat.get(release).bad();
        if old_bad != new_bad {
            let g = self.ctx.fleet.group(t);
            let units = g.prod.then_some(g.traffic_units);
            self.timeline.bad_changed(self.now, t, units, new_bad);
        }
        self.refresh(t);
    }

    /// Start the silence the release (fault set `set`) that `t` runs since now causes, if any:
    /// an effect change when it begins, and the target back when it ends.
    fn silence(&mut self, t: u32, set: u32) {
        let group = self.ctx.fleet.group_of[t as usize];
        let Some((from, until)) = self.ctx.model.silence(set, group, self.now) else { return };
        let epoch = self.targets[t as usize].epoch;
        let Some(sil) = self.silences.get_mut(t as usize) else { return };
        match sil.last_mut() {
            Some(last) if last.1 == from => last.1 = until,
            _ => sil.push((from, until)),
        }
        if from > self.now.0 {
            self.schedule(Millis(from), Ev::Effect { target: t, epoch });
        }
        if until != u64::MAX {
            self.schedule(Millis(until), Ev::Back { target: t, epoch });
        }
    }

    /// Recompute a target's failure effect now and schedule its next change.
    fn refresh(&mut self, t: u32) {
        let group = self.ctx.fleet.group_of[t as usize];
        let g = self.ctx.fleet.group(t);
        let st = &self.targets[t as usize];
        let set = self.ctx.cat.get(st.effective()).fault_set;
        let (since, epoch, old) = (st.since, st.epoch, st.failing);
        // A silent target serves nothing: all its requests fail.
        let ppm = if silent_at(self.silences_of(t), self.now.0).is_some() {
            PPM
        } else {
            self.ctx.model.effect(set, group, since, self.now).fail_ppm
        };
        let new = if g.prod { g.traffic_units.saturating_mul(u64::from(ppm)) } else { 0 };
        self.targets[t as usize].failing = new;
        self.timeline.failing_changed(self.now, old, new);
        if let Some(next) = self.ctx.model.next_change(set, group, since, self.now) {
            self.schedule(next, Ev::Effect { target: t, epoch });
        }
    }

    fn silences_of(&self, t: u32) -> &[(u64, u64)] {
        self.silences.get(t as usize).map_or(&[], Vec::as_slice)
    }

    fn lookup(&self, id: &TargetId) -> Option<usize> {
        self.ctx.fleet.index_of(id).map(|i| i as usize).filter(|&i| self.present[i])
    }
}

impl Observations for World<'_> {
    /// Every target reports at every report tick, except while it is silent.
    fn last_report(&self, target: &TargetId) -> Option<Millis> {
        let i = self.lookup(target)?;
        let interval = self.ctx.scenario.report_interval.0.max(1);
        let mut last = self.now.0 / interval * interval;
        for &(from, until) in self.silences_of(i as u32).iter().rev() {
            if last >= until {
                break;
            }
            if last >= from {
                last = from.saturating_sub(1) / interval * interval;
            }
        }
        (last > 0).then_some(Millis(last))
    }

    fn running(&self, target: &TargetId) -> Option<&ReleaseId> {
        self.lookup(target).map(|i| &self.ctx.cat.get(self.targets[i].running).id)
    }

    fn apply_failure(&self, target: &TargetId, release: &ReleaseId) -> Option<String> {
        if !self.ctx.model.any_apply_error {
            return None;
        }
        let i = self.lookup(target)?;
        let r = self.targets[i].refused?;
        if &self.ctx.cat.get(r).id != release {
            return None;
        }
        let group = self.ctx.fleet.group_of[i];
        self.ctx.model.apply_error(self.ctx.cat.get(r).fault_set, group).map(|why| format!("check refused it: {why}"))
    }

    fn samples(&self, target: &TargetId, from: Millis, to: Millis, f: &mut dyn FnMut(&Sample)) {
        let Some(i) = self.lookup(target) else { return };
        let interval = self.ctx.scenario.report_interval.0.max(1);
        let to = to.min(self.now);
        let first = from.0 / interval + 1;
        let last = to.0 / interval;
        if first > last {
            return;
        }
        let st = &self.targets[i];
        let group = self.ctx.fleet.group_of[i];
        let mut fresh = (u32::MAX, Sample::default());
        let mut guard = self.scratch.try_borrow_mut();
        let (current, s) = match guard.as_deref_mut() {
            Ok((c, s)) => (c, s),
            Err(_) => (&mut fresh.0, &mut fresh.1),
        };
        // Usually the whole window is on the release it runs now: no need to read the history.
        let on_current = st.since.0 <= first * interval;
        let mut h = if on_current {
            st.history.len().saturating_sub(1)
        } else {
            st.history.partition_point(|(t, ..)| *t <= first * interval).saturating_sub(1)
        };
        // Silent ticks send nothing.
        let silences = self.silences_of(i as u32);
        let mut quiet = silences.partition_point(|&(_, until)| until <= first * interval);
        for k in first..=last {
            let at = k * interval;
            while quiet < silences.len() && silences[quiet].1 <= at {
                quiet += 1;
            }
            if silences.get(quiet).is_some_and(|&(from, _)| from <= at) {
                continue;
            }
            let (since, r, eff) = if on_current {
                (st.since.0, st.running, st.effective())
            } else {
                while h + 1 < st.history.len() && st.history[h + 1].0 <= at {
                    h += 1;
                }
                st.history[h]
            };
            if *current != r {
                s.release = Some(self.ctx.cat.get(r).id.clone());
                *current = r;
            }
            let set = self.ctx.cat.get(eff).fault_set;
            self.ctx.model.fill_sample(s, self.ctx.seed, i as u32, k, set, group, Millis(since), Millis(at));
            f(s);
        }
    }
}
