//! A service's releases on this node.
//!
//! ```text
//! <state_dir>/<service>/
//!   releases/<hex>/     one unpacked release per bundle digest (`sha256:<hex>`)
//!   current -> releases/<hex>   the live release, switched by renaming a new symlink over it
//!   state.json          current, previous, known-good and history (see [`ServiceState`])
//! ```
//!
//! ([`ReleaseStore::open_dir`] takes the service directory itself, for a configured path.)
//! The `current` symlink is the truth about what is live: on open, a `state.json` that
//! disagrees with it (a crash between the two writes) is corrected from it. One
//! [`ReleaseStore`] per service directory at a time: the store takes no lock.
//! Applying and rolling back are in `apply.rs`.

mod apply;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_bundle::{Limits, TEMP_PREFIX, digest_hex};
use sluice_core::release::ReleaseId;

use crate::clock::{Clock, SystemClock};
use crate::durable;
use crate::outcome::ApplyError;
use crate::retention;
use crate::state::{HISTORY_LEN, HistoryEntry, HistoryEvent, ServiceState};

/// How a [`ReleaseStore`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Releases kept on disk besides the current, previous and known-good ones (default 5).
    pub keep: usize,
    /// What a bundle may be; the bundle size is further capped by the service's
    /// `max_bundle_bytes`.
    pub limits: Limits,
    /// Timeout of `check` and `reload` hooks and of check validators without their own
    /// (default 60 s).
    pub hook_timeout: Duration,
    /// Pause between health probe attempts (default 1 s).
    pub probe_retry_delay: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            keep: 5,
            limits: Limits::default(),
            hook_timeout: Duration::from_secs(60),
            probe_retry_delay: Duration::from_secs(1),
        }
    }
}

/// The releases of one service on this node, and the only thing that changes them.
#[derive(Debug)]
pub struct ReleaseStore {
    service: String,
    dir: PathBuf,
    config: StoreConfig,
    clock: Box<dyn Clock>,
    state: ServiceState,
}

impl ReleaseStore {
    /// Opens (creating if needed) `<state_dir>/<service>`, on the system clock.
    pub fn open(state_dir: &Path, service: &str, config: StoreConfig) -> Result<ReleaseStore, ApplyError> {
        ReleaseStore::open_with_clock(state_dir, service, config, Box::new(SystemClock))
    }

    /// Opens (creating if needed) `<state_dir>/<service>`: removes temporaries a crash left,
    /// loads `state.json` and corrects it from the `current` symlink.
    pub fn open_with_clock(
        state_dir: &Path,
        service: &str,
        config: StoreConfig,
        clock: Box<dyn Clock>,
    ) -> Result<ReleaseStore, ApplyError> {
        check_service_name(service)?;
        ReleaseStore::open_dir_with_clock(&state_dir.join(service), service, config, clock)
    }

    /// Opens (creating if needed) the service directory `dir` itself (`<dir>/current`,
    /// `<dir>/releases`, `<dir>/state.json`), on the system clock: for a service whose
    /// directory is configured rather than derived from a state directory.
    pub fn open_dir(dir: &Path, service: &str, config: StoreConfig) -> Result<ReleaseStore, ApplyError> {
        ReleaseStore::open_dir_with_clock(dir, service, config, Box::new(SystemClock))
    }

