-- Identity and secrets: users, refresh tokens, encrypted secrets, provider keys, settings, Shannon API keys.
-- Timestamps are RFC 3339 UTC strings (they sort lexically); ids are UUID strings.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email         TEXT UNIQUE COLLATE NOCASE,
    password_hash TEXT,                      -- argon2id PHC string; NULL for the local embedded user
    full_name     TEXT,
    role          TEXT NOT NULL DEFAULT 'user',
    tier          TEXT NOT NULL DEFAULT 'free',
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- The local user every unauthenticated webview call acts as (ids as the cloud's dev identity).
INSERT INTO users (id, tenant_id, username, email, password_hash, full_name, role, tier, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001',
        'embedded_user', NULL, NULL, 'Embedded user', 'owner', 'admin',
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- Issued refresh tokens (by JWT id) so refresh can rotate them and detect reuse.
CREATE TABLE refresh_tokens (
    jti         TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    replaced_by TEXT
);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens(user_id);

-- Plugin-wide secrets (JWT signing secret, master-key check value), AES-256-GCM sealed.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    ciphertext BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Provider API keys (openai, anthropic, ...), AES-256-GCM sealed with user and provider as associated data.
CREATE TABLE provider_api_keys (
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    ciphertext   BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    last_used_at TEXT,
    PRIMARY KEY (user_id, provider)
) WITHOUT ROWID;

-- Per-user settings; value is JSON text.
CREATE TABLE user_settings (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL CHECK (json_valid(value)),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;

-- Shannon API keys for HTTP clients: only a SHA-256 of the key is kept; looked up by its 8-char prefix.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT,
    key_prefix   TEXT NOT NULL,
    key_hash     BLOB NOT NULL,
    tier         TEXT NOT NULL DEFAULT 'free',
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX idx_api_keys_prefix ON api_keys(key_prefix);
CREATE INDEX idx_api_keys_user ON api_keys(user_id, created_at DESC);
