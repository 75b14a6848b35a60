-- Approvals a task waits for (a plan before it runs, a dangerous tool call), so the wait survives a
-- restart: the deadline is stored, and a decision is a row update that a second decision cannot
-- repeat. One row per step of a task that asked (step_key is the journal's key of the request).
CREATE TABLE approvals (
    approval_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL REFERENCES tasks(workflow_id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    step_key    TEXT NOT NULL,
    kind        TEXT NOT NULL,                    -- plan | tool
    reason      TEXT NOT NULL,
    payload     TEXT NOT NULL,                    -- JSON shown to the user (plan, tools, arguments)
    status      TEXT NOT NULL DEFAULT 'pending',  -- pending | approved | denied | expired
    feedback    TEXT,
    scope       TEXT,                             -- once | session | always (tool calls)
    decided_by  TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    decided_at  TEXT,
    UNIQUE (workflow_id, step_key)
);
CREATE INDEX approvals_by_user ON approvals(user_id, status, created_at);

-- Tools a user let through without asking: for one session, or (session_id '') always.
CREATE TABLE tool_grants (
    user_id    TEXT NOT NULL,
    session_id TEXT NOT NULL DEFAULT '',
    tool       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, session_id, tool)
) WITHOUT ROWID;
