//! The state of one validation pass over a release: which files matched, each file parsed at
//! most once, and the violations found so far.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use globset::{GlobBuilder, GlobMatcher};
use serde_json::Value;

use crate::release::ReleaseFiles;

use super::parse::{ParseError, parse_file};
use super::{CheckCommand, ValidationReport, Violation};

/// Which validator of the service's list is running: its position and its kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    pub(crate) index: usize,
    pub(crate) kind: &'static str,
}

/// A compiled `files` glob: `*` does not cross `/`, `**` does.
#[derive(Debug, Clone)]
pub(crate) struct FileGlob {
    pattern: String,
    matcher: GlobMatcher,
}

impl FileGlob {
    pub(crate) fn new(pattern: &str) -> Result<FileGlob, String> {
        if pattern.trim().is_empty() {
            return Err("files: the glob is empty".to_string());
        }
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("files: invalid glob {pattern:?}: {}", e.kind()))?;
        Ok(FileGlob { pattern: pattern.to_string(), matcher: glob.compile_matcher() })
    }

    pub(crate) fn is_match(&self, path: &str) -> bool {
        self.matcher.is_match(path)
    }
}

/// One pass of [`validate_release`](super::validate_release).
#[derive(Debug)]
pub(crate) struct Run<'a> {
    files: &'a ReleaseFiles,
    parent: Option<&'a ReleaseFiles>,
    parsed: HashMap<&'a str, Result<Rc<Value>, ParseError>>,
    parent_parsed: HashMap<&'a str, Option<Rc<Value>>>,
    unreadable_reported: HashSet<&'a str>,
    checked: BTreeSet<&'a str>,
    violations: Vec<Violation>,
    checks: Vec<CheckCommand>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(files: &'a ReleaseFiles, parent: Option<&'a ReleaseFiles>) -> Run<'a> {
        Run {
            files,
            parent,
            parsed: HashMap::new(),
            parent_parsed: HashMap::new(),
            unreadable_reported: HashSet::new(),
            checked: BTreeSet::new(),
            violations: Vec::new(),
            checks: Vec::new(),
        }
    }

    pub(crate) fn finish(self) -> ValidationReport {
        ValidationReport { violations: self.violations, checks: self.checks, files_checked: self.checked.len() }
    }

    pub(crate) fn violation(&mut self, at: At, file: &str, path: Option<&str>, message: String) {
        self.violations.push(Violation {
            validator: at.kind.to_string(),
            index: at.index,
            file: file.to_string(),
            path: path.map(str::to_string),
            message,
        });
    }

    pub(crate) fn push(&mut self, violation: Violation) {
        self.violations.push(violation);
    }

    pub(crate) fn check(&mut self, check: CheckCommand) {
        self.checks.push(check);
    }

    /// The files of the release that `glob` matches, with their bytes. No match is a violation
    /// (reported against the glob itself) so that a typo cannot switch a validator off.
    pub(crate) fn matching(&mut self, at: At, glob: &FileGlob) -> Vec<(&'a str, &'a [u8])> {
        let found: Vec<(&'a str, &'a [u8])> = self
            .files
            .iter()
            .filter(|(path, _)| glob.is_match(path))
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
            .collect();
        if found.is_empty() {
            let msg = format!("no file matches glob {:?} (the release has {} files)", glob.pattern, self.files.len());
            self.violation(at, &glob.pattern, None, msg);
        }
        self.checked.extend(found.iter().map(|(path, _)| *path));
        found
    }

    /// The parsed content of release file `file`, parsed on first use. A file that cannot be
    /// parsed is reported once, against the first validator that needed it, and `None` is
    /// returned to every validator that asks.
    pub(crate) fn content(&mut self, at: At, file: &'a str) -> Option<Rc<Value>> {
        let bytes = self.files.get(file)?;
        let parsed = self.parsed.entry(file).or_insert_with(|| parse_file(file, bytes).map(Rc::new)).clone();
        match parsed {
            Ok(value) => Some(value),
            Err(e) => {
                if self.unreadable_reported.insert(file) {
                    let msg = match e {
                        ParseError::Unsupported => e.to_string(),
                        ParseError::Syntax(why) => format!("cannot parse: {why}"),
                    };
                    self.violation(at, file, None, msg);
                }
                None
            }
        }
    }

    /// The bytes of `file` in the parent release, if there is a parent and it has the file.
    pub(crate) fn parent_bytes(&self, file: &str) -> Option<&'a [u8]> {
        self.parent?.get(file).map(Vec::as_slice)
    }

    /// The parsed content of `file` in the parent release; `None` when there is no parent,
    /// the parent lacks the file, or it does not parse (the parent already shipped, so its
    /// parse errors are not this release's violations).
    pub(crate) fn parent_content(&mut self, file: &str) -> Option<Rc<Value>> {
        let (path, bytes) = self.parent?.get_key_value(file)?;
        self.parent_parsed.entry(path.as_str()).or_insert_with(|| parse_file(path, bytes).ok().map(Rc::new)).clone()
    }
}
