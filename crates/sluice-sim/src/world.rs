//! The simulated fleet of one strategy's run: the event queue on a virtual clock, what each
//! target runs (and ran, for reports about the past), agents applying what they are told after
//! a seeded delay, failure effects switching on and off, and the engine's view of all of it
//! ([`Observations`]).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use sluice_core::engine::{Observations, Sample};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::{Dur, Millis};

use crate::failure::FailureModel;
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
    /// A target's failure effect may change (onset, flap edge).
    Effect { target: u32, epoch: u32 },
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
            Ev::Release(_) => 1,
            Ev::Tick => 2,
            _ => 3,
        }
    }
}

#[derive(Debug)]
struct TargetState {
    running: u32,
    since: Millis,
    /// Bumped each time the agent is told something; older applies are dropped.
    generation: u32,
    /// Bumped each time the running release changes; older effect events are dropped.
    epoch: u32,
    /// Traffic units × failing ppm counted in the timeline (prod only).
    failing: u64,
    /// The release the agent's check refused, if the last order was refused.
    refused: Option<u32>,
    /// (since ms, release) for every release it ran, oldest first.
    history: Vec<(u64, u32)>,
}

/// Which delay an order takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Delay {
    Apply,
    Rollback,
    /// Uniform in [0, d] (global push propagation).
    Within(Dur),
}

#[derive(Debug)]
pub(crate) struct World<'a> {
    pub ctx: Ctx<'a>,
    pub now: Millis,
    queue: BinaryHeap<Reverse<(Millis, u8, u64, Ev)>>,
    seq: u64,
    targets: Vec<TargetState>,
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
                since: Millis(0),
                generation: 0,
                epoch: 0,
                failing: 0,
                refused: None,
                history: vec![(0, 0)],
            })
            .collect();
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
                other => return Some(other),
            }
        }
        None
    }

    /// Tell these targets to run `release`; each applies after its delay. Returns when the last
    /// one will have applied.
    pub(crate) fn tell(&mut self, targets: impl IntoIterator<Item = u32>, release: u32, delay: Delay) -> Millis {
        self.orders += 1;
        let (seed, n) = (self.ctx.seed, self.orders);
        let span = |d: &DelaySpec| (d.min.0, d.max.0);
        let (stream, (lo, hi)) = match delay {
            Delay::Apply => (Stream::ApplyDelay, span(&self.ctx.scenario.agents.apply_delay)),
            Delay::Rollback => (Stream::RollbackDelay, span(&self.ctx.scenario.agents.rollback_delay)),
            Delay::Within(d) => (Stream::Propagation, (0, d.0)),
        };
        let mut last = self.now;
        for t in targets {
            if !self.present[t as usize] {
                continue;
            }
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

    fn on_apply(&mut self, t: u32, release: u32, generation: u32) {
        let group = self.ctx.fleet.group_of[t as usize];
        let st = &mut self.targets[t as usize];
        if st.generation != generation || st.running == release {
            return;
        }
        let set = self.ctx.cat.get(release).fault_set;
        if self.ctx.model.apply_error(set, group).is_some() {
            st.refused = Some(release);
            return;
        }
        let old_bad = self.ctx.cat.get(st.running).bad();
        st.running = release;
        st.since = self.now;
        st.epoch = st.epoch.wrapping_add(1);
        st.history.push((self.now.0, release));
        let new_bad = self.ctx.cat.get(release).bad();
        if old_bad != new_bad {
            let g = self.ctx.fleet.group(t);
            let units = g.prod.then_some(g.traffic_units);
            self.timeline.bad_changed(self.now, t, units, new_bad);
        }
        self.refresh(t);
    }

    /// Recompute a target's failure effect now and schedule its next change.
    fn refresh(&mut self, t: u32) {
        let group = self.ctx.fleet.group_of[t as usize];
        let g = self.ctx.fleet.group(t);
        let st = &self.targets[t as usize];
        let set = self.ctx.cat.get(st.running).fault_set;
        let (since, epoch, old) = (st.since, st.epoch, st.failing);
        let effect = self.ctx.model.effect(set, group, since, self.now);
        let new = if g.prod { g.traffic_units.saturating_mul(u64::from(effect.fail_ppm)) } else { 0 };
        self.targets[t as usize].failing = new;
        self.timeline.failing_changed(self.now, old, new);
        if let Some(next) = self.ctx.model.next_change(set, group, since, self.now) {
            self.schedule(next, Ev::Effect { target: t, epoch });
        }
    }

    fn lookup(&self, id: &TargetId) -> Option<usize> {
        self.ctx.fleet.index_of(id).map(|i| i as usize).filter(|&i| self.present[i])
    }
}

impl Observations for World<'_> {
    fn last_report(&self, target: &TargetId) -> Option<Millis> {
        self.lookup(target)?;
        let interval = self.ctx.scenario.report_interval.0.max(1);
        let last = self.now.0 / interval * interval;
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
            st.history.partition_point(|(t, _)| *t <= first * interval).saturating_sub(1)
        };
        for k in first..=last {
            let at = k * interval;
            let (since, r) = if on_current {
                (st.since.0, st.running)
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
            let set = self.ctx.cat.get(r).fault_set;
            self.ctx.model.fill_sample(s, self.ctx.seed, i as u32, k, set, group, Millis(since), Millis(at));
            f(s);
        }
    }
}
