//! The `secrets` table: plugin-wide values sealed under the master key (the master key check value,
//! the JWT signing secret), read, written and re-sealed on rotation.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::core::error::Result;

/// One sealed secret.
pub(crate) struct SecretRow {
    pub(crate) name: String,
    pub(crate) ciphertext: Vec<u8>,
}

/// The sealed value of secret `name`.
pub(crate) fn get(c: &Connection, name: &str) -> Result<Option<Vec<u8>>> {
    Ok(c.query_row(
        "SELECT ciphertext FROM secrets WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
    .optional()?)
}

/// Stores the sealed value of secret `name`, replacing any earlier one.
pub(crate) fn upsert(tx: &Transaction<'_>, name: &str, blob: &[u8], now: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO secrets (name, ciphertext, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT(name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
        params![name, blob, now],
    )?;
    Ok(())
}

/// Every secret (for re-sealing on rotation).
pub(crate) fn list_all(c: &Connection) -> Result<Vec<SecretRow>> {
    Ok(c.prepare("SELECT name, ciphertext FROM secrets")?
        .query_map([], |r| {
            Ok(SecretRow {
                name: r.get(0)?,
                ciphertext: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// Deletes secret `name`; returns whether it existed.
pub(crate) fn delete(tx: &Transaction<'_>, name: &str) -> Result<bool> {
    Ok(tx.execute("DELETE FROM secrets WHERE name = ?1", [name])? > 0)
}
