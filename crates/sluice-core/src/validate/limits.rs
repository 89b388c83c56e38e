//! Size, count and uniqueness limits: `max_bytes`, `max_items`, `unique`.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::pointer::{self, shown};
use super::run::{At, FileGlob, Run};

/// How many duplicates or key-less items a `unique` violation quotes before "and N more".
const EXAMPLES: usize = 3;
/// Longest quoted item in a message, in characters.
const QUOTE_CHARS: usize = 60;

/// `max_bytes`: every matching file is at most `max` bytes.
pub(crate) fn max_bytes(at: At, files: &FileGlob, max: u64, run: &mut Run<'_>) {
    for (file, bytes) in run.matching(at, files) {
        let len = bytes.len() as u64;
        if len > max {
            run.violation(at, file, None, format!("{len} bytes, limit {max}"));
        }
    }
}

/// `max_items`: the array (or object) at `path` has at most `max` items (entries).
pub(crate) fn max_items(at: At, files: &FileGlob, path: &str, max: u64, run: &mut Run<'_>) {
    for (file, _) in run.matching(at, files) {
        let Some(doc) = run.content(at, file) else { continue };
        match pointer::count_at(&doc, path) {
            Ok(n) if n as u64 > max => {
                let msg = format!("{n} items at {}, limit {max}", shown(path));
                run.violation(at, file, Some(path), msg);
            }
            Ok(_) => {}
            Err(e) => run.violation(at, file, Some(path), e),
        }
    }
}

/// Static check of a `unique` key: a field name, or a JSON pointer into each item.
pub(crate) fn check_unique_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("key: empty (leave it out to compare whole items)".to_string());
    }
    if key.starts_with('/') {
        pointer::check_syntax(key).map_err(|e| format!("key: {e}"))?;
    }
    Ok(())
}

/// `unique`: the items of the array at `path` are pairwise different, as whole items or by
/// their `key`. All duplicates of a file make one violation, with the first few quoted; items
/// without the key make another.
pub(crate) fn unique(at: At, files: &FileGlob, path: &str, key: Option<&str>, run: &mut Run<'_>) {
    for (file, _) in run.matching(at, files) {
        let Some(doc) = run.content(at, file) else { continue };
        let items = match pointer::array_at(&doc, path) {
            Ok(items) => items,
            Err(e) => {
                run.violation(at, file, Some(path), e);
                continue;
            }
        };
        let scan = scan_duplicates(items, key);
        if !scan.keyless.is_empty() {
            let key = key.unwrap_or_default();
            let msg = format!(
                "{} of {} items at {} have no {}: items {}",
                scan.keyless.len(),
                items.len(),
                shown(path),
                describe_key(key),
                list_with_more(scan.keyless.iter().map(usize::to_string))
            );
            run.violation(at, file, Some(path), msg);
        }
        if !scan.duplicates.is_empty() {
            let by = key.map(|k| format!(" by {}", describe_key(k))).unwrap_or_default();
            let examples = scan
                .duplicates
                .iter()
                .map(|(value, first, again)| format!("{} (items {first} and {again})", quote(value)));
            let msg = format!(
                "{} duplicate items at {}{by}: {}",
                scan.duplicates.len(),
                shown(path),
                list_with_more(examples)
            );
            run.violation(at, file, Some(path), msg);
        }
    }
}

struct Scan<'v> {
    /// (the repeated value, index of its first occurrence, index of this repetition).
    duplicates: Vec<(&'v Value, usize, usize)>,
    /// Indices of items without the key.
    keyless: Vec<usize>,
}

fn scan_duplicates<'v>(items: &'v [Value], key: Option<&str>) -> Scan<'v> {
    let mut seen: HashMap<&'v Value, usize> = HashMap::with_capacity(items.len());
    let mut scan = Scan { duplicates: Vec::new(), keyless: Vec::new() };
    for (i, item) in items.iter().enumerate() {
        let Some(value) = key_of(item, key) else {
            scan.keyless.push(i);
            continue;
        };
        match seen.get(value) {
            Some(&first) => scan.duplicates.push((value, first, i)),
            None => {
                seen.insert(value, i);
            }
        }
    }
    scan
}

fn key_of<'v>(item: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        None => Some(item),
        Some(k) if k.starts_with('/') => pointer::lookup(item, k).ok(),
        Some(k) => item.as_object()?.get(k),
    }
}

fn describe_key(key: &str) -> String {
    if key.starts_with('/') { format!("key {key}") } else { format!("field {key:?}") }
}

/// The first [`EXAMPLES`] entries joined by ", ", then "and N more".
fn list_with_more(entries: impl ExactSizeIterator<Item = String>) -> String {
    let total = entries.len();
    let mut out = entries.take(EXAMPLES).collect::<Vec<_>>().join(", ");
    if total > EXAMPLES {
        let _ = write!(out, " and {} more", total - EXAMPLES);
    }
    out
}

/// A value as compact JSON, cut to [`QUOTE_CHARS`] characters.
pub(crate) fn quote(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= QUOTE_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(QUOTE_CHARS).collect();
    cut.push('…');
    cut
}
