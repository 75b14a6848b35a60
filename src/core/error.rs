//! One error type for the whole core, with a stable machine code per variant.
//!
//! Messages never carry secrets: callers pass names (provider, key, user id), never values.

use serde::Serialize;

/// Every failure the core reports. The IPC door serializes it as `{kind, message}`; the HTTP door maps
/// [`ShannonError::code`] onto the cloud's status codes and bodies.
#[derive(Debug, thiserror::Error, Serialize, specta::Type, Clone, PartialEq, Eq)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum ShannonError {
    /// Malformed or out-of-range input.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A settings value that is not valid JSON.
    #[error("invalid JSON value: {0}")]
    InvalidJson(String),
    /// A provider name outside the supported catalogue.
    #[error("unknown provider: {0}")]
    UnknownProvider(String),
    /// The named resource does not exist or is not the caller's (HTTP 404).
    #[error("not found: {0}")]
    NotFound(String),
    /// It already exists or was already decided: a duplicate e-mail, an answered approval
    /// (HTTP 409).
    #[error("already exists: {0}")]
    Conflict(String),
    /// A query, setting, file or skill over its size limit (HTTP 413).
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// A per-user limit is reached (e.g. the number of schedules).
    #[error("{0}")]
    RateLimited(String),
    /// Wrong e-mail/username or password.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A token that is malformed, badly signed, of the wrong type or algorithm, or revoked.
    #[error("invalid token")]
    InvalidToken,
    /// A well-formed token past its expiry (HTTP 401).
    #[error("token expired")]
    TokenExpired,
    /// A refresh token that is unknown, expired, or was already used.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// The operation does not apply in the task's current state (pause a finished task, ...).
    #[error("{0}")]
    InvalidState(String),
    /// The chosen provider has no key (or base URL) yet: the UI should send the user to the keys page.
    #[error("provider not ready: {0}")]
    ProviderNotReady(String),
    /// Not allowed without an opt-in: a dangerous tool not granted, a dangerous skill, a setting
    /// that has its own opt-in command (HTTP 403).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A stored provider key was bound to another endpoint than the provider has now: the key is not
    /// sent until it is stored again for the new endpoint (or the endpoint is set back).
    #[error("key_endpoint_changed: {0}")]
    KeyEndpointChanged(String),
    /// Ciphertext that fails authentication: tampered, truncated, or sealed under another key.
    #[error("decryption failed: {0}")]
    Decryption(String),
    /// The master key file is missing, unreadable, or does not match the database.
    #[error("master key error: {0}")]
    MasterKey(String),
    /// The database was written by a newer version of the plugin.
    #[error(
        "database schema version {found} is newer than this build supports ({supported}); refusing to open it"
    )]
    DatabaseTooNew {
        /// The schema version found in the database.
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// Any other SQLite failure.
    #[error("database error: {0}")]
    Database(String),
    /// The disk holding the database is full; nothing of the refused write was stored.
    #[error("storage full: {0}")]
    StorageFull(String),
    /// Storage is failing for now (the writer keeps retrying); try again shortly.
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),
    /// A file or socket operation failed (the listener's port, the data directory, a skill file).
    #[error("I/O error: {0}")]
    Io(String),
    /// A plugin configuration that cannot be used or saved (e.g. an invalid MCP server entry).
    #[error("configuration error: {0}")]
    Config(String),
    /// A bug or an unexpected failure inside the core (HTTP 500).
    #[error("internal error: {0}")]
    Internal(String),
    /// A Shannon cloud profile's server could not be reached (DNS, connect, TLS, timeout, 5xx);
    /// the message names the host and when to try again.
    #[error("{0}")]
    RemoteUnreachable(String),
    /// The Shannon cloud refused the profile's credential (its 401, distinct from a local
    /// `invalid_token`).
    #[error("{0}")]
    RemoteAuth(String),
    /// The operation has no counterpart on a Shannon cloud (or on its version), or names something
    /// that exists only here (a local provider, tool or skill).
    #[error("{0}")]
    UnsupportedByRemote(String),
    /// The session lives on another backend than the one asked for (fork it to continue here).
    #[error("{0}")]
    SessionOnOtherBackend(String),
}

