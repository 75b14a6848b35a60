-- Sessions, tasks, their events, per-call token usage and workflow control state.

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,             -- internal UUID
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    external_id    TEXT,                         -- client-chosen id when it is not a UUID
    title          TEXT,
    context        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(context)),
    token_budget   INTEGER NOT NULL DEFAULT 10000,
    tokens_used    INTEGER NOT NULL DEFAULT 0,
    total_cost_usd REAL NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    expires_at     TEXT,
    deleted_at     TEXT,
    deleted_by     TEXT
);
CREATE INDEX idx_sessions_user_created ON sessions(user_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_sessions_user_external ON sessions(user_id, external_id);

CREATE TABLE tasks (
    id                    TEXT PRIMARY KEY,      -- internal UUID (leaks as task_id in session history)
    workflow_id           TEXT NOT NULL UNIQUE,  -- public task id: task-<user>-<unix>...
    user_id               TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id            TEXT REFERENCES sessions(id) ON DELETE SET NULL,
    query                 TEXT NOT NULL,
    mode                  TEXT NOT NULL DEFAULT 'standard',
    status                TEXT NOT NULL,         -- QUEUED RUNNING PAUSED COMPLETED FAILED CANCELLED TIMEOUT (unprefixed)
    result                TEXT,
    error_message         TEXT,
    context               TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(context)),
    metadata              TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    model_used            TEXT,
    provider              TEXT,
    input_tokens          INTEGER NOT NULL DEFAULT 0,
    output_tokens         INTEGER NOT NULL DEFAULT 0,
    total_tokens          INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens     INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd              REAL NOT NULL DEFAULT 0,
    trigger_type          TEXT NOT NULL DEFAULT 'api',
    schedule_id           TEXT,
    last_checkpoint       TEXT,                  -- last completed step, for crash recovery
    created_at            TEXT NOT NULL,
    started_at            TEXT,
    completed_at          TEXT,
    updated_at            TEXT NOT NULL,
    duration_ms           INTEGER
);
CREATE INDEX idx_tasks_user_created ON tasks(user_id, created_at DESC);
CREATE INDEX idx_tasks_user_status_created ON tasks(user_id, status, created_at DESC);
CREATE INDEX idx_tasks_session_started ON tasks(session_id, started_at);
CREATE INDEX idx_tasks_status ON tasks(status);  -- start-up recovery scans RUNNING/PAUSED

-- The stored event stream: seq is contiguous per workflow.
CREATE TABLE task_events (
    workflow_id TEXT NOT NULL REFERENCES tasks(workflow_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    type        TEXT NOT NULL,
    agent_id    TEXT,
    message     TEXT,
    payload     TEXT CHECK (payload IS NULL OR json_valid(payload)),
    timestamp   TEXT NOT NULL,
    PRIMARY KEY (workflow_id, seq)
) WITHOUT ROWID;
CREATE INDEX idx_task_events_type ON task_events(workflow_id, type);

-- One row per model call, for usage totals and metadata.model_breakdown.
CREATE TABLE token_usage (
    id                    INTEGER PRIMARY KEY,
    task_id               TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    agent_id              TEXT,
    provider              TEXT NOT NULL,
    model                 TEXT NOT NULL,
    input_tokens          INTEGER NOT NULL DEFAULT 0,
    output_tokens         INTEGER NOT NULL DEFAULT 0,
    total_tokens          INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens     INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd              REAL NOT NULL DEFAULT 0,
    created_at            TEXT NOT NULL
);
CREATE INDEX idx_token_usage_task ON token_usage(task_id);

CREATE TABLE workflow_control (
    workflow_id   TEXT PRIMARY KEY REFERENCES tasks(workflow_id) ON DELETE CASCADE,
    is_paused     INTEGER NOT NULL DEFAULT 0,
    is_cancelled  INTEGER NOT NULL DEFAULT 0,
    paused_at     TEXT,
    pause_reason  TEXT,
    paused_by     TEXT,
    cancel_reason TEXT,
    cancelled_by  TEXT,
    updated_at    TEXT NOT NULL
) WITHOUT ROWID;