    /// [`ReleaseStore::open_dir`] on `clock`.
    pub fn open_dir_with_clock(
        dir: &Path,
        service: &str,
        config: StoreConfig,
        clock: Box<dyn Clock>,
    ) -> Result<ReleaseStore, ApplyError> {
        check_service_name(service)?;
        let dir = std::path::absolute(dir).map_err(ApplyError::io("resolve", dir.display()))?;
        let releases = dir.join("releases");
        fs::create_dir_all(&releases).map_err(ApplyError::io("create", releases.display()))?;
        remove_temporaries(&dir)?;
        remove_temporaries(&releases)?;
        let state_path = dir.join("state.json");
        let state = ServiceState::load(&state_path).map_err(ApplyError::io("read", state_path.display()))?;
        let mut store = ReleaseStore { service: service.to_string(), dir, config, clock, state };
        let live = store.read_current_link()?;
        if live != store.state.current {
            if let Some(live) = &live {
                store.record(live.clone(), HistoryEvent::Reconciled, None);
            }
            store.state.current = live;
            store.save()?;
        }
        Ok(store)
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// `<state_dir>/<service>`, absolute.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `current` symlink: `{current}` in hooks.
    pub fn current_link(&self) -> PathBuf {
        self.dir.join("current")
    }

    /// The directory of release `id` (which may not exist).
    pub fn release_dir(&self, id: &ReleaseId) -> Result<PathBuf, ApplyError> {
        Ok(self.dir.join("releases").join(digest_hex(&id.0)?))
    }

    /// The service's state as last saved.
    pub fn state(&self) -> &ServiceState {
        &self.state
    }

    /// The releases unpacked on disk, by id.
    pub fn kept(&self) -> Result<Vec<ReleaseId>, ApplyError> {
        let releases = self.dir.join("releases");
        let mut kept = Vec::new();
        for entry in fs::read_dir(&releases).map_err(ApplyError::io("list", releases.display()))? {
            let entry = entry.map_err(ApplyError::io("list", releases.display()))?;
            let id = ReleaseId(format!("sha256:{}", entry.file_name().to_string_lossy()));
            if digest_hex(&id.0).is_ok() {
                kept.push(id);
            }
        }
        kept.sort();
        Ok(kept)
    }

    /// Marks a kept release known-good: it is never deleted, until another one is marked.
    pub fn mark_known_good(&mut self, id: &ReleaseId) -> Result<(), ApplyError> {
        if !self.is_kept(id) {
            return Err(ApplyError::UnknownRelease { release: id.clone() });
        }
        self.state.known_good = Some(id.clone());
        self.record(id.clone(), HistoryEvent::MarkedKnownGood, None);
        self.save()
    }

    /// Deletes the releases retention does not keep: all but the current, previous and
    /// known-good releases and the last [`StoreConfig::keep`] that were current. Returns the
    /// deleted ids.
    pub fn prune(&mut self) -> Result<Vec<ReleaseId>, ApplyError> {
        let keep = retention::keep_set(&self.state, self.config.keep);
        let mut pruned = Vec::new();
        for id in self.kept()? {
            if !keep.contains(&id) {
                let dir = self.release_dir(&id)?;
                fs::remove_dir_all(&dir).map_err(ApplyError::io("delete", dir.display()))?;
                pruned.push(id);
            }
        }
        Ok(pruned)
    }

    fn is_kept(&self, id: &ReleaseId) -> bool {
        self.release_dir(id).map(|d| d.is_dir()).unwrap_or(false)
    }

    fn is_protected(&self, id: &ReleaseId) -> bool {
        [&self.state.current, &self.state.previous, &self.state.known_good].into_iter().flatten().any(|p| p == id)
    }

    /// The release the `current` symlink points to, if any.
    fn read_current_link(&self) -> Result<Option<ReleaseId>, ApplyError> {
        let link = self.current_link();
        let target = match fs::read_link(&link) {
            Ok(target) => target,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ApplyError::io("read the symlink", link.display())(e)),
        };
        let hex = target.strip_prefix("releases").ok().and_then(|t| t.to_str()).unwrap_or_default();
        let id = ReleaseId(format!("sha256:{hex}"));
        match digest_hex(&id.0) {
            Ok(_) => Ok(Some(id)),
            Err(_) => Err(ApplyError::io("read the symlink", link.display())(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("it points to `{}`, not to releases/<sha256 hex>", target.display()),
            ))),
        }
    }

    /// Points `current` at `id` (or removes it for `None`) atomically: a new symlink under a
    /// temporary name renamed over the old one, then an fsync of the directory.
    fn point_current_at(&self, id: Option<&ReleaseId>) -> Result<(), ApplyError> {
        let link = self.current_link();
        match id {
            Some(id) => {
                let target = Path::new("releases").join(digest_hex(&id.0)?);
                let tmp = durable::temp_beside(&link);
                symlink(&target, &tmp).map_err(ApplyError::io("create the symlink", tmp.display()))?;
                if let Err(e) = fs::rename(&tmp, &link) {
                    let _ = fs::remove_file(&tmp);
                    return Err(ApplyError::io("switch", link.display())(e));
                }
            }
            None => match fs::remove_file(&link) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ApplyError::io("remove", link.display())(e)),
            },
        }
        durable::sync_dir(&self.dir).map_err(ApplyError::io("sync", self.dir.display()))
    }

    fn record(&mut self, release: ReleaseId, event: HistoryEvent, reason: Option<&str>) {
        let entry = HistoryEntry { at: self.clock.now(), release, event, reason: reason.map(str::to_string) };
        self.state.record(entry, HISTORY_LEN.max(self.config.keep.saturating_mul(4)));
    }

    fn save(&self) -> Result<(), ApplyError> {
        let path = self.dir.join("state.json");
        self.state.save(&path).map_err(ApplyError::io("write", path.display()))
    }
}

