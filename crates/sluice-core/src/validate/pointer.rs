//! JSON pointers (RFC 6901) into parsed files: a syntax check for specs and lookups whose
//! errors say exactly where the document stops matching the pointer.

use serde_json::Value;

/// Checks that `path` is a JSON pointer: empty (the whole document) or `/`-separated tokens
/// in which `~` only appears as `~0` (a literal `~`) or `~1` (a literal `/`).
pub(crate) fn check_syntax(path: &str) -> Result<(), String> {
    if !path.is_empty() && !path.starts_with('/') {
        return Err(format!("JSON pointer {path:?} must be empty or start with '/' (e.g. \"/features\")"));
    }
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "JSON pointer {path:?} has a '~' not followed by 0 or 1 (write ~0 for '~', ~1 for '/')"
            ));
        }
    }
    Ok(())
}

/// The value at `path` in `doc`, or why there is none: which prefix of the pointer is missing
/// or what kind of value stands in the way.
pub(crate) fn lookup<'v>(doc: &'v Value, path: &str) -> Result<&'v Value, String> {
    check_syntax(path)?;
    if path.is_empty() {
        return Ok(doc);
    }
    let mut here = doc;
    let mut walked = 0;
    for raw in path.split('/').skip(1) {
        let parent_end = walked;
        walked += 1 + raw.len();
        let prefix = &path[..walked];
        let token = raw.replace("~1", "/").replace("~0", "~");
        here = match here {
            Value::Object(map) => map.get(&token).ok_or_else(|| format!("{prefix} does not exist"))?,
            Value::Array(items) => {
                let index = parse_index(&token).ok_or_else(|| {
                    format!(
                        "{prefix} does not exist: {} is an array and {token:?} is not an index",
                        display_parent(&path[..parent_end])
                    )
                })?;
                items
                    .get(index)
                    .ok_or_else(|| format!("{prefix} does not exist: the array has {} items", items.len()))?
            }
            other => {
                return Err(format!(
                    "{prefix} does not exist: {} is {}",
                    display_parent(&path[..parent_end]),
                    kind_of(other)
                ));
            }
        };
    }
    Ok(here)
}

/// Array indices as RFC 6901 writes them: `0` or digits without a leading zero.
fn parse_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

fn display_parent(prefix: &str) -> &str {
    if prefix.is_empty() { "the document" } else { prefix }
}

/// "an array", "a string", ... for messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The pointer as shown in messages: `/` for the whole document.
pub(crate) fn shown(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// The items of the array at `path`.
pub(crate) fn array_at<'v>(doc: &'v Value, path: &str) -> Result<&'v [Value], String> {
    match lookup(doc, path)? {
        Value::Array(items) => Ok(items),
        other => Err(format!("{} is {}, not an array", shown(path), kind_of(other))),
    }
}

/// The number of items of the array, or entries of the object, at `path`.
pub(crate) fn count_at(doc: &Value, path: &str) -> Result<usize, String> {
    match lookup(doc, path)? {
        Value::Array(items) => Ok(items.len()),
        Value::Object(map) => Ok(map.len()),
        other => Err(format!("{} is {}, not an array or object", shown(path), kind_of(other))),
    }
}
