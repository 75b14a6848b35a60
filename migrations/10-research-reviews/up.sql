-- Research plan review (contract §4.2): the plan a research task proposes and the conversation
-- about it, until the user approves it. Stored so the review survives a restart; `version` is the
-- ETag clients send back in If-Match. `status`: reviewing, revising (a feedback round is being
-- answered; `pending_feedback` holds it), approved, expired.
CREATE TABLE research_reviews (
    workflow_id      TEXT PRIMARY KEY REFERENCES tasks(workflow_id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL,
    query            TEXT NOT NULL,
    status           TEXT NOT NULL,
    round            INTEGER NOT NULL,
    version          INTEGER NOT NULL,
    current_plan     TEXT NOT NULL,
    intent           TEXT NOT NULL,
    rounds           TEXT NOT NULL,   -- JSON [{role, message, timestamp}]
    pending_feedback TEXT,
    revision_error   TEXT,
    expires_at       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) WITHOUT ROWID;