impl ShannonError {
    /// Stable, machine-readable code (the serde tag), for logs, HTTP bodies and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidJson(_) => "invalid_json",
            Self::UnknownProvider(_) => "unknown_provider",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::RateLimited(_) => "rate_limited",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::InvalidState(_) => "invalid_state",
            Self::ProviderNotReady(_) => "provider_not_ready",
            Self::PermissionDenied(_) => "permission_denied",
            Self::KeyEndpointChanged(_) => "key_endpoint_changed",
            Self::Decryption(_) => "decryption",
            Self::MasterKey(_) => "master_key",
            Self::DatabaseTooNew { .. } => "database_too_new",
            Self::Database(_) => "database",
            Self::StorageFull(_) => "storage_full",
            Self::StorageUnavailable(_) => "storage_unavailable",
            Self::Io(_) => "io",
            Self::Config(_) => "config",
            Self::Internal(_) => "internal",
            Self::RemoteUnreachable(_) => "remote_unreachable",
            Self::RemoteAuth(_) => "remote_auth",
            Self::UnsupportedByRemote(_) => "unsupported_by_remote",
            Self::SessionOnOtherBackend(_) => "session_on_other_backend",
        }
    }

    /// One error of each kind, in declaration order: the registry the generated error reference
    /// (`docs/reference/errors.md`) is written from. `tests/reference.rs` compares it with the
    /// kinds of the exported TypeScript union, so a kind missing here fails that test.
    pub fn one_of_each() -> Vec<ShannonError> {
        let m = String::new;
        vec![
            Self::InvalidRequest(m()),
            Self::InvalidJson(m()),
            Self::UnknownProvider(m()),
            Self::NotFound(m()),
            Self::Conflict(m()),
            Self::PayloadTooLarge(m()),
            Self::RateLimited(m()),
            Self::InvalidCredentials,
            Self::InvalidToken,
            Self::TokenExpired,
            Self::InvalidRefreshToken,
            Self::InvalidState(m()),
            Self::ProviderNotReady(m()),
            Self::PermissionDenied(m()),
            Self::KeyEndpointChanged(m()),
            Self::Decryption(m()),
            Self::MasterKey(m()),
            Self::DatabaseTooNew {
                found: 0,
                supported: 0,
            },
            Self::Database(m()),
            Self::StorageFull(m()),
            Self::StorageUnavailable(m()),
            Self::Io(m()),
            Self::Config(m()),
            Self::Internal(m()),
            Self::RemoteUnreachable(m()),
            Self::RemoteAuth(m()),
            Self::UnsupportedByRemote(m()),
            Self::SessionOnOtherBackend(m()),
        ]
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidRequest(msg.into())
    }

    /// A key bound to `stored` while the provider's endpoint is now `current` (origins, never keys).
    pub(crate) fn key_endpoint_changed(provider: &str, stored: &str, current: &str) -> Self {
        Self::KeyEndpointChanged(format!(
            "the {provider} key was stored for {stored} and the endpoint is now {current}; \
             the key is not sent there. Store the key again for the new endpoint, or set the \
             endpoint back"
        ))
    }
}

/// The core's result type: [`ShannonError`] unless another error is named.
pub type Result<T, E = ShannonError> = std::result::Result<T, E>;

impl From<rusqlite::Error> for ShannonError {
    fn from(e: rusqlite::Error) -> Self {
        // rusqlite errors hold SQL text and bound values only for conversion failures, which never
        // involve secrets here (secrets are bound as opaque ciphertext blobs).
        match e {
            rusqlite::Error::QueryReturnedNoRows => Self::NotFound("row".into()),
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                Self::StorageFull("the disk is full; the write was rolled back".into())
            }
            other => Self::Database(other.to_string()),
        }
    }
}

impl From<std::io::Error> for ShannonError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

impl From<serde_json::Error> for ShannonError {
    fn from(e: serde_json::Error) -> Self {
        Self::InvalidJson(e.to_string())
    }
}
