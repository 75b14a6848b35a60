//! The `user_settings` table (per-user JSON settings) and the `provider_api_keys` table (per-user
//! provider keys, sealed under the master key).

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use crate::core::error::Result;

/// One setting. `value` is JSON text, so both doors carry any JSON value losslessly.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub updated_at: String,
}

/// Maps a `key, value, updated_at` row.
fn read_setting(row: &rusqlite::Row<'_>) -> rusqlite::Result<Setting> {
    Ok(Setting {
        key: row.get(0)?,
        value: row.get(1)?,
        updated_at: row.get(2)?,
    })
}

/// One setting of a user.
pub(crate) fn get(c: &Connection, user_id: &str, key: &str) -> Result<Option<Setting>> {
    Ok(c.prepare_cached(
        "SELECT key, value, updated_at FROM user_settings WHERE user_id = ?1 AND key = ?2",
    )?
    .query_row(params![user_id, key], read_setting)
    .optional()?)
}

/// Every setting of a user, by key.
pub(crate) fn list_for_user(c: &Connection, user_id: &str) -> Result<Vec<Setting>> {
    let mut stmt = c.prepare_cached(
        "SELECT key, value, updated_at FROM user_settings WHERE user_id = ?1 ORDER BY key",
    )?;
    let rows = stmt.query_map([user_id], read_setting)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Stores a setting of a user, replacing any earlier value.
pub(crate) fn upsert(tx: &Transaction<'_>, user_id: &str, s: &Setting) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO user_settings (user_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(user_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?
    .execute(params![user_id, s.key, s.value, s.updated_at])?;
    Ok(())
}

/// Deletes a setting of a user; returns how many rows went.
pub(crate) fn delete(tx: &Transaction<'_>, user_id: &str, key: &str) -> Result<usize> {
    Ok(tx.execute(
        "DELETE FROM user_settings WHERE user_id = ?1 AND key = ?2",
        params![user_id, key],
    )?)
}

/// A stored provider key's timestamps.
pub(crate) struct ProviderKeyTimes {
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) last_used_at: Option<String>,
}

/// A stored provider key, still sealed.
pub(crate) struct ProviderKeyRow {
    pub(crate) provider: String,
    /// The endpoint origin the key is bound to; `None` for a key stored before keys were bound.
    pub(crate) origin: Option<String>,
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) last_used_at: Option<String>,
}

/// One sealed provider key of any user (for re-sealing on rotation).
pub(crate) struct SealedProviderKey {
    pub(crate) user_id: String,
    pub(crate) provider: String,
    pub(crate) origin: Option<String>,
    pub(crate) ciphertext: Vec<u8>,
}

/// Stores a user's sealed key for a provider, bound to `origin`, replacing any earlier one.
pub(crate) fn upsert_provider_key(
    tx: &Transaction<'_>,
    user_id: &str,
    provider: &str,
    origin: &str,
    ciphertext: &[u8],
    now: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO provider_api_keys (user_id, provider, origin, ciphertext, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                     ON CONFLICT(user_id, provider) DO UPDATE
                       SET origin = excluded.origin, ciphertext = excluded.ciphertext,
                           updated_at = excluded.updated_at",
        params![user_id, provider, origin, ciphertext, now],
    )?;
    Ok(())
}

/// The timestamps of a user's key for a provider.
pub(crate) fn provider_key_times(
    c: &Connection,
    user_id: &str,
    provider: &str,
) -> Result<ProviderKeyTimes> {
    Ok(c.query_row(
        "SELECT created_at, updated_at, last_used_at FROM provider_api_keys
                     WHERE user_id = ?1 AND provider = ?2",
        params![user_id, provider],
        |r| {
            Ok(ProviderKeyTimes {
                created_at: r.get(0)?,
                updated_at: r.get(1)?,
                last_used_at: r.get(2)?,
            })
        },
    )?)
}

/// Every key of a user, sealed, by provider.
pub(crate) fn list_provider_keys(c: &Connection, user_id: &str) -> Result<Vec<ProviderKeyRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT provider, origin, ciphertext, created_at, updated_at, last_used_at
                     FROM provider_api_keys WHERE user_id = ?1 ORDER BY provider",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(ProviderKeyRow {
            provider: r.get(0)?,
            origin: r.get(1)?,
            ciphertext: r.get(2)?,
            created_at: r.get(3)?,
            updated_at: r.get(4)?,
            last_used_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Deletes a user's key for a provider; returns how many rows went.
pub(crate) fn delete_provider_key(
    tx: &Transaction<'_>,
    user_id: &str,
    provider: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "DELETE FROM provider_api_keys WHERE user_id = ?1 AND provider = ?2",
        params![user_id, provider],
    )?)
}

/// Records that a user's key for a provider was used now; returns how many rows changed.
pub(crate) fn mark_provider_key_used(
    tx: &Transaction<'_>,
    user_id: &str,
    provider: &str,
    now: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE provider_api_keys SET last_used_at = ?3 WHERE user_id = ?1 AND provider = ?2",
        params![user_id, provider, now],
    )?)
}

/// The sealed key of a user for a provider, with the origin it is bound to.
pub(crate) fn provider_key_ciphertext(
    c: &Connection,
    user_id: &str,
    provider: &str,
) -> Result<Option<(Option<String>, Vec<u8>)>> {
    Ok(c.prepare_cached(
        "SELECT origin, ciphertext FROM provider_api_keys WHERE user_id = ?1 AND provider = ?2",
    )?
    .query_row(params![user_id, provider], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()?)
}

/// Every provider key of every user, sealed (for re-sealing on rotation).
pub(crate) fn list_all_provider_keys(c: &Connection) -> Result<Vec<SealedProviderKey>> {
    Ok(
        c.prepare("SELECT user_id, provider, origin, ciphertext FROM provider_api_keys")?
            .query_map([], |r| {
                Ok(SealedProviderKey {
                    user_id: r.get(0)?,
                    provider: r.get(1)?,
                    origin: r.get(2)?,
                    ciphertext: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?,
    )
}

/// Replaces the sealed value of a user's key for a provider and the origin it is bound to
/// (re-sealing on rotation, binding a key stored before keys were bound).
pub(crate) fn set_provider_key_ciphertext(
    tx: &Transaction<'_>,
    user_id: &str,
    provider: &str,
    origin: Option<&str>,
    ciphertext: &[u8],
) -> Result<()> {
    tx.execute(
        "UPDATE provider_api_keys SET origin = ?3, ciphertext = ?4
                     WHERE user_id = ?1 AND provider = ?2",
        params![user_id, provider, origin, ciphertext],
    )?;
    Ok(())
}
