//! A parser for the Prometheus text exposition format (version 0.0.4, and the sample lines of
//! OpenMetrics): what the agent reads from a service's own `/metrics` endpoint to report health.
//!
//! The text is untrusted: the parser is bounded ([`MAX_BODY_BYTES`], [`MAX_LINE_BYTES`],
//! [`MAX_LABELS`], [`MAX_SERIES`]), never panics, and refuses the whole body on the first
//! malformed line (like Prometheus does), naming the line and why, so a half-read scrape never
//! passes for a whole one.
//!
//! Accepted: blank lines; `#` comments (`# HELP`, `# TYPE` and anything else, all ignored);
//! sample lines `name{label="value",...} value [timestamp]`, with optional spaces around
//! labels, a trailing comma in the label set, the escapes `\\`, `\"` and `\n` in label values,
//! values as floats including `NaN`, `+Inf`, `-Inf`, and an optional integer timestamp
//! (ignored). An OpenMetrics exemplar (` # {...} v`) after the value is ignored. Histograms
//! are plain series (`_bucket{le="0.1"}`, `_sum`, `_count`); see [`crate::histogram`] for
//! quantiles.
//!
//! Only series whose name the caller wants are kept ([`parse`] takes a filter), so a large
//! exposition costs little memory.

use std::fmt;

/// Largest body read from a metrics endpoint.
pub const MAX_BODY_BYTES: usize = 8 << 20;
/// Longest line accepted.
pub const MAX_LINE_BYTES: usize = 64 << 10;
/// Most labels on one series.
pub const MAX_LABELS: usize = 64;
/// Most series kept from one body (after the name filter).
pub const MAX_SERIES: usize = 100_000;

/// One sample line: a metric name, its labels (in the order written) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Series {
    /// The value of label `name`, if the series has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A stable key of the label set without `except` (sorted `k="v"` pairs), to match one
    /// series across scrapes.
    pub fn key_without(&self, except: &str) -> String {
        let mut pairs: Vec<&(String, String)> = self.labels.iter().filter(|(k, _)| k != except).collect();
        pairs.sort();
        let mut key = String::new();
        for (k, v) in pairs {
            if !key.is_empty() {
                key.push(',');
            }
            key.push_str(k);
            key.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => key.push_str("\\\\"),
                    '"' => key.push_str("\\\""),
                    '\n' => key.push_str("\\n"),
                    c => key.push(c),
                }
            }
            key.push('"');
        }
        key
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    #[error("the body is {bytes} bytes, more than the {limit}-byte limit")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the body is not UTF-8 (at byte {at})")]
    NotUtf8 { at: usize },
    #[error("line {line}: {why}")]
    Line { line: usize, why: String },
    #[error("more than {limit} series of the wanted metrics")]
    TooManySeries { limit: usize },
}

/// Parses `body`, keeping the series whose name `want` accepts. Every line is checked, kept
/// or not.
pub fn parse(body: &[u8], want: &dyn Fn(&str) -> bool) -> Result<Vec<Series>, ScrapeError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ScrapeError::TooLarge { bytes: body.len(), limit: MAX_BODY_BYTES });
    }
    let text = std::str::from_utf8(body).map_err(|e| ScrapeError::NotUtf8 { at: e.valid_up_to() })?;
    let mut out = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let bad = |why: Why| ScrapeError::Line { line, why: why.to_string() };
        if raw.len() > MAX_LINE_BYTES {
            return Err(bad(Why::LineTooLong));
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = raw.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let parsed = parse_line(trimmed).map_err(bad)?;
        if want(parsed.name) {
            if out.len() >= MAX_SERIES {
                return Err(ScrapeError::TooManySeries { limit: MAX_SERIES });
            }
            out.push(Series { name: parsed.name.to_string(), labels: parsed.labels, value: parsed.value });
        }
    }
    Ok(out)
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq)]
enum Why {
    LineTooLong,
    BadName,
    BadLabelName,
    ExpectedChar(char, Option<char>),
    BadEscape(char),
    UnterminatedValue,
    TooManyLabels,
    DuplicateLabel(String),
    MissingValue,
    BadValue(String),
    BadTimestamp(String),
    Trailing(String),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::LineTooLong => write!(f, "longer than {MAX_LINE_BYTES} bytes"),
            Why::BadName => f.write_str("expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"),
            Why::BadLabelName => f.write_str("expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
            Why::ExpectedChar(want, Some(got)) => write!(f, "expected `{want}`, found `{}`", got.escape_debug()),
            Why::ExpectedChar(want, None) => write!(f, "expected `{want}`, found the end of the line"),
            Why::BadEscape(c) => write!(f, "unknown escape `\\{}` in a label value", c.escape_debug()),
            Why::UnterminatedValue => f.write_str("a label value is not closed with `\"`"),
            Why::TooManyLabels => write!(f, "more than {MAX_LABELS} labels"),
            Why::DuplicateLabel(l) => write!(f, "label `{l}` appears twice"),
            Why::MissingValue => f.write_str("the sample has no value"),
            Why::BadValue(v) => write!(f, "`{}` is not a number", shorten(v)),
            Why::BadTimestamp(v) => write!(f, "`{}` is not a timestamp", shorten(v)),
            Why::Trailing(v) => write!(f, "unexpected `{}` after the timestamp", shorten(v)),
        }
    }
}

