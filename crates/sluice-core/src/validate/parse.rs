//! Parsing release files into JSON values for the content validators.
//!
//! The format is chosen by extension: `.json` with `serde_json`, `.yaml`/`.yml` with
//! `serde-saphyr` under a [`Budget`](serde_saphyr::Budget) that stops alias bombs, deep nesting
//! and runaway documents before they cost memory or time. Anything else cannot be read by a
//! content validator; [`ParseError::Unsupported`] says so.
//!
//! YAML is read strictly: a duplicate mapping key, a second document (`---`), a non-finite
//! float (`.nan`) or invalid UTF-8 is a parse error, since any of them in a generated data
//! file means the generator went wrong. An empty YAML file is `null`.

use serde_json::Value;

/// Deepest nesting accepted in a YAML file (sequences plus mappings). `serde_json` has its own
/// fixed limit of 128.
const YAML_MAX_DEPTH: usize = 64;
/// Events an alias may replay over the whole document. A real configuration file reuses a few
/// small anchors; a "billion laughs" file needs millions.
const YAML_MAX_REPLAYED_EVENTS: usize = 100_000;
/// Nodes (scalars, sequences, mappings) in one YAML file.
const YAML_MAX_NODES: usize = 2_000_000;

/// The file format a content validator can read, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Yaml,
}

impl Format {
    /// The format of `path` by its extension (case-insensitive), or `None` for any other file.
    pub(crate) fn of(path: &str) -> Option<Format> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let (_, ext) = name.rsplit_once('.')?;
        if ext.eq_ignore_ascii_case("json") {
            Some(Format::Json)
        } else if ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml") {
            Some(Format::Yaml)
        } else {
            None
        }
    }
}

/// Why a file could not be turned into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// The extension is not `.json`, `.yaml` or `.yml`.
    Unsupported,
    /// The parser refused the content; the message names the line and column when known.
    Syntax(String),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Unsupported => f.write_str("content validators need a .json, .yaml or .yml file"),
            ParseError::Syntax(msg) => f.write_str(msg),
        }
    }
}

/// Parses `bytes` as the format implied by `path`.
pub(crate) fn parse_file(path: &str, bytes: &[u8]) -> Result<Value, ParseError> {
    match Format::of(path) {
        Some(Format::Json) => parse_json(bytes),
        Some(Format::Yaml) => parse_yaml(bytes),
        None => Err(ParseError::Unsupported),
    }
}

fn parse_json(bytes: &[u8]) -> Result<Value, ParseError> {
    // serde_json's own message already ends in "at line L column C".
    serde_json::from_slice(bytes).map_err(|e| ParseError::Syntax(format!("invalid JSON: {e}")))
}

fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = YAML_MAX_DEPTH;
    budget.max_nodes = YAML_MAX_NODES;
    budget.max_events = YAML_MAX_NODES.saturating_mul(2);
    budget.max_documents = 1;
    let mut limits = serde_saphyr::options::AliasLimits::default();
    limits.max_total_replayed_events = YAML_MAX_REPLAYED_EVENTS;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits = limits;
    // A one-line message; the location is added below from `Error::location`.
    options.with_snippet = false;
    options
}

fn parse_yaml(bytes: &[u8]) -> Result<Value, ParseError> {
    serde_saphyr::from_slice_with_options::<Value>(bytes, yaml_options()).map_err(|e| {
        let msg = first_line(&e.to_string());
        match e.location() {
            Some(loc) if loc.line() > 0 && !msg.contains("line") => {
                ParseError::Syntax(format!("invalid YAML at line {} column {}: {msg}", loc.line(), loc.column()))
            }
            _ => ParseError::Syntax(format!("invalid YAML: {msg}")),
        }
    })
}

fn first_line(s: &str) -> String {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or(s).to_string()
}
