-- Messages a user sends to a running swarm's lead (POST /api/v1/swarm/{id}/message). The lead reads
-- those after the last one it saw at its next decision; the decision records how far it read, so a
-- resumed swarm neither loses nor repeats one.
CREATE TABLE swarm_messages (
    workflow_id TEXT NOT NULL REFERENCES tasks(workflow_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    user_id     TEXT NOT NULL,
    message     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (workflow_id, seq)
) WITHOUT ROWID;