fn shorten(s: &str) -> String {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out: String = s[..end].escape_debug().collect();
    if end < s.len() {
        out.push('…');
    }
    out
}

struct Line<'a> {
    name: &'a str,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A cursor over one line.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, want: char) -> Result<(), Why> {
        match self.bump() {
            Some(c) if c == want => Ok(()),
            got => Err(Why::ExpectedChar(want, got)),
        }
    }

    /// Takes `[first][rest]*` characters.
    fn take_ident(&mut self, first: fn(char) -> bool, rest: fn(char) -> bool) -> Option<&'a str> {
        let start = self.pos;
        match self.peek() {
            Some(c) if first(c) => self.pos += c.len_utf8(),
            _ => return None,
        }
        while let Some(c) = self.peek() {
            if !rest(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        Some(&self.s[start..self.pos])
    }

    /// Takes characters up to the next blank or the end.
    fn take_word(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
}

fn metric_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn metric_name_rest(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn label_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn label_name_rest(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn parse_line(s: &str) -> Result<Line<'_>, Why> {
    let mut cur = Cursor { s, pos: 0 };
    let name = cur.take_ident(metric_name_start, metric_name_rest).ok_or(Why::BadName)?;
    cur.skip_blanks();
    let labels = if cur.peek() == Some('{') {
        cur.pos += 1;
        parse_labels(&mut cur)?
    } else {
        Vec::new()
    };
    cur.skip_blanks();
    let value = cur.take_word();
    if value.is_empty() {
        return Err(Why::MissingValue);
    }
    let value = parse_value(value).ok_or_else(|| Why::BadValue(value.to_string()))?;
    cur.skip_blanks();
    if cur.peek().is_some_and(|c| c != '#') {
        let ts = cur.take_word();
        if !is_timestamp(ts) {
            return Err(Why::BadTimestamp(ts.to_string()));
        }
        cur.skip_blanks();
    }
    // What remains may only be an OpenMetrics exemplar (`# {...} v`), which we ignore.
    let rest = cur.rest();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(Why::Trailing(rest.to_string()));
    }
    Ok(Line { name, labels, value })
}

/// Labels after the opening `{`, through the closing `}`.
fn parse_labels(cur: &mut Cursor<'_>) -> Result<Vec<(String, String)>, Why> {
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        cur.skip_blanks();
        if cur.peek() == Some('}') {
            cur.pos += 1;
            return Ok(labels);
        }
        let name = cur.take_ident(label_name_start, label_name_rest).ok_or(Why::BadLabelName)?;
        cur.skip_blanks();
        cur.expect('=')?;
        cur.skip_blanks();
        cur.expect('"')?;
        let value = parse_label_value(cur)?;
        if labels.len() >= MAX_LABELS {
            return Err(Why::TooManyLabels);
        }
        if labels.iter().any(|(k, _)| k == name) {
            return Err(Why::DuplicateLabel(name.to_string()));
        }
        labels.push((name.to_string(), value));
        cur.skip_blanks();
        match cur.bump() {
            Some(',') => {}
            Some('}') => return Ok(labels),
            got => return Err(Why::ExpectedChar('}', got)),
        }
    }
}

/// A label value after its opening `"`, through the closing one.
fn parse_label_value(cur: &mut Cursor<'_>) -> Result<String, Why> {
    let mut value = String::new();
    loop {
        match cur.bump() {
            None => return Err(Why::UnterminatedValue),
            Some('"') => return Ok(value),
            Some('\\') => match cur.bump() {
                Some('\\') => value.push('\\'),
                Some('"') => value.push('"'),
                Some('n') => value.push('\n'),
                Some(c) => return Err(Why::BadEscape(c)),
                None => return Err(Why::UnterminatedValue),
            },
            Some(c) => value.push(c),
        }
    }
}

/// A sample value: a Go-style float, `NaN`, `+Inf`, `-Inf` (any case, `Inf` alone too).
fn parse_value(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "nan" => return Some(f64::NAN),
        "+inf" | "inf" => return Some(f64::INFINITY),
        "-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    // Rust also reads `infinity` and `nan` spelled otherwise; only digits, signs, `.`, `e`.
    if !s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E')) {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Integer milliseconds (Prometheus text format) or decimal seconds (OpenMetrics).
fn is_timestamp(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && digits.len() <= 32
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
