//! The `users` table (accounts, password hashes) and the `refresh_tokens` table (one row per issued
//! refresh token, revoked on use or on reuse).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::core::error::Result;

/// One user, as login and `me` read it.
pub(crate) struct UserRow {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) username: String,
    pub(crate) email: Option<String>,
    pub(crate) password_hash: Option<String>,
    pub(crate) full_name: Option<String>,
    pub(crate) role: String,
    pub(crate) tier: String,
    pub(crate) is_active: bool,
}

const USER_COLUMNS: &str =
    "id, tenant_id, username, email, password_hash, full_name, role, tier, is_active";

impl UserRow {
    /// Maps a row selected with `USER_COLUMNS`.
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            tenant_id: r.get(1)?,
            username: r.get(2)?,
            email: r.get(3)?,
            password_hash: r.get(4)?,
            full_name: r.get(5)?,
            role: r.get(6)?,
            tier: r.get(7)?,
            is_active: r.get(8)?,
        })
    }
}

/// The columns a registration writes; the others take their defaults.
pub(crate) struct NewUser<'a> {
    pub(crate) id: &'a str,
    pub(crate) tenant_id: &'a str,
    pub(crate) username: &'a str,
    pub(crate) email: Option<&'a str>,
    pub(crate) password_hash: Option<&'a str>,
    pub(crate) full_name: Option<&'a str>,
    pub(crate) now: &'a str,
}

/// Whether a user has this e-mail.
pub(crate) fn email_exists(c: &Connection, email: &str) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS(SELECT 1 FROM users WHERE email = ?1)",
        [email],
        |r| r.get(0),
    )?)
}

/// Whether a user has this username.
pub(crate) fn username_exists(c: &Connection, username: &str) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS(SELECT 1 FROM users WHERE username = ?1)",
        [username],
        |r| r.get(0),
    )?)
}

/// Inserts a user (created and updated now).
pub(crate) fn insert(tx: &Transaction<'_>, u: &NewUser<'_>) -> Result<()> {
    tx.execute(
        "INSERT INTO users (id, tenant_id, username, email, password_hash, full_name, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            u.id,
            u.tenant_id,
            u.username,
            u.email,
            u.password_hash,
            u.full_name,
            u.now
        ],
    )?;
    Ok(())
}

/// The user whose e-mail or username is `ident`.
pub(crate) fn find_by_login(c: &Connection, ident: &str) -> Result<Option<UserRow>> {
    Ok(c.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1 OR username = ?1"),
        [ident],
        UserRow::from_row,
    )
    .optional()?)
}

/// The user with this id.
pub(crate) fn get(c: &Connection, id: &str) -> Result<Option<UserRow>> {
    Ok(c.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        [id],
        UserRow::from_row,
    )
    .optional()?)
}

/// Whether the user is active; `None` when there is no such user.
pub(crate) fn is_active(c: &Connection, id: &str) -> Result<Option<bool>> {
    Ok(
        c.query_row("SELECT is_active FROM users WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?,
    )
}

/// Records an issued refresh token.
pub(crate) fn insert_refresh_token(
    tx: &Transaction<'_>,
    jti: &str,
    user_id: &str,
    expires_at: &str,
    created_at: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO refresh_tokens (jti, user_id, expires_at, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![jti, user_id, expires_at, created_at],
    )?;
    Ok(())
}

/// A refresh token's revocation and its owner's activity.
pub(crate) struct RefreshTokenState {
    pub(crate) revoked_at: Option<String>,
    pub(crate) user_active: bool,
}

/// The state of refresh token `jti` of `user_id`; `None` when there is no such token.
pub(crate) fn refresh_token_state(
    c: &Connection,
    jti: &str,
    user_id: &str,
) -> Result<Option<RefreshTokenState>> {
    Ok(c.query_row(
        "SELECT r.revoked_at, u.is_active FROM refresh_tokens r JOIN users u ON u.id = r.user_id
                     WHERE r.jti = ?1 AND r.user_id = ?2",
        params![jti, user_id],
        |r| {
            Ok(RefreshTokenState {
                revoked_at: r.get(0)?,
                user_active: r.get(1)?,
            })
        },
    )
    .optional()?)
}

/// Revokes every unrevoked refresh token of a user; returns how many.
pub(crate) fn revoke_refresh_tokens_for_user(
    tx: &Transaction<'_>,
    user_id: &str,
    now: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user_id, now],
    )?)
}

/// Revokes refresh token `jti` as replaced by `replaced_by`, if still unrevoked; returns how many
/// rows changed (0 when it was already used).
pub(crate) fn mark_refresh_token_replaced(
    tx: &Transaction<'_>,
    jti: &str,
    now: &str,
    replaced_by: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE refresh_tokens SET revoked_at = ?2, replaced_by = ?3 WHERE jti = ?1 AND revoked_at IS NULL",
        params![jti, now, replaced_by],
    )?)
}
