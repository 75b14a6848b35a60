-- History at scale: lists page through ascending indexes scanned backwards (newest first, ties by
-- rowid, with no sort), and counts read maintained counters instead of scanning every row.

DROP INDEX idx_tasks_user_created;
DROP INDEX idx_tasks_user_status_created;
CREATE INDEX idx_tasks_user_created ON tasks(user_id, created_at);
CREATE INDEX idx_tasks_user_status_created ON tasks(user_id, status, created_at);
CREATE INDEX idx_tasks_session_created ON tasks(session_id, created_at);

DROP INDEX idx_sessions_user_created;
CREATE INDEX idx_sessions_user_created ON sessions(user_id, created_at) WHERE deleted_at IS NULL;

-- Tasks per user and status (session_id '') and per user, session and status.
CREATE TABLE task_counts (
    user_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (user_id, session_id, status)
) WITHOUT ROWID;

INSERT INTO task_counts (user_id, session_id, status, n)
    SELECT user_id, '', status, count(*) FROM tasks GROUP BY user_id, status;
INSERT INTO task_counts (user_id, session_id, status, n)
    SELECT user_id, session_id, status, count(*) FROM tasks WHERE session_id IS NOT NULL
     GROUP BY user_id, session_id, status;

CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts VALUES (NEW.user_id, '', NEW.status, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO task_counts SELECT NEW.user_id, NEW.session_id, NEW.status, 1 WHERE NEW.session_id IS NOT NULL
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET n = n - 1
     WHERE user_id = OLD.user_id AND status = OLD.status AND (session_id = '' OR session_id = OLD.session_id);
END;

CREATE TRIGGER task_counts_update AFTER UPDATE OF status, session_id, user_id ON tasks
WHEN OLD.status IS NOT NEW.status OR OLD.session_id IS NOT NEW.session_id OR OLD.user_id IS NOT NEW.user_id
BEGIN
    UPDATE task_counts SET n = n - 1
     WHERE user_id = OLD.user_id AND status = OLD.status AND (session_id = '' OR session_id = OLD.session_id);
    INSERT INTO task_counts VALUES (NEW.user_id, '', NEW.status, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO task_counts SELECT NEW.user_id, NEW.session_id, NEW.status, 1 WHERE NEW.session_id IS NOT NULL
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- Live (not deleted) sessions per user.
CREATE TABLE session_counts (
    user_id TEXT PRIMARY KEY,
    n       INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO session_counts (user_id, n)
    SELECT user_id, count(*) FROM sessions WHERE deleted_at IS NULL GROUP BY user_id;

CREATE TRIGGER session_counts_insert AFTER INSERT ON sessions WHEN NEW.deleted_at IS NULL BEGIN
    INSERT INTO session_counts VALUES (NEW.user_id, 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER session_counts_delete AFTER DELETE ON sessions WHEN OLD.deleted_at IS NULL BEGIN
    UPDATE session_counts SET n = n - 1 WHERE user_id = OLD.user_id;
END;

CREATE TRIGGER session_counts_soft_delete AFTER UPDATE OF deleted_at ON sessions
WHEN (OLD.deleted_at IS NULL) != (NEW.deleted_at IS NULL)
BEGIN
    INSERT INTO session_counts VALUES (NEW.user_id, CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END)
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
END;
