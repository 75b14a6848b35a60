//! The `api_keys` table: Shannon API keys (SHA-256 digests, lookup prefixes, revocation, last use),
//! and their resolution to an active owner in `users`.

use rusqlite::{Connection, Transaction, params};
use serde::Serialize;

use crate::core::error::Result;

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub key_prefix: String,
    pub description: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub is_active: bool,
}

/// The columns a new key writes.
pub(crate) struct NewApiKey<'a> {
    pub(crate) id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) description: Option<&'a str>,
    pub(crate) key_prefix: &'a str,
    pub(crate) key_hash: &'a [u8],
    pub(crate) created_at: &'a str,
}

/// An unrevoked key of an active user, matched by prefix; the caller compares the digest.
pub(crate) struct ApiKeyCandidate {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) tenant_id: String,
    pub(crate) key_hash: Vec<u8>,
    pub(crate) last_used_at: Option<String>,
}

/// Inserts a key.
pub(crate) fn insert(tx: &Transaction<'_>, k: &NewApiKey<'_>) -> Result<()> {
    tx.execute(
        "INSERT INTO api_keys (id, user_id, name, description, key_prefix, key_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            k.id,
            k.user_id,
            k.name,
            k.description,
            k.key_prefix,
            k.key_hash,
            k.created_at
        ],
    )?;
    Ok(())
}

/// A user's keys, newest first.
pub(crate) fn list_for_user(c: &Connection, user_id: &str) -> Result<Vec<ApiKeyInfo>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, name, key_prefix, description, created_at, last_used_at, revoked_at IS NULL
                     FROM api_keys WHERE user_id = ?1 ORDER BY created_at DESC",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(ApiKeyInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            key_prefix: r.get(2)?,
            description: r.get(3)?,
            created_at: r.get(4)?,
            last_used_at: r.get(5)?,
            is_active: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Revokes a user's key if still unrevoked; returns how many rows changed.
pub(crate) fn revoke(tx: &Transaction<'_>, id: &str, user_id: &str, now: &str) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        params![id, user_id, now],
    )?)
}

/// Inserts key `new_id` with the owner, name, description and tier of key `old_id`.
pub(crate) fn insert_replacement(
    tx: &Transaction<'_>,
    old_id: &str,
    new_id: &str,
    key_prefix: &str,
    key_hash: &[u8],
    now: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO api_keys (id, user_id, name, description, key_prefix, key_hash, tier, created_at)
                     SELECT ?2, user_id, name, description, ?3, ?4, tier, ?5 FROM api_keys WHERE id = ?1",
        params![old_id, new_id, key_prefix, key_hash, now],
    )?;
    Ok(())
}

/// A key's name.
pub(crate) fn name(c: &Connection, id: &str) -> Result<String> {
    Ok(
        c.query_row("SELECT name FROM api_keys WHERE id = ?1", [id], |r| {
            r.get::<_, String>(0)
        })?,
    )
}

/// Unrevoked keys of active users with this lookup prefix.
pub(crate) fn active_candidates_by_prefix(
    c: &Connection,
    key_prefix: &str,
) -> Result<Vec<ApiKeyCandidate>> {
    Ok(c.prepare_cached(
        "SELECT k.id, k.user_id, u.tenant_id, k.key_hash, k.last_used_at FROM api_keys k
                         JOIN users u ON u.id = k.user_id
                         WHERE k.key_prefix = ?1 AND k.revoked_at IS NULL AND u.is_active = 1",
    )?
    .query_map([key_prefix], |r| {
        Ok(ApiKeyCandidate {
            id: r.get(0)?,
            user_id: r.get(1)?,
            tenant_id: r.get(2)?,
            key_hash: r.get(3)?,
            last_used_at: r.get(4)?,
        })
    })?
    .collect::<Result<_, _>>()?)
}

/// Records a key's use now.
pub(crate) fn touch_last_used(tx: &Transaction<'_>, id: &str, now: &str) -> Result<()> {
    tx.execute(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}
