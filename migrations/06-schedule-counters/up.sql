-- Schedule run counters kept by triggers, so listing schedules does not count every run of every
-- schedule. A run succeeded when its task COMPLETED; it failed when its task ended FAILED, CANCELLED
-- or TIMEOUT, or when no task could start (`error`). A task reaches a final status once, and a run is
-- linked to its task once, so each run is counted once whichever of the two comes first.

CREATE INDEX idx_schedule_runs_workflow ON schedule_runs(workflow_id) WHERE workflow_id IS NOT NULL;
DROP INDEX idx_schedule_runs_schedule;
CREATE INDEX idx_schedule_runs_schedule ON schedule_runs(schedule_id, triggered_at);

UPDATE schedules SET
    total_runs = (SELECT count(*) FROM schedule_runs r WHERE r.schedule_id = schedules.id),
    successful_runs = (SELECT count(*) FROM schedule_runs r JOIN tasks t ON t.workflow_id = r.workflow_id
                        WHERE r.schedule_id = schedules.id AND t.status = 'COMPLETED'),
    failed_runs = (SELECT count(*) FROM schedule_runs r LEFT JOIN tasks t ON t.workflow_id = r.workflow_id
                    WHERE r.schedule_id = schedules.id
                      AND (t.status IN ('FAILED', 'CANCELLED', 'TIMEOUT') OR r.error IS NOT NULL));

CREATE TRIGGER schedule_runs_insert AFTER INSERT ON schedule_runs BEGIN
    UPDATE schedules SET
        total_runs = total_runs + 1,
        successful_runs = successful_runs
            + coalesce((SELECT t.status = 'COMPLETED' FROM tasks t WHERE t.workflow_id = NEW.workflow_id), 0),
        failed_runs = failed_runs + (NEW.error IS NOT NULL OR coalesce(
            (SELECT t.status IN ('FAILED', 'CANCELLED', 'TIMEOUT') FROM tasks t WHERE t.workflow_id = NEW.workflow_id), 0))
     WHERE id = NEW.schedule_id;
END;

CREATE TRIGGER schedule_runs_link AFTER UPDATE OF workflow_id, error ON schedule_runs
WHEN OLD.workflow_id IS NOT NEW.workflow_id OR OLD.error IS NOT NEW.error
BEGIN
    UPDATE schedules SET
        successful_runs = successful_runs
            + coalesce((SELECT t.status = 'COMPLETED' FROM tasks t WHERE t.workflow_id = NEW.workflow_id), 0)
            - coalesce((SELECT t.status = 'COMPLETED' FROM tasks t WHERE t.workflow_id = OLD.workflow_id), 0),
        failed_runs = failed_runs
            + (NEW.error IS NOT NULL OR coalesce(
                (SELECT t.status IN ('FAILED', 'CANCELLED', 'TIMEOUT') FROM tasks t WHERE t.workflow_id = NEW.workflow_id), 0))
            - (OLD.error IS NOT NULL OR coalesce(
                (SELECT t.status IN ('FAILED', 'CANCELLED', 'TIMEOUT') FROM tasks t WHERE t.workflow_id = OLD.workflow_id), 0))
     WHERE id = NEW.schedule_id;
END;

CREATE TRIGGER schedule_runs_delete AFTER DELETE ON schedule_runs BEGIN
    UPDATE schedules SET
        total_runs = total_runs - 1,
        successful_runs = successful_runs
            - coalesce((SELECT t.status = 'COMPLETED' FROM tasks t WHERE t.workflow_id = OLD.workflow_id), 0),
        failed_runs = failed_runs - (OLD.error IS NOT NULL OR coalesce(
            (SELECT t.status IN ('FAILED', 'CANCELLED', 'TIMEOUT') FROM tasks t WHERE t.workflow_id = OLD.workflow_id), 0))
     WHERE id = OLD.schedule_id;
END;

-- A run's task changing status moves the counters of the run's schedule (no run: nothing to do).
CREATE TRIGGER schedule_runs_task_status AFTER UPDATE OF status ON tasks
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE schedules SET
        successful_runs = successful_runs + (NEW.status = 'COMPLETED') - (OLD.status = 'COMPLETED'),
        failed_runs = failed_runs
            + (NEW.status IN ('FAILED', 'CANCELLED', 'TIMEOUT')) - (OLD.status IN ('FAILED', 'CANCELLED', 'TIMEOUT'))
     WHERE id IN (SELECT r.schedule_id FROM schedule_runs r WHERE r.workflow_id = NEW.workflow_id AND r.error IS NULL);
END;
