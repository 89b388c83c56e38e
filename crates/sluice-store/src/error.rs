//! What can go wrong in the store. Every failure names what it was about; data read back from
//! the database that does not decode is [`StoreError::Corrupt`], never a panic.

use std::path::PathBuf;

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The record is not in the state the caller expected: another writer got there first
    /// (optimistic version check), a rollout of the service is already active, a one-time
    /// token was used. Re-read and decide again.
    #[error("conflict on {what} {id}: expected {expected}, found {found}")]
    Conflict { what: &'static str, id: String, expected: String, found: String },
    /// The caller's input cannot be stored as given (a bundle whose bytes do not match its
    /// digest, a time past the range of the database, an empty name).
    #[error("invalid {what} {id}: {why}")]
    Invalid { what: &'static str, id: String, why: String },
    /// A stored value does not decode (JSON that does not deserialize, a negative size).
    #[error("stored {what} {id} is corrupt: {why}")]
    Corrupt { what: &'static str, id: String, why: String },
    /// The database refused or failed (I/O, constraint violation, lock timeout).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed (or the database is newer than this binary).
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data directory could not be created.
    #[error("data directory {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl StoreError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}
