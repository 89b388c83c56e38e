//! Reading YAML files we did not write: size and alias budgets, unknown fields refused, and
//! every error naming the file, line, column and field path.

use std::fmt;

use serde::de::DeserializeOwned;

use super::Spec;
use super::check::{Problem, check_spec};

/// The largest spec or scenario file we read.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// A YAML document that could not be turned into the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("{file}: file is {bytes} bytes, larger than the {limit}-byte limit")]
    TooLarge { file: String, bytes: usize, limit: usize },
    #[error("{file}:{line}:{column}: {}{message}", path_prefix(path))]
    Invalid {
        file: String,
        /// 1-based; 0 when the parser could not say.
        line: u64,
        column: u64,
        /// Field path such as `pipelines.default.stages[2].waves`, empty at the top.
        path: String,
        message: String,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() || path == "." { String::new() } else { format!("at `{path}`: ") }
}

/// Parse `text` (the contents of `file`) as YAML into `T`, within budgets that stop alias bombs,
/// deep nesting and oversized input.
pub fn from_yaml<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, YamlError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlError::TooLarge { file: file.to_string(), bytes: text.len(), limit: MAX_FILE_BYTES });
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_depth: 64,
            max_nodes: 500_000,
            max_events: 2_000_000,
            max_documents: 1,
        },
        with_snippet: false,
    };
    let mut path = String::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        let message = e.without_snippet().to_string();
        YamlError::Invalid {
            file: file.to_string(),
            line,
            column,
            path: clean_path(&path),
            message: strip_location(&message),
        }
    })
}

fn clean_path(p: &str) -> String {
    if p == "." { String::new() } else { p.to_string() }
}

/// The parser's own message may end with " at line X column Y"; we print the location first.
fn strip_location(msg: &str) -> String {
    let m = msg.trim();
    match m.rfind(" at line ") {
        Some(i) if m[i..].contains("column") => m[..i].trim_end().to_string(),
        _ => m.to_string(),
    }
}

/// Why a spec file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{}", render_problems(file, problems))]
    Invalid { file: String, problems: Vec<Problem> },
}

fn render_problems(file: &str, problems: &[Problem]) -> String {
    let mut s = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&format!("{file}:{}", p));
    }
    s
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some((l, c)) => write!(f, "{l}:{c}: at `{}`: {}", self.path, self.message),
            None => write!(f, " at `{}`: {}", self.path, self.message),
        }
    }
}

/// Parse and check a spec: YAML shape first, then meaning (references resolve, waves grow,
/// gates and validators make sense). Every problem is reported, not just the first.
pub fn parse_spec(file: &str, text: &str) -> Result<Spec, SpecError> {
    let spec: Spec = from_yaml(file, text)?;
    let problems = check_spec(&spec, Some(text));
    if problems.is_empty() { Ok(spec) } else { Err(SpecError::Invalid { file: file.to_string(), problems }) }
}
