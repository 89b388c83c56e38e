//! The validators a release must pass before any node sees it.
//!
//! A service lists [`ValidatorSpec`]s; [`validate_release`] runs them all over a release's
//! files (in memory: the core does no I/O) and, for growth limits, over its parent release, and
//! returns a [`ValidationReport`] with *every* violation, not just the first. Consumer `check`
//! commands are not run here: they come back in [`ValidationReport::checks`] for the agent or
//! `sluice check` to run against the unpacked release.
//!
//! This is the step that would have stopped the 18 November 2025 feature file: 60 features
//! pass `max_items: 200`, `unique` by name and `max_growth: 1.5`; the file with every row twice
//! fails all three, and the report names the file and path of each.
//!
//! Content validators (`json_schema`, `max_items`, `unique`, `cel`, and `max_growth` with a
//! `path`) read `.json` files with `serde_json` and `.yaml`/`.yml` files with `serde-saphyr`
//! under a budget against alias bombs and deep nesting. Each file is parsed at most once per
//! call. A file that does not parse, or has another extension, is one violation naming the
//! file and the parser's line and column (reported against the first validator that needed
//! the file); the validators that needed it skip it.
//!
//! Messages stay bounded on huge or hostile files: `unique` reports all duplicates of a file in
//! one violation quoting the first three, `json_schema` reports at most 20 errors per file and
//! then one "and N more".
//!
//! Every validator with a `files` glob must match at least one file of the release: otherwise
//! that is a violation ("no file matches glob ..."), reported with the glob as its `file`, so
//! a typo in a spec cannot silently disable validation.

mod cel_rule;
mod compiled;
mod growth;
mod limits;
mod parse;
mod pointer;
mod run;
mod schema;
mod spec;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::release::ReleaseFiles;
use crate::time::Dur;

use self::compiled::Compiled;
use self::run::Run;
pub use self::spec::{ValidatorSpec, check_validator_spec};

/// One thing wrong with a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The kind of validator that found it, e.g. `"max_items"`.
    pub validator: String,
    /// The validator's position in the service's validators list.
    pub index: usize,
    /// The relative path of the file in the release; for "no file matches" and invalid
    /// validator specs, the validator's `files` glob.
    pub file: String,
    /// The JSON pointer inside the file, when relevant (`""` is the whole document).
    pub path: Option<String>,
    /// What is wrong, with the numbers: "312 items at /features, limit 200".
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(path) = &self.path {
            write!(f, ":{}", pointer::shown(path))?;
        }
        write!(f, ": [{} #{}] {}", self.validator, self.index, self.message)
    }
}

/// A consumer check command the caller must still run against the unpacked release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckCommand {
    /// The validator's position in the service's validators list.
    pub index: usize,
    /// The command, with `{release}` still to be replaced by the release directory.
    pub command: String,
    /// How long it may run; the caller's default when `None`.
    pub timeout: Option<Dur>,
}

/// The outcome of [`validate_release`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// Every violation found, in validator order.
    pub violations: Vec<Violation>,
    /// Consumer check commands the caller must still run.
    pub checks: Vec<CheckCommand>,
    /// How many distinct files of the release at least one validator looked at.
    pub files_checked: usize,
}

impl ValidationReport {
    /// True when there are no violations (the `checks` may still fail when run).
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for ValidationReport {
    /// One violation per line, `file:path: [validator #i] message`, or a one-line summary
    /// when there are none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.violations.is_empty() {
            return write!(f, "ok: {} files checked, {} check commands to run", self.files_checked, self.checks.len());
        }
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// A service's validators, compiled once (globs, JSON Schemas, CEL programs) to validate
/// many releases: [`validate_release`] compiles on every call, which is fine for one release
/// but wasteful in a loop such as the simulator's.
#[derive(Debug)]
pub struct Validators {
    compiled: Vec<(usize, Result<Compiled, Violation>)>,
}

impl Validators {
    /// Compiles `specs`. A spec that does not compile (see [`check_validator_spec`]) is not an
    /// error here: it becomes a violation of every release it validates.
    pub fn new(specs: &[ValidatorSpec]) -> Validators {
        let compiled = specs
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                let compiled = Compiled::new(spec).map_err(|message| Violation {
                    validator: spec.kind().to_string(),
                    index,
                    file: spec.files().unwrap_or_default().to_string(),
                    path: None,
                    message: format!("invalid validator: {message}"),
                });
                (index, compiled)
            })
            .collect();
        Validators { compiled }
    }

    /// Runs all validators over `files`; `parent` is the previous release's files (`None`
    /// for a service's first release).
    pub fn validate(&self, files: &ReleaseFiles, parent: Option<&ReleaseFiles>) -> ValidationReport {
        let mut run = Run::new(files, parent);
        for (index, compiled) in &self.compiled {
            match compiled {
                Ok(validator) => validator.run(*index, &mut run),
                Err(violation) => run.push(violation.clone()),
            }
        }
        run.finish()
    }
}

/// Runs all `validators` over `files`; `parent` is the previous release's files (`None` for
/// a service's first release). Never panics, whatever the files contain.
pub fn validate_release(
    validators: &[ValidatorSpec],
    files: &ReleaseFiles,
    parent: Option<&ReleaseFiles>,
) -> ValidationReport {
    Validators::new(validators).validate(files, parent)
}
