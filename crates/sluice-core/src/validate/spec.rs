//! Validators as written in the spec, and their static check.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::time::Dur;

use super::compiled::Compiled;

/// One validator as written in the spec under `services.<name>.validators`, externally
/// tagged, e.g.
///
/// ```yaml
/// validators:
///   - max_items: { files: features.json, path: /features, max: 200 }
///   - unique: { files: features.json, path: /features, key: name }
///   - max_growth: { files: "*.json", max_ratio: 1.5, path: /features }
/// ```
///
/// `files` is a glob over the release's relative paths: `*` stays within one directory,
/// `**` crosses directories (`conf/**/*.yaml`). A content validator whose glob matches no
/// file of a release is itself a violation, so a typo cannot silently switch validation off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ValidatorSpec {
    /// Every file matching `files` must be valid against this JSON Schema (inline, as
    /// YAML/JSON). External `$ref`s are not fetched: the schema must be self-contained.
    JsonSchema { files: String, schema: serde_json::Value },
    /// Files matching `files` must be at most `max` bytes.
    MaxBytes { files: String, max: u64 },
    /// The array (or object) at JSON pointer `path` in each matching file has at most `max`
    /// items (entries).
    MaxItems { files: String, path: String, max: u64 },
    /// Items of the array at `path` are unique: whole items, or by the field `key` of each
    /// item (a field name, or a JSON pointer into the item when it starts with `/`).
    Unique {
        files: String,
        path: String,
        #[serde(default)]
        key: Option<String>,
    },
    /// Against the parent release: a matching file may grow at most `max_ratio` times in bytes
    /// (and in item count at `path` when given). Files smaller than `min_bytes` in the parent
    /// are exempt, and so are files the parent does not have (or cannot parse, for the item
    /// count): growth is only measured against a parent.
    MaxGrowth {
        files: String,
        max_ratio: f64,
        #[serde(default)]
        path: Option<String>,
        #[serde(default)]
        min_bytes: u64,
    },
    /// A CEL rule that must evaluate to `true` for each matching file. Variables: `content`
    /// (the parsed file), `file` (its path), `size` (bytes), `parent` (the parsed parent file,
    /// or null) and `parent_size` (int, or null).
    Cel {
        files: String,
        rule: String,
        #[serde(default)]
        message: Option<String>,
    },
    /// A consumer check command run by the agent / `sluice check` against the unpacked release
    /// (`{release}` is replaced by its directory). Core does not run it; it is returned to the
    /// caller in [`ValidationReport::checks`](super::ValidationReport::checks).
    Check {
        command: String,
        #[serde(default)]
        timeout: Option<Dur>,
    },
}

impl ValidatorSpec {
    /// The spec name of this validator: `"json_schema"`, `"max_bytes"`, `"max_items"`,
    /// `"unique"`, `"max_growth"`, `"cel"` or `"check"`.
    pub fn kind(&self) -> &'static str {
        match self {
            ValidatorSpec::JsonSchema { .. } => "json_schema",
            ValidatorSpec::MaxBytes { .. } => "max_bytes",
            ValidatorSpec::MaxItems { .. } => "max_items",
            ValidatorSpec::Unique { .. } => "unique",
            ValidatorSpec::MaxGrowth { .. } => "max_growth",
            ValidatorSpec::Cel { .. } => "cel",
            ValidatorSpec::Check { .. } => "check",
        }
    }

    /// The `files` glob, for every validator but `check`.
    pub fn files(&self) -> Option<&str> {
        match self {
            ValidatorSpec::JsonSchema { files, .. }
            | ValidatorSpec::MaxBytes { files, .. }
            | ValidatorSpec::MaxItems { files, .. }
            | ValidatorSpec::Unique { files, .. }
            | ValidatorSpec::MaxGrowth { files, .. }
            | ValidatorSpec::Cel { files, .. } => Some(files),
            ValidatorSpec::Check { .. } => None,
        }
    }
}

/// Static check of a validator spec, without any release: the glob compiles, the JSON Schema
/// is a valid schema, the CEL rule parses, JSON pointers are well formed, `max_ratio` is a
/// finite number above 0, a check command is not empty. The error says what is wrong.
pub fn check_validator_spec(v: &ValidatorSpec) -> Result<(), String> {
    if let ValidatorSpec::Check { command, timeout } = v {
        if command.trim().is_empty() {
            return Err("check: command is empty".to_string());
        }
        if *timeout == Some(Dur::ZERO) {
            return Err("check: timeout must be more than 0s".to_string());
        }
    }
    Compiled::new(v).map(|_| ())
}
