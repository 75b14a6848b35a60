-- Cron schedules, their runs, and idempotency records for POST replays.

CREATE TABLE schedules (
    id                     TEXT PRIMARY KEY,
    user_id                TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name                   TEXT NOT NULL,
    description            TEXT NOT NULL DEFAULT '',
    cron_expression        TEXT NOT NULL,
    timezone               TEXT NOT NULL DEFAULT 'UTC',
    task_query             TEXT NOT NULL,
    task_context           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(task_context)),
    max_budget_per_run_usd REAL NOT NULL DEFAULT 0,
    timeout_seconds        INTEGER NOT NULL DEFAULT 3600,
    status                 TEXT NOT NULL DEFAULT 'ACTIVE',  -- ACTIVE PAUSED DELETED
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    last_run_at            TEXT,
    next_run_at            TEXT,
    total_runs             INTEGER NOT NULL DEFAULT 0,
    successful_runs        INTEGER NOT NULL DEFAULT 0,
    failed_runs            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_schedules_user_status ON schedules(user_id, status, created_at DESC);
CREATE INDEX idx_schedules_due ON schedules(status, next_run_at);

CREATE TABLE schedule_runs (
    id           TEXT PRIMARY KEY,
    schedule_id  TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    workflow_id  TEXT,                 -- the task the run started, if it started one
    status       TEXT NOT NULL DEFAULT 'UNKNOWN',
    triggered_at TEXT NOT NULL,
    started_at   TEXT,
    completed_at TEXT,
    error        TEXT
);
CREATE INDEX idx_schedule_runs_schedule ON schedule_runs(schedule_id, triggered_at DESC);

-- Idempotency-Key replays (2xx responses only, 24 h).
CREATE TABLE idempotency_records (
    cache_key   TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    headers     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(headers)),
    body        BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX idx_idempotency_expires ON idempotency_records(expires_at);
