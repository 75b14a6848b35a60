-- Transient events (LLM_PARTIAL deltas, LLM_PROMPT) in compact form, so a subscriber that resumes
-- after any of them gets exactly what it missed. A row holds the events of one task, stored event
-- before them (seq), agent and type that one commit stored: `text` is their messages concatenated,
-- `chunks` their boundaries, "<n>:<bytes>" separated by commas, where n is the event's index after
-- seq (its stream id is "<seq>-<n>"), and first_n the first of them. When a message ends (its
-- LLM_OUTPUT is stored) its rows are merged into one. task_events keeps contiguous seqs of stored
-- events only.
CREATE TABLE task_transient_events (
    workflow_id TEXT NOT NULL REFERENCES tasks(workflow_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    first_n     INTEGER NOT NULL,
    agent_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    text        TEXT NOT NULL,
    chunks      TEXT NOT NULL,
    payload     TEXT,
    timestamp   TEXT NOT NULL,
    PRIMARY KEY (workflow_id, seq, first_n)
) WITHOUT ROWID;
