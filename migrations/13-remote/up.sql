-- Remote mode: Shannon cloud deployments a session can run on. A profile holds no secret: its
-- credential is sealed in `secrets` under `remote/<profile id>/<origin>`, so a changed endpoint
-- never receives the old credential.
CREATE TABLE remote_profiles (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    base_url            TEXT NOT NULL,
    auth                TEXT NOT NULL CHECK (auth IN ('api_key', 'bearer', 'none')),
    ca_cert_pem         TEXT,
    allow_insecure_http INTEGER NOT NULL DEFAULT 0,
    fallback_local      INTEGER NOT NULL DEFAULT 0,
    connect_timeout_ms  INTEGER NOT NULL,
    request_timeout_ms  INTEGER NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

-- A session lives on one backend, chosen when it starts: `local` or `remote:<profile id>`.
ALTER TABLE sessions ADD COLUMN executor TEXT NOT NULL DEFAULT 'local';

-- A task mirrored from a cloud: which workflow it is there, the key its submission was sent with
-- (a retry after a crash reuses it), and when the mirror last heard from the cloud.
CREATE TABLE remote_tasks (
    task_id            TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    profile_id         TEXT NOT NULL,
    idempotency_key    TEXT NOT NULL,
    remote_workflow_id TEXT,
    remote_session_id  TEXT,
    last_sync_at       TEXT
);
CREATE INDEX idx_remote_tasks_workflow ON remote_tasks(remote_workflow_id);
