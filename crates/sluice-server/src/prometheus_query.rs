//! One PromQL instant query (`GET {url}/api/v1/query?query=…`) and its answer as per-target
//! values. The answer is outside data: it is read with a size limit, parsed without trusting
//! its shape, and every way it can be useless (unreachable, slow, an HTTP error, `status:
//! error`, not a vector, no series with the target label, values that are not numbers) is a
//! [`QueryError`] that says so.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use sluice_core::spec::{Per, PrometheusSource};

/// Largest answer read (a per-target vector of thousands of series fits easily).
pub const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// Why a query gave no values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Request(String),
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("answer larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("unreadable answer: {0}")]
    Decode(String),
    #[error("query error ({kind}): {message}")]
    Status { kind: String, message: String },
    #[error("the result is a {0}, not a vector of per-target series")]
    NotVector(String),
    #[error("empty result: no series matched the query")]
    Empty,
    #[error("{0} series, none with the label `{1}`")]
    NoTargetLabel(usize, String),
}

impl QueryError {
    /// A short stable name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryError::Timeout(_) => "timeout",
            QueryError::Connect(_) => "connect",
            QueryError::Request(_) => "request",
            QueryError::Http { .. } => "http",
            QueryError::TooLarge => "too_large",
            QueryError::Decode(_) => "decode",
            QueryError::Status { .. } => "status_error",
            QueryError::NotVector(_) => "not_vector",
            QueryError::Empty => "empty",
            QueryError::NoTargetLabel(..) => "no_target_label",
        }
    }
}

/// One series of a vector result: the target label's value and the sample value (which may be
/// NaN or infinite: Prometheus writes those as `"NaN"`, `"+Inf"`, `"-Inf"`).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesValue {
    pub target: String,
    pub value: f64,
}

/// Run the query; the series that carry the target label. Series without it are left out.
pub async fn query(
    client: &reqwest::Client,
    src: &PrometheusSource,
    timeout: Duration,
) -> Result<Vec<SeriesValue>, QueryError> {
    let url = format!("{}/api/v1/query", src.url.trim().trim_end_matches('/'));
    let send = client.get(&url).query(&[("query", src.query.as_str())]).timeout(timeout).send();
    let mut resp = send.await.map_err(|e| request_error(&e, timeout))?;
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| request_error(&e, timeout))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(QueryError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    // Prometheus answers 400/422/503 with a JSON error body: prefer its message.
    let answer: Result<Answer, _> = serde_json::from_slice(&body);
    if let Ok(a) = &answer
        && a.status == "error"
    {
        return Err(QueryError::Status {
            kind: a.error_type.clone().unwrap_or_else(|| "unknown".into()),
            message: clip(a.error.as_deref().unwrap_or("no message")),
        });
    }
    if !status.is_success() {
        return Err(QueryError::Http { status: status.as_u16(), body: clip(&String::from_utf8_lossy(&body)) });
    }
    let answer = answer.map_err(|e| QueryError::Decode(clip(&e.to_string())))?;
    if answer.status != "success" {
        return Err(QueryError::Decode(format!("status {:?}", clip(&answer.status))));
    }
    let data = answer.data.ok_or_else(|| QueryError::Decode("no `data`".into()))?;
    if data.result_type != "vector" {
        return Err(QueryError::NotVector(clip(&data.result_type)));
    }
    let series: Vec<Series> =
        serde_json::from_value(data.result).map_err(|e| QueryError::Decode(clip(&e.to_string())))?;
    if series.is_empty() {
        return Err(QueryError::Empty);
    }
    let total = series.len();
    if src.per == Per::Cohort {
        // One value for the whole wave; the caller gives it to every target of the wave.
        let [only] = series.as_slice() else {
            return Err(QueryError::Decode(format!(
                "a `per: cohort` query must return exactly one series, it returned {total}"
            )));
        };
        return Ok(vec![SeriesValue { target: String::new(), value: parse_value(&only.value.1) }]);
    }
    let values: Vec<SeriesValue> = series
        .into_iter()
        .filter_map(|s| {
            let target = s.metric.get(&src.target_label)?.clone();
            Some(SeriesValue { target, value: parse_value(&s.value.1) })
        })
        .collect();
    if values.is_empty() {
        return Err(QueryError::NoTargetLabel(total, src.target_label.clone()));
    }
    Ok(values)
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// `[unix seconds, "value"]`.
    value: (serde_json::Value, String),
}

/// Prometheus' float text: numbers, `NaN`, `+Inf`, `-Inf`. Anything else is NaN (no sample).
fn parse_value(s: &str) -> f64 {
    match s {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().unwrap_or(f64::NAN),
    }
}

fn request_error(e: &reqwest::Error, timeout: Duration) -> QueryError {
    if e.is_timeout() {
        QueryError::Timeout(timeout)
    } else if e.is_connect() {
        QueryError::Connect(root_cause(e))
    } else {
        QueryError::Request(root_cause(e))
    }
}

/// The innermost error's message (`connection refused`), which says more than reqwest's own.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    clip(&cur.to_string())
}

/// At most 200 characters of outside text, on one line.
fn clip(s: &str) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let t = one_line.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_float_text() {
        assert_eq!(parse_value("0.25"), 0.25);
        assert_eq!(parse_value("+Inf"), f64::INFINITY);
        assert_eq!(parse_value("-Inf"), f64::NEG_INFINITY);
        assert!(parse_value("NaN").is_nan());
        assert!(parse_value("junk").is_nan());
    }

    #[test]
    fn clips_long_and_multiline_text() {
        let long = "x".repeat(500);
        assert_eq!(clip(&long).chars().count(), 201);
        assert_eq!(clip("a\nb"), "a b");
    }
}
