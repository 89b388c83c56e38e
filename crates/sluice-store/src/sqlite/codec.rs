//! Values in and out of SQLite columns: times and counts as INTEGER, JSON as TEXT. Anything
//! that does not decode on the way out is [`StoreError::Corrupt`], naming the record.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_core::time::Millis;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::error::{Result, StoreError};

/// A time as a column value; times past `i64::MAX` ms cannot be stored.
pub(crate) fn millis(what: &'static str, id: &str, m: Millis) -> Result<i64> {
    count(what, id, m.0)
}

/// A count or version as a column value.
pub(crate) fn count(what: &'static str, id: &str, n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::Invalid {
        what,
        id: id.to_string(),
        why: format!("{n} is past the largest value the database holds"),
    })
}

/// A value as JSON text.
pub(crate) fn json<T: Serialize + ?Sized>(what: &'static str, id: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid {
        what,
        id: id.to_string(),
        why: format!("does not serialize to JSON: {e}"),
    })
}

/// Whether the database refused a write because a unique key already exists.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// One row of one record, read with the record named in every error.
pub(crate) struct Cols<'r> {
    row: &'r SqliteRow,
    what: &'static str,
    id: String,
}

impl<'r> Cols<'r> {
    pub(crate) fn new(row: &'r SqliteRow, what: &'static str, id: impl Into<String>) -> Cols<'r> {
        Cols { row, what, id: id.into() }
    }

    fn corrupt(&self, why: String) -> StoreError {
        StoreError::Corrupt { what: self.what, id: self.id.clone(), why }
    }

    fn get<T>(&self, col: &str) -> Result<T>
    where
        T: for<'a> sqlx::Decode<'a, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        self.row.try_get::<T, _>(col).map_err(|e| self.corrupt(format!("column {col}: {e}")))
    }

    pub(crate) fn text(&self, col: &str) -> Result<String> {
        self.get(col)
    }

    pub(crate) fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.get(col)
    }

    pub(crate) fn bytes(&self, col: &str) -> Result<Vec<u8>> {
        self.get(col)
    }

    pub(crate) fn u64(&self, col: &str) -> Result<u64> {
        let v: i64 = self.get(col)?;
        u64::try_from(v).map_err(|_| self.corrupt(format!("column {col}: negative value {v}")))
    }

    pub(crate) fn millis(&self, col: &str) -> Result<Millis> {
        self.u64(col).map(Millis)
    }

    pub(crate) fn opt_millis(&self, col: &str) -> Result<Option<Millis>> {
        let v: Option<i64> = self.get(col)?;
        v.map(|v| u64::try_from(v).map(Millis).map_err(|_| self.corrupt(format!("column {col}: negative value {v}"))))
            .transpose()
    }

    pub(crate) fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
        let text: String = self.get(col)?;
        serde_json::from_str(&text).map_err(|e| self.corrupt(format!("column {col} does not deserialize: {e}")))
    }

    /// A nullable JSON column.
    pub(crate) fn opt_json<T: DeserializeOwned>(&self, col: &str) -> Result<Option<T>> {
        let text: Option<String> = self.get(col)?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| self.corrupt(format!("column {col} does not deserialize: {e}")))
        })
        .transpose()
    }
}
