//! Validators compiled once (globs, JSON Schemas, CEL programs) and run over releases.

use super::cel_rule::CelRule;
use super::run::{At, FileGlob, Run};
use super::schema::Schema;
use super::spec::ValidatorSpec;
use super::{CheckCommand, growth, limits, pointer};

/// A [`ValidatorSpec`] with everything that can be prepared ahead of a release prepared.
#[derive(Debug)]
pub(crate) enum Compiled {
    JsonSchema { files: FileGlob, schema: Schema },
    MaxBytes { files: FileGlob, max: u64 },
    MaxItems { files: FileGlob, path: String, max: u64 },
    Unique { files: FileGlob, path: String, key: Option<String> },
    MaxGrowth(growth::MaxGrowth),
    Cel { files: FileGlob, rule: CelRule },
    Check { command: String, timeout: Option<crate::time::Dur> },
}

impl Compiled {
    /// Compiles `spec`; the error names the validator kind and what is wrong.
    pub(crate) fn new(spec: &ValidatorSpec) -> Result<Compiled, String> {
        Compiled::build(spec).map_err(|e| format!("{}: {e}", spec.kind()))
    }

    fn build(spec: &ValidatorSpec) -> Result<Compiled, String> {
        Ok(match spec {
            ValidatorSpec::JsonSchema { files, schema } => {
                Compiled::JsonSchema { files: FileGlob::new(files)?, schema: Schema::new(schema)? }
            }
            ValidatorSpec::MaxBytes { files, max } => Compiled::MaxBytes { files: FileGlob::new(files)?, max: *max },
            ValidatorSpec::MaxItems { files, path, max } => {
                pointer::check_syntax(path).map_err(|e| format!("path: {e}"))?;
                Compiled::MaxItems { files: FileGlob::new(files)?, path: path.clone(), max: *max }
            }
            ValidatorSpec::Unique { files, path, key } => {
                pointer::check_syntax(path).map_err(|e| format!("path: {e}"))?;
                if let Some(key) = key {
                    limits::check_unique_key(key)?;
                }
                Compiled::Unique { files: FileGlob::new(files)?, path: path.clone(), key: key.clone() }
            }
            ValidatorSpec::MaxGrowth { files, max_ratio, path, min_bytes } => Compiled::MaxGrowth(
                growth::MaxGrowth::new(FileGlob::new(files)?, *max_ratio, path.clone(), *min_bytes)?,
            ),
            ValidatorSpec::Cel { files, rule, message } => {
                Compiled::Cel { files: FileGlob::new(files)?, rule: CelRule::new(rule, message.clone())? }
            }
            ValidatorSpec::Check { command, timeout } => {
                Compiled::Check { command: command.clone(), timeout: *timeout }
            }
        })
    }

    fn kind(&self) -> &'static str {
        match self {
            Compiled::JsonSchema { .. } => "json_schema",
            Compiled::MaxBytes { .. } => "max_bytes",
            Compiled::MaxItems { .. } => "max_items",
            Compiled::Unique { .. } => "unique",
            Compiled::MaxGrowth(_) => "max_growth",
            Compiled::Cel { .. } => "cel",
            Compiled::Check { .. } => "check",
        }
    }

    /// Runs this validator, at position `index` of the service's list, over the release.
    pub(crate) fn run(&self, index: usize, run: &mut Run<'_>) {
        let at = At { index, kind: self.kind() };
        match self {
            Compiled::JsonSchema { files, schema } => schema.run(at, files, run),
            Compiled::MaxBytes { files, max } => limits::max_bytes(at, files, *max, run),
            Compiled::MaxItems { files, path, max } => limits::max_items(at, files, path, *max, run),
            Compiled::Unique { files, path, key } => limits::unique(at, files, path, key.as_deref(), run),
            Compiled::MaxGrowth(growth) => growth.run(at, run),
            Compiled::Cel { files, rule } => rule.run(at, files, run),
            Compiled::Check { command, timeout } => {
                run.check(CheckCommand { index, command: command.clone(), timeout: *timeout })
            }
        }
    }
}
