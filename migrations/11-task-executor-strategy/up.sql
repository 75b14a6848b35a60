-- Where a task runs and how, decided once at submission. `executor`: `local` (the embedded engine;
-- every task so far) or, later, a remote Shannon deployment. `strategy`: the typed strategy as JSON
-- (`{"kind": "planned"}`); NULL for a task stored before it was, whose mode and context decide.
ALTER TABLE tasks ADD COLUMN executor TEXT NOT NULL DEFAULT 'local';
ALTER TABLE tasks ADD COLUMN strategy TEXT;
