//! The releases of a run: the initial one, the listed ones and the generated stream, in the
//! order they are created, each with its files and the faults it carries. Built once per run
//! (the same for every strategy) from the scenario and the seed.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;

use sluice_core::release::{ReleaseFiles, ReleaseId};
use sluice_core::time::Millis;

use crate::fleet::Fnv;
use crate::rng::{Stream, draw};
use crate::scenario::{GeneratedSpec, Scenario};

#[derive(Debug)]
pub(crate) struct Release {
    pub id: ReleaseId,
    pub created: Millis,
    /// Names of the faults it carries; a release with any is bad.
    pub faults: Vec<String>,
    pub files: ReleaseFiles,
    /// Index of its fault set in [`Catalogue::fault_sets`] (0: none).
    pub fault_set: u32,
}

impl Release {
    pub(crate) fn bad(&self) -> bool {
        !self.faults.is_empty()
    }
}

#[derive(Debug)]
pub(crate) struct Catalogue {
    /// Index 0 is the initial release; the rest in creation order.
    pub releases: Vec<Release>,
    /// Distinct fault sets (sorted names); index 0 is the empty set.
    pub fault_sets: Vec<Vec<String>>,
    by_id: HashMap<ReleaseId, u32, BuildHasherDefault<Fnv>>,
}

impl Catalogue {
    pub(crate) fn new(s: &Scenario, seed: u64) -> Catalogue {
        let mut created: Vec<(Millis, usize, ReleaseId, Vec<String>, ReleaseFiles)> = Vec::new();
        for (i, r) in s.releases.iter().enumerate() {
            created.push((Millis(r.at.0), i, ReleaseId(r.id.clone()), r.faults.clone(), text_files(&r.files)));
        }
        let mut initial_files = text_files(&s.initial_release.files);
        if let Some(g) = &s.generated {
            if initial_files.is_empty() {
                initial_files.insert(g.file.clone(), feature_file(g.features, 1));
            }
            for (n, at, changed) in generated_runs(s, g, seed) {
                let (faults, copies) = if changed { (g.changed.faults.clone(), g.changed.copies) } else { (vec![], 1) };
                let mut files = ReleaseFiles::new();
                files.insert(g.file.clone(), feature_file(g.features, copies));
                created.push((
                    at,
                    s.releases.len() + n as usize,
                    ReleaseId(format!("{}-{n:04}", g.prefix)),
                    faults,
                    files,
                ));
            }
        }
        created.sort_by_key(|(at, order, ..)| (*at, *order));
        let mut cat = Catalogue { releases: Vec::new(), fault_sets: vec![Vec::new()], by_id: HashMap::default() };
        cat.push(ReleaseId(s.initial_release.id.clone()), Millis(0), Vec::new(), initial_files);
        for (at, _, id, faults, files) in created {
            cat.push(id, at, faults, files);
        }
        cat
    }

    fn push(&mut self, id: ReleaseId, created: Millis, mut faults: Vec<String>, files: ReleaseFiles) {
        faults.sort();
        faults.dedup();
        let fault_set = match self.fault_sets.iter().position(|f| *f == faults) {
            Some(i) => i,
            None => {
                self.fault_sets.push(faults.clone());
                self.fault_sets.len() - 1
            }
        } as u32;
        self.by_id.insert(id.clone(), self.releases.len() as u32);
        self.releases.push(Release { id, created, faults, files, fault_set });
    }

    pub(crate) fn index_of(&self, id: &ReleaseId) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn get(&self, r: u32) -> &Release {
        &self.releases[r as usize]
    }

    /// When the first bad release is created.
    pub(crate) fn first_bad(&self) -> Option<Millis> {
        self.releases.iter().find(|r| r.bad()).map(|r| r.created)
    }
}

fn text_files(files: &BTreeMap<String, String>) -> ReleaseFiles {
    files.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect()
}

/// The runs of the generator: (run number from 1, time, whether it ran on a changed node).
fn generated_runs(s: &Scenario, g: &GeneratedSpec, seed: u64) -> Vec<(u32, Millis, bool)> {
    let mut out = Vec::new();
    let end = g.until.unwrap_or(s.duration).min(s.duration).0;
    let mut t = g.from.unwrap_or(g.every).0;
    let every = g.every.0.max(1);
    let mut n = 1u32;
    while t <= end {
        let node = draw(seed, Stream::GeneratorNode, u64::from(n), 0) % u64::from(g.cluster.nodes.max(1));
        let changed_at = g.cluster.change_from.0.saturating_add(node.saturating_mul(g.cluster.change_every.0));
        out.push((n, Millis(t), t >= changed_at));
        t += every;
        n += 1;
    }
    out
}

/// A Bot Management style feature file: `features` unique rows, each returned `copies` times
/// (as a query without a database filter returns one row per database), ordered by name.
pub(crate) fn feature_file(features: u32, copies: u32) -> Vec<u8> {
    const TYPES: [&str; 3] = ["Float64", "UInt32", "Bool"];
    let mut rows = Vec::with_capacity((features as usize).saturating_mul(copies as usize).min(1 << 20));
    for i in 0..features {
        for _ in 0..copies {
            rows.push(format!("    {{\"name\": \"feature_{i:03}\", \"type\": \"{}\"}}", TYPES[i as usize % 3]));
        }
    }
    format!("{{\n  \"features\": [\n{}\n  ]\n}}\n", rows.join(",\n")).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_files_parse_and_double() {
        let good: serde_json::Value = serde_json::from_slice(&feature_file(60, 1)).unwrap();
        assert_eq!(good["features"].as_array().unwrap().len(), 60);
        let bad: serde_json::Value = serde_json::from_slice(&feature_file(60, 4)).unwrap();
        assert_eq!(bad["features"].as_array().unwrap().len(), 240);
    }
}
