-- Remote mode, what the laptop mirrors besides tasks: the cloud's id of a session (a session made on
-- the cloud by another client is listed here too), and the schedules created on a cloud (they fire
-- there; the laptop keeps the last copy it read, to list them offline).
ALTER TABLE sessions ADD COLUMN remote_id TEXT;
CREATE INDEX idx_sessions_remote_id ON sessions(remote_id) WHERE remote_id IS NOT NULL;
UPDATE sessions SET remote_id = (
    SELECT r.remote_session_id FROM remote_tasks r JOIN tasks t ON t.id = r.task_id
    WHERE t.session_id = sessions.id AND r.remote_session_id IS NOT NULL
    ORDER BY t.created_at DESC LIMIT 1)
WHERE executor <> 'local';

CREATE TABLE remote_schedules (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    -- The schedule as the cloud last described it (JSON), and when.
    snapshot   TEXT NOT NULL,
    synced_at  TEXT NOT NULL
);
CREATE INDEX idx_remote_schedules_user ON remote_schedules(user_id, profile_id);
