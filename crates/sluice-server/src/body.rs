//! Reading what clients send, within limits: request bodies are read frame by frame and refused
//! with 413 as soon as they pass the limit (a `Content-Length` over it is refused before any
//! byte is read); JSON that does not decode is a 400 naming serde's reason; path and query
//! parameters that do not decode are 400s in the API's error shape.

use std::future::poll_fn;
use std::pin::Pin;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::http_error::HttpError;

/// Read `body` whole, refusing more than `limit` bytes. `what` names it in errors.
pub async fn read_limited(
    headers: &axum::http::HeaderMap,
    body: Body,
    limit: u64,
    what: &str,
) -> Result<Bytes, HttpError> {
    let too_large = |n: String| HttpError::too_large(format!("{what} is {n} bytes, over the limit of {limit} bytes"));
    if let Some(len) = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(too_large(len.to_string()));
    }
    let mut body = body;
    let mut out: Vec<u8> = Vec::new();
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| HttpError::bad_request(format!("could not read {what}: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if (out.len() as u64).saturating_add(data.len() as u64) > limit {
                return Err(too_large(format!("more than {limit}")));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

/// A JSON request body of at most [`sluice_api::MAX_JSON_BYTES`].
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, HttpError> {
        let (parts, body) = req.into_parts();
        let bytes = read_limited(&parts.headers, body, sluice_api::MAX_JSON_BYTES as u64, "the JSON body").await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| HttpError::bad_request(format!("the JSON body does not decode: {e}")))
    }
}

/// Path parameters, refused in the API's error shape.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HttpError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| PathParams(t))
            .map_err(|e| HttpError::bad_request(format!("bad path: {}", e.body_text())))
    }
}

/// Query parameters, refused in the API's error shape.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for QueryParams<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HttpError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| QueryParams(t))
            .map_err(|e| HttpError::bad_request(format!("bad query: {}", e.body_text())))
    }
}

/// A JSON request body that may also be empty (then `T::default()`), for commands whose every
/// field is optional.
#[derive(Debug)]
pub struct JsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, HttpError> {
        let (parts, body) = req.into_parts();
        let bytes = read_limited(&parts.headers, body, sluice_api::MAX_JSON_BYTES as u64, "the JSON body").await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(JsonOrEmpty)
            .map_err(|e| HttpError::bad_request(format!("the JSON body does not decode: {e}")))
    }
}