/// A service name is one plain directory name: ASCII letters, digits, `-`, `_` and `.`, not
/// starting with `.`, at most 128 bytes.
pub(crate) fn check_service_name(name: &str) -> Result<(), ApplyError> {
    let why = if name.is_empty() {
        Some("the name is empty")
    } else if name.len() > 128 {
        Some("the name is longer than 128 bytes")
    } else if name.starts_with('.') {
        Some("the name starts with `.`")
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        Some("the name may only have ASCII letters, digits, `-`, `_` and `.`")
    } else {
        None
    };
    match why {
        Some(why) => Err(ApplyError::InvalidService { name: name.to_string(), why }),
        None => Ok(()),
    }
}

/// Removes what a crash left under `dir`: entries named with [`TEMP_PREFIX`].
fn remove_temporaries(dir: &Path) -> Result<(), ApplyError> {
    for entry in fs::read_dir(dir).map_err(ApplyError::io("list", dir.display()))? {
        let entry = entry.map_err(ApplyError::io("list", dir.display()))?;
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let path = entry.path();
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            let removed = if is_dir { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            removed.map_err(ApplyError::io("remove the leftover", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_plain_directory_names() {
        for ok in ["nginx", "feature-file_v2", "a.b"] {
            assert!(check_service_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "ü", &"x".repeat(129)] {
            assert_eq!(check_service_name(bad).map_err(|e| e.reason()), Err("config"), "{bad:?}");
        }
    }

    #[test]
    fn open_cleans_leftovers_and_trusts_the_current_link() {
        let root = tempfile::tempdir().unwrap();
        let hex = "a".repeat(64);
        let svc = root.path().join("svc");
        fs::create_dir_all(svc.join("releases").join(&hex)).unwrap();
        fs::create_dir_all(svc.join("releases").join(format!("{TEMP_PREFIX}x"))).unwrap();
        symlink(format!("releases/{hex}"), svc.join("current")).unwrap();
        let store = ReleaseStore::open(root.path(), "svc", StoreConfig::default()).unwrap();
        assert_eq!(store.state().current, Some(ReleaseId(format!("sha256:{hex}"))));
        assert_eq!(store.state().history.last().map(|e| e.event), Some(HistoryEvent::Reconciled));
        assert_eq!(fs::read_dir(svc.join("releases")).unwrap().count(), 1);
        assert_eq!(ServiceState::load(&svc.join("state.json")).unwrap(), *store.state());
    }

    #[test]
    fn a_current_link_that_points_elsewhere_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("svc")).unwrap();
        symlink("/etc", root.path().join("svc/current")).unwrap();
        let err = ReleaseStore::open(root.path(), "svc", StoreConfig::default()).unwrap_err();
        assert!(err.to_string().contains("it points to `/etc`"), "{err}");
    }
}
