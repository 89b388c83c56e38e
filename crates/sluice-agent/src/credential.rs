//! The agent's own credential: what enrollment gave it, kept in `<state_dir>/credential`
//! (mode 0600, written atomically) as JSON `{"server", "target", "credential"}`, so later
//! starts skip enrollment. The enrollment token is needed only until this file exists.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_core::release::TargetId;

use crate::durable;

/// The file name under the state directory.
pub const FILE_NAME: &str = "credential";

/// A saved credential.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The server it was issued by.
    pub server: String,
    /// The target it belongs to.
    pub target: TargetId,
    /// The bearer token.
    pub credential: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("server", &self.server)
            .field("target", &self.target)
            .field("credential", &"<redacted>")
            .finish()
    }
}

/// `<state_dir>/credential`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

impl Credential {
    /// The saved credential; `None` when there is none. A file that does not parse is an error
    /// (a person should look), not a reason to enroll again silently.
    pub fn load(state_dir: &Path) -> io::Result<Option<Credential>> {
        let path = path(state_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }

    /// Saves it to `<state_dir>/credential` with mode 0600, atomically (creating the state
    /// directory if needed).
    pub fn save(&self, state_dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(state_dir)?;
        let mut bytes = serde_json::to_vec_pretty(self).map_err(io::Error::from)?;
        bytes.push(b'\n');
        durable::write_atomic_with_mode(&path(state_dir), &bytes, 0o600)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn saved_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        assert_eq!(Credential::load(&state).unwrap(), None);
        let c = Credential { server: "http://s".into(), target: "t-1".into(), credential: "secret".into() };
        c.save(&state).unwrap();
        let mode = std::fs::metadata(path(&state)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Credential::load(&state).unwrap(), Some(c.clone()));
        let again = Credential { credential: "other".into(), ..c };
        again.save(&state).unwrap();
        assert_eq!(std::fs::metadata(path(&state)).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(Credential::load(&state).unwrap(), Some(again.clone()));
        assert_eq!(std::fs::read_dir(&state).unwrap().count(), 1, "no temporary left");
        assert!(!format!("{again:?}").contains("other"));
    }

    #[test]
    fn a_corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), b"{").unwrap();
        let e = Credential::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains("credential"), "{e}");
    }
}
