//! Fetching a service's metrics endpoint: one GET within the scrape timeout, a body of at most
//! [`MAX_BODY_BYTES`](crate::scrape::MAX_BODY_BYTES), then the bounded parser.

use sluice_api::client::error_chain;
use std::time::Duration;

use crate::scrape::{self, MAX_BODY_BYTES, Series};

/// GETs `url` and parses the series `want` accepts; the error says why, for the log.
pub(crate) async fn scrape(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
    want: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<Series>, String> {
    let body = tokio::time::timeout(timeout, fetch(http, url))
        .await
        .map_err(|_| format!("GET {url}: no answer within {}ms", timeout.as_millis()))??;
    scrape::parse(&body, want).map_err(|e| format!("GET {url}: {e}"))
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut resp = http.get(url).send().await.map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
    if !resp.status().is_success() {
        return Err(format!("GET {url} answered {}", resp.status()));
    }
    if resp.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(format!("GET {url}: the body is larger than {MAX_BODY_BYTES} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("GET {url}: {}", error_chain(&e)))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(format!("GET {url}: the body is larger than {MAX_BODY_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
