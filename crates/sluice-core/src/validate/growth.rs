//! `max_growth`: a file may not grow more than `max_ratio` times against the parent release.
//!
//! Growth is only measured where there is something to measure against. These are exempt,
//! without a violation:
//! - every file when there is no parent (the first release of a service);
//! - a file the parent does not have (a new file), or had with fewer than `min_bytes` bytes,
//!   or with 0 bytes (any growth from nothing is an infinite ratio);
//! - for the item count at `path` only: a parent file that does not parse, lacks `path`, or
//!   has no items there. The byte check still applies to such files.
//!
//! A release file that does not parse, or lacks `path`, is a violation as for the other
//! content validators: the release is judged, the parent already shipped.

use super::pointer::{self, shown};
use super::run::{At, FileGlob, Run};

/// A compiled `max_growth` validator.
#[derive(Debug)]
pub(crate) struct MaxGrowth {
    files: FileGlob,
    max_ratio: f64,
    path: Option<String>,
    min_bytes: u64,
}

impl MaxGrowth {
    pub(crate) fn new(
        files: FileGlob,
        max_ratio: f64,
        path: Option<String>,
        min_bytes: u64,
    ) -> Result<MaxGrowth, String> {
        if !max_ratio.is_finite() || max_ratio <= 0.0 {
            return Err(format!("max_ratio must be a finite number above 0, not {max_ratio}"));
        }
        if let Some(path) = &path {
            pointer::check_syntax(path).map_err(|e| format!("path: {e}"))?;
        }
        Ok(MaxGrowth { files, max_ratio, path, min_bytes })
    }

    fn too_big(&self, old: u64, new: u64) -> bool {
        new as f64 > old as f64 * self.max_ratio
    }

    fn message(&self, what: &str, old: u64, new: u64) -> String {
        format!("grew {:.2}x in {what} ({old} → {new}), limit {}x", new as f64 / old as f64, self.max_ratio)
    }

    pub(crate) fn run(&self, at: At, run: &mut Run<'_>) {
        for (file, bytes) in run.matching(at, &self.files) {
            let Some(old_bytes) = run.parent_bytes(file) else { continue };
            let (old, new) = (old_bytes.len() as u64, bytes.len() as u64);
            if old == 0 || old < self.min_bytes {
                continue;
            }
            if self.too_big(old, new) {
                run.violation(at, file, None, self.message("bytes", old, new));
            }
            let Some(path) = &self.path else { continue };
            let Some(doc) = run.content(at, file) else { continue };
            let new_items = match pointer::count_at(&doc, path) {
                Ok(n) => n as u64,
                Err(e) => {
                    run.violation(at, file, Some(path), e);
                    continue;
                }
            };
            let Some(parent_doc) = run.parent_content(file) else { continue };
            let Ok(old_items) = pointer::count_at(&parent_doc, path) else { continue };
            let old_items = old_items as u64;
            if old_items > 0 && self.too_big(old_items, new_items) {
                let what = format!("items at {}", shown(path));
                run.violation(at, file, Some(path), self.message(&what, old_items, new_items));
            }
        }
    }
}
