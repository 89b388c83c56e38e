//! The fleet: groups of identical targets expanded into targets with ids, labels, traffic and
//! whether they are prod; and a fast id → index lookup for the engine's questions.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use sluice_core::engine::TargetInfo;
use sluice_core::labels::Labels;
use sluice_core::release::TargetId;

use crate::scenario::{DelaySpec, Scenario};

/// Traffic is counted in parts per billion of all traffic, so sums are exact integers and a
/// fleet that stops failing reads exactly zero.
pub(crate) const TRAFFIC_UNITS: f64 = 1e9;

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub name: String,
    pub labels: Labels,
    pub prod: bool,
    /// Traffic units of each target of the group.
    pub traffic_units: u64,
    /// Each target's share of all traffic (0–1).
    pub traffic_share: f64,
    /// How long its targets take to roll back, when the scenario says (else the agents').
    pub rollback_delay: Option<DelaySpec>,
}

#[derive(Debug)]
pub(crate) struct Fleet {
    pub groups: Vec<Group>,
    /// Target ids, by index.
    pub ids: Vec<TargetId>,
    /// Group of each target.
    pub group_of: Vec<u32>,
    /// Group name → (group, first target index, count, digits of the number in the id).
    by_name: HashMap<String, (u32, u32, u32, usize), BuildHasherDefault<Fnv>>,
}

impl Fleet {
    pub(crate) fn new(s: &Scenario) -> Fleet {
        let total: usize = s.fleet.iter().map(|g| g.count as usize).sum();
        let mut ids = Vec::with_capacity(total);
        let mut group_of = Vec::with_capacity(total);
        let mut groups = Vec::with_capacity(s.fleet.len());
        let mut by_name = HashMap::with_capacity_and_hasher(s.fleet.len(), BuildHasherDefault::<Fnv>::default());
        for (gi, g) in s.fleet.iter().enumerate() {
            let n = g.count.max(1);
            let share = g.traffic_share / f64::from(n);
            groups.push(Group {
                name: g.name.clone(),
                labels: g.labels.clone(),
                prod: s.prod.matches(&g.labels),
                traffic_units: (share * TRAFFIC_UNITS).round() as u64,
                traffic_share: share,
                rollback_delay: g.rollback_delay,
            });
            let width = n.to_string().len();
            by_name.insert(g.name.clone(), (gi as u32, ids.len() as u32, g.count, width));
            for i in 0..g.count {
                ids.push(TargetId(format!("{}-{:0width$}", g.name, i + 1)));
                group_of.push(gi as u32);
            }
        }
        Fleet { groups, ids, group_of, by_name }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The index of a target id `<group>-<number>`, read from the id itself (the engine asks
    /// for every target of a wave at every step: no per-target map to chase in memory).
    pub(crate) fn index_of(&self, id: &TargetId) -> Option<u32> {
        let (group, number) = id.0.rsplit_once('-')?;
        let &(_, first, count, width) = self.by_name.get(group)?;
        if number.len() != width || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = number.parse().ok()?;
        (1..=count).contains(&n).then(|| first + n - 1)
    }

    pub(crate) fn group(&self, target: u32) -> &Group {
        &self.groups[self.group_of[target as usize] as usize]
    }

    /// Which targets a strategy's fleet has (all but its excluded groups).
    pub(crate) fn present(&self, excluded: &[String]) -> Vec<bool> {
        let out: Vec<bool> = self.groups.iter().map(|g| !excluded.contains(&g.name)).collect();
        self.group_of.iter().map(|&g| out[g as usize]).collect()
    }

    /// The targets as the engine's planner needs them.
    pub(crate) fn infos(&self, present: &[bool]) -> Vec<TargetInfo> {
        (0..self.len())
            .filter(|&i| present[i])
            .map(|i| {
                let g = self.group(i as u32);
                TargetInfo { id: self.ids[i].clone(), labels: g.labels.clone(), traffic_share: g.traffic_share }
            })
            .collect()
    }
}

/// FNV-1a: a fast, deterministic hasher for small lookups (these maps are never iterated).
#[derive(Debug, Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}
