//! Versioned schema migrations from `migrations/NN-name/up.sql`, compiled in. The version lives in
//! `PRAGMA user_version`; a database newer than this build is refused rather than opened.

use std::sync::LazyLock;

use include_dir::{Dir, include_dir};
use rusqlite::Connection;
use rusqlite_migration::Migrations;

use crate::core::error::{Result, ShannonError};

static MIGRATIONS_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/migrations");

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    // The directory is embedded at compile time and checked by a unit test, so this cannot fail at run
    // time unless the build itself is broken.
    Migrations::from_directory(&MIGRATIONS_DIR).expect("embedded migrations are well-formed")
});

/// Number of migrations this build knows: the schema version it writes.
pub static SCHEMA_VERSION: LazyLock<u32> = LazyLock::new(|| MIGRATIONS_DIR.dirs().count() as u32);

/// The embedded migration set (tests use it to build databases at older versions).
pub fn migrations() -> &'static Migrations<'static> {
    &MIGRATIONS
}

/// Brings `conn` to the latest schema; idempotent.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let supported = *SCHEMA_VERSION;
    if found > supported {
        return Err(ShannonError::DatabaseTooNew { found, supported });
    }
    if found < supported {
        tracing::info!(
            from = found,
            to = supported,
            "migrating the Shannon database"
        );
    }
    MIGRATIONS
        .to_latest(conn)
        .map_err(|e| ShannonError::Database(format!("migration failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_validate() {
        assert!(*SCHEMA_VERSION >= 3);
        MIGRATIONS.validate().unwrap();
    }
}
