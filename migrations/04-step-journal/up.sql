-- The step journal: the result of every completed step of a run (a model call, a tool call, and for
-- the multi-agent strategies a plan, a subtask, an approval), keyed by a path such as `call/3`,
-- `call/3/tool/0` or `subtask/task-2/call/1`. A resumed run reads these instead of repeating them.
-- Rows are written in the same transaction as the step's events and token-usage row, and removed
-- when the task ends.
CREATE TABLE task_steps (
    task_id    TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    step_key   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    result     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, step_key)
) WITHOUT ROWID;

-- A token-usage row belongs to the step that spent the tokens: a replay can never count them twice.
ALTER TABLE token_usage ADD COLUMN step_key TEXT;
CREATE UNIQUE INDEX idx_token_usage_step ON token_usage(task_id, step_key) WHERE step_key IS NOT NULL;

-- The journal replaces the single-loop resume state of earlier versions.
UPDATE tasks SET metadata = json_remove(metadata, '$.resume_state')
 WHERE json_valid(metadata) AND json_extract(metadata, '$.resume_state') IS NOT NULL;
