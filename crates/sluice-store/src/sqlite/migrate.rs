//! The schema migrations, embedded in the binary and applied on open with sqlx's migrator
//! (which records them in `_sqlx_migrations`, checks their checksums and refuses a database
//! that has migrations this binary does not know, i.e. one written by a newer sluice).
//!
//! Migrations are listed here by hand rather than with `sqlx::migrate!` so that sqlx's macros
//! stay off; a test checks this list against `migrations/sqlite/`.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::SqlitePool;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::error::Result;

/// `(version, description, sql)`; the file is `migrations/sqlite/{version:04}_{description}.sql`.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../../migrations/sqlite/0001_initial.sql")),
    (2, "compact_rollouts", include_str!("../../migrations/sqlite/0002_compact_rollouts.sql")),
    (3, "api_tokens", include_str!("../../migrations/sqlite/0003_api_tokens.sql")),
];

#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Apply every embedded migration the database has not seen yet.
pub(crate) async fn run(pool: &SqlitePool) -> Result<()> {
    let migrator = Migrator::new(Embedded).await?;
    migrator.run(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn embedded_list_matches_the_migrations_directory() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<(String, String)> =
            MIGRATIONS.iter().map(|(v, d, sql)| (format!("{v:04}_{d}.sql"), sql.to_string())).collect();
        assert_eq!(on_disk, embedded, "list every file of migrations/sqlite/ in MIGRATIONS, in order");
        for (i, (v, _, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i as i64 + 1, "migration versions are 1, 2, 3, ...");
        }
    }
}
