//! `json_schema`: every matching file is valid against an inline JSON Schema.
//!
//! The schema is compiled once with the `jsonschema` crate (draft detected from `$schema`,
//! 2020-12 by default). The crate is built without its HTTP and file resolvers, so a `$ref` to
//! anything outside the schema is refused when the spec is checked, never fetched.

use serde_json::Value;

use super::run::{At, FileGlob, Run};

/// Schema errors reported per file before the rest are summarised in one more violation.
const MAX_ERRORS_PER_FILE: usize = 20;
/// Longest schema error message kept, in characters (messages quote the offending value).
const MAX_MESSAGE_CHARS: usize = 300;

/// A compiled JSON Schema.
#[derive(Debug)]
pub(crate) struct Schema {
    validator: jsonschema::Validator,
}

impl Schema {
    /// Compiles `schema`, checking it against its meta-schema.
    pub(crate) fn new(schema: &Value) -> Result<Schema, String> {
        if !(schema.is_object() || schema.is_boolean()) {
            return Err("schema: a JSON Schema must be an object or a boolean".to_string());
        }
        jsonschema::validator_for(schema)
            .map(|validator| Schema { validator })
            .map_err(|e| format!("schema: invalid JSON Schema: {}", clip(&e.to_string())))
    }

    /// Validates every file `files` matches; each schema error is a violation at its instance
    /// path.
    pub(crate) fn run(&self, at: At, files: &FileGlob, run: &mut Run<'_>) {
        for (file, _) in run.matching(at, files) {
            let Some(doc) = run.content(at, file) else { continue };
            let mut errors = self.validator.iter_errors(&doc);
            for error in errors.by_ref().take(MAX_ERRORS_PER_FILE) {
                let path = error.instance_path().as_str().to_string();
                run.violation(at, file, Some(&path), clip(&error.to_string()));
            }
            let more = errors.count();
            if more > 0 {
                let msg = format!("and {more} more schema errors in this file");
                run.violation(at, file, None, msg);
            }
        }
    }
}

fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    cut.push('…');
    cut
}
