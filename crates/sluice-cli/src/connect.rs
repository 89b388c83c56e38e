//! Reaching the server: which URL, which bearer token, and one single-threaded runtime per
//! command invocation.
//!
//! The token comes from, in order: `--token` / `SLUICE_TOKEN`, then `--token-file` /
//! `SLUICE_TOKEN_FILE`, then `./sluice-data/admin.token` (where `sluice server` writes it by
//! default) when that file exists.

use std::future::Future;
use std::path::{Path, PathBuf};

use sluice_api::Client;

use crate::args::ConnArgs;

/// Where `sluice server` (default `--data-dir`) writes the admin token, relative to the
/// working directory.
pub const DEFAULT_TOKEN_FILE: &str = "sluice-data/admin.token";

/// A token file larger than this is not a token file.
const MAX_TOKEN_FILE_BYTES: u64 = 16 * 1024;

/// Where the token came from (for messages and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `--token` or `SLUICE_TOKEN`.
    Given,
    /// `--token-file` or `SLUICE_TOKEN_FILE`.
    File(PathBuf),
    /// The default `sluice-data/admin.token`.
    DefaultFile(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(
        "no token to talk to the server: pass --token (or set SLUICE_TOKEN), or --token-file (or set \
         SLUICE_TOKEN_FILE), or run where {} exists (the server writes its admin token there)",
        default.display()
    )]
    NoToken { default: PathBuf },
    #[error("the token given with --token / SLUICE_TOKEN is empty")]
    EmptyToken,
    #[error("failed to read the token file {}: {source}", path.display())]
    ReadToken { path: PathBuf, source: std::io::Error },
    #[error("the token file {} is empty", path.display())]
    EmptyTokenFile { path: PathBuf },
    #[error("the token file {} is {bytes} bytes, larger than the {limit}-byte limit", path.display())]
    TokenFileTooLarge { path: PathBuf, bytes: u64, limit: u64 },
    #[error("invalid server URL {url:?} (--server / SLUICE_SERVER): {why}")]
    BadUrl { url: String, why: String },
    #[error("failed to start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Find the bearer token: `token` (from `--token`/`SLUICE_TOKEN`), else the file `token_file`
/// (from `--token-file`/`SLUICE_TOKEN_FILE`), else `default_file` if it exists.
pub fn resolve_token(
    token: Option<&str>,
    token_file: Option<&Path>,
    default_file: &Path,
) -> Result<(String, TokenSource), ConnError> {
    if let Some(t) = token {
        let t = t.trim();
        if t.is_empty() {
            return Err(ConnError::EmptyToken);
        }
        return Ok((t.to_string(), TokenSource::Given));
    }
    if let Some(path) = token_file {
        return Ok((read_token_file(path)?, TokenSource::File(path.to_path_buf())));
    }
    if default_file.is_file() {
        return Ok((read_token_file(default_file)?, TokenSource::DefaultFile(default_file.to_path_buf())));
    }
    Err(ConnError::NoToken { default: default_file.to_path_buf() })
}

fn read_token_file(path: &Path) -> Result<String, ConnError> {
    let read = |source| ConnError::ReadToken { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(read)?;
    if meta.len() > MAX_TOKEN_FILE_BYTES {
        return Err(ConnError::TokenFileTooLarge {
            path: path.to_path_buf(),
            bytes: meta.len(),
            limit: MAX_TOKEN_FILE_BYTES,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ConnError::EmptyTokenFile { path: path.to_path_buf() });
    }
    Ok(token.to_string())
}

/// Check that `url` is an `http(s)://` URL with a host.
pub fn check_server_url(url: &str) -> Result<(), ConnError> {
    let bad = |why: String| ConnError::BadUrl { url: url.to_string(), why };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!("scheme {:?} is not http or https", parsed.scheme())));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".to_string()));
    }
    Ok(())
}

/// A client for the server and token these arguments name.
pub(crate) fn client(conn: &ConnArgs) -> Result<Client, ConnError> {
    check_server_url(&conn.server)?;
    let (token, _) = resolve_token(conn.token.as_deref(), conn.token_file.as_deref(), Path::new(DEFAULT_TOKEN_FILE))?;
    Client::new(&conn.server, Some(token))
        .map_err(|e| ConnError::BadUrl { url: conn.server.clone(), why: e.to_string() })
}

/// Run `fut` to completion on a fresh single-threaded runtime (one per command invocation).
pub(crate) fn block_on<F: Future>(fut: F) -> Result<F::Output, ConnError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ConnError::Runtime)?;
    Ok(rt.block_on(fut))
}
