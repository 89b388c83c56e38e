//! `cel`: a CEL rule that must evaluate to `true` for each matching file.
//!
//! Variables: `content` (the parsed file), `file` (its path), `size` (bytes, int), `parent`
//! (the parsed parent file, or null when there is no parent, it lacks the file or it does not
//! parse) and `parent_size` (int, or null when the parent lacks the file). A rule that does not
//! mention `content` does not need the file to parse, so it also works on binaries.
//!
//! JSON numbers become CEL `int` when they fit an i64 (so `size(content.items) <= 200` and
//! `content.port + 1` work), `uint` above that, `double` otherwise.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use cel::objects::Key;
use cel::{Context, Env, Program, Value as Cel};
use serde_json::Value;

use super::run::{At, FileGlob, Run};

/// Longest result quoted in a "not a bool" message, in characters.
const QUOTE_CHARS: usize = 80;

/// A compiled CEL rule.
pub(crate) struct CelRule {
    source: String,
    message: Option<String>,
    program: Program,
    env: Arc<Env>,
    needs_content: bool,
    needs_parent: bool,
}

impl fmt::Debug for CelRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CelRule").field("source", &self.source).finish_non_exhaustive()
    }
}

impl CelRule {
    /// Parses `rule`; `message` replaces the default "rule ... is false" text.
    pub(crate) fn new(rule: &str, message: Option<String>) -> Result<CelRule, String> {
        if rule.trim().is_empty() {
            return Err("rule: empty".to_string());
        }
        let env = Arc::new(Env::stdlib());
        let program = env.compile(rule).map_err(|e| format!("rule: does not parse: {e}"))?;
        let refs = program.references();
        let needs_content = refs.has_variable("content");
        let needs_parent = refs.has_variable("parent");
        Ok(CelRule { source: rule.to_string(), message, program, env, needs_content, needs_parent })
    }

    pub(crate) fn run(&self, at: At, files: &FileGlob, run: &mut Run<'_>) {
        for (file, bytes) in run.matching(at, files) {
            let content = if self.needs_content {
                let Some(doc) = run.content(at, file) else { continue };
                to_cel(&doc)
            } else {
                Cel::Null
            };
            let parent = match self.needs_parent.then(|| run.parent_content(file)).flatten() {
                Some(doc) => to_cel(&doc),
                None => Cel::Null,
            };
            let parent_size = run.parent_bytes(file).map_or(Cel::Null, |b| int(b.len()));

            let mut ctx = Context::with_env(Arc::clone(&self.env));
            ctx.add_variable_from_value("content", content);
            ctx.add_variable_from_value("file", file);
            ctx.add_variable_from_value("size", int(bytes.len()));
            ctx.add_variable_from_value("parent", parent);
            ctx.add_variable_from_value("parent_size", parent_size);

            let failure = match self.program.execute(&ctx) {
                Ok(Cel::Bool(true)) => continue,
                Ok(Cel::Bool(false)) => match &self.message {
                    Some(m) => m.clone(),
                    None => format!("rule `{}` is false", self.source),
                },
                Ok(other) => {
                    format!("rule `{}` returned {} {}, not a bool", self.source, other.type_of(), quote(&other))
                }
                Err(e) => format!("rule `{}` failed: {e}", self.source),
            };
            run.violation(at, file, None, failure);
        }
    }
}

fn int(n: usize) -> Cel {
    i64::try_from(n).map_or_else(|_| Cel::UInt(n as u64), Cel::Int)
}

fn quote(v: &Cel) -> String {
    let text = format!("{v:?}");
    if text.chars().count() <= QUOTE_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(QUOTE_CHARS).collect();
    cut.push('…');
    cut
}

/// A JSON value as a CEL value.
pub(crate) fn to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Cel::Int(i)
            } else if let Some(u) = n.as_u64() {
                Cel::UInt(u)
            } else {
                Cel::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => Cel::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let entries: HashMap<Key, Cel> =
                map.iter().map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v))).collect();
            Cel::Map(entries.into())
        }
    }
}
