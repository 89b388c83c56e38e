//! The admin token: made at the first start, written to `<data_dir>/admin.token` (mode 0600)
//! for the operator to read, and kept in the store only as its hash. Later starts reuse the
//! stored hash; the token itself is never logged.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sluice_store::{Audit, Store};

use crate::clock;
use crate::secret;

/// The admin token's file name inside the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// The admin token's hash: the stored one, or a new token's (written to `path` first, so a
/// crash between the two steps just makes a new token at the next start).
pub async fn ensure(store: &dyn Store, data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if let Some(hash) = store.admin_token_hash().await.context("read the admin token hash")? {
        if !path.exists() {
            tracing::warn!(path = %path.display(), "the admin token file is missing; the stored admin token stays valid");
        }
        return Ok(hash);
    }
    let token = secret::new_token(secret::ADMIN_PREFIX);
    write_private(&path, &token)?;
    let hash = secret::hash(&token);
    let audit = Audit::new("sluice", clock::now()).because("first start");
    if !store.init_admin_token_hash(&hash, &audit).await.context("store the admin token hash")? {
        // Another process set one between our read and write: theirs wins.
        return store.admin_token_hash().await?.context("the admin token hash vanished");
    }
    tracing::info!(path = %path.display(), "wrote a new admin token");
    Ok(hash)
}

/// Write `token` to `path` with mode 0600, replacing it atomically.
fn write_private(path: &Path, token: &str) -> anyhow::Result<()> {
    let tmp: PathBuf = path.with_extension("token.tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    f.write_all(token.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}
