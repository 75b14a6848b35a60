//! The task status: its three spellings and the legal moves between them.

use serde::{Deserialize, Serialize};

/// Where a task is in its life. Stored unprefixed (`RUNNING`), answered by the API as
/// `TASK_STATUS_RUNNING`, and by the desktop frontend's progress poller in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Submitted, not started yet.
    Queued,
    /// A run is under way.
    Running,
    /// Paused by the user; it continues from its last checkpoint when resumed.
    Paused,
    /// Finished with an answer.
    Completed,
    /// Ended by an error (or, with [`RecoveryPolicy::Fail`](crate::core::run::RecoveryPolicy::Fail),
    /// by an exit mid-run).
    Failed,
    /// Cancelled by the user.
    Cancelled,
    /// Outlived its time limit (a schedule's `timeout_seconds`).
    Timeout,
}

impl TaskStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [TaskStatus; 7] = [
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Paused,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
        TaskStatus::Timeout,
    ];

    /// The statuses a task no longer leaves.
    pub const TERMINAL: [TaskStatus; 4] = [
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
        TaskStatus::Timeout,
    ];

    /// The statuses start-up recovery looks for: a run may have been under way.
    pub const UNFINISHED: [TaskStatus; 3] =
        [TaskStatus::Queued, TaskStatus::Running, TaskStatus::Paused];

    /// The database spelling (`tasks.status`, session history, schedule runs).
    pub const fn db(self) -> &'static str {
        match self {
            TaskStatus::Queued => "QUEUED",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Paused => "PAUSED",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Cancelled => "CANCELLED",
            TaskStatus::Timeout => "TIMEOUT",
        }
    }

    /// The cloud API's spelling (`GET /api/v1/tasks/{id}`, lists, status notifications).
    pub const fn api(self) -> &'static str {
        match self {
            TaskStatus::Queued => "TASK_STATUS_QUEUED",
            TaskStatus::Running => "TASK_STATUS_RUNNING",
            TaskStatus::Paused => "TASK_STATUS_PAUSED",
            TaskStatus::Completed => "TASK_STATUS_COMPLETED",
            TaskStatus::Failed => "TASK_STATUS_FAILED",
            TaskStatus::Cancelled => "TASK_STATUS_CANCELLED",
            TaskStatus::Timeout => "TASK_STATUS_TIMEOUT",
        }
    }

    /// The desktop frontend's `TaskProgress.status` vocabulary (`pending|running|completed|failed|cancelled`).
    pub const fn desktop(self) -> &'static str {
        match self {
            TaskStatus::Queued => "pending",
            TaskStatus::Running | TaskStatus::Paused => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed | TaskStatus::Timeout => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// The word the cloud's control errors use ("cannot pause timed out task").
    pub const fn word(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Paused => "paused",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Timeout => "timed out",
        }
    }

    /// Whether the status is final: one of [`TaskStatus::TERMINAL`].
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed
                | TaskStatus::Failed
                | TaskStatus::Cancelled
                | TaskStatus::Timeout
        )
    }

    /// Reads the database spelling.
    pub fn from_db(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.db() == s)
    }

    /// Reads a client's filter: any case, with or without `TASK_STATUS_`, `CANCELED` too.
    pub fn parse_filter(s: &str) -> Option<Self> {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("TASK_STATUS_").unwrap_or(&upper);
        match bare {
            "CANCELED" => Some(TaskStatus::Cancelled),
            other => Self::from_db(other),
        }
    }

    /// Whether a task in `self` may move to `next`. A terminal status is final; a paused task may
    /// still complete, because a run past its last checkpoint finishes before it can block.
    pub const fn can_become(self, next: TaskStatus) -> bool {
        use TaskStatus::*;
        match self {
            Queued => matches!(
                next,
                Running | Paused | Completed | Failed | Cancelled | Timeout
            ),
            Running => matches!(next, Paused | Completed | Failed | Cancelled | Timeout),
            Paused => matches!(next, Running | Completed | Failed | Cancelled | Timeout),
            Completed | Failed | Cancelled | Timeout => false,
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.db())
    }
}

#[cfg(test)]
mod tests {
    use super::TaskStatus::{self, *};

    /// Every legal move, and nothing else.
    const LEGAL: &[(TaskStatus, TaskStatus)] = &[
        (Queued, Running),
        (Queued, Paused),
        (Queued, Completed),
        (Queued, Failed),
        (Queued, Cancelled),
        (Queued, Timeout),
        (Running, Paused),
        (Running, Completed),
        (Running, Failed),
        (Running, Cancelled),
        (Running, Timeout),
        (Paused, Running),
        (Paused, Completed),
        (Paused, Failed),
        (Paused, Cancelled),
        (Paused, Timeout),
    ];

    #[test]
    fn each_legal_transition_is_allowed() {
        for &(from, to) in LEGAL {
            assert!(from.can_become(to), "{from} -> {to} should be legal");
        }
    }

    #[test]
    fn each_illegal_transition_is_refused() {
        let mut refused = 0;
        for from in TaskStatus::ALL {
            for to in TaskStatus::ALL {
                if !LEGAL.contains(&(from, to)) {
                    assert!(!from.can_become(to), "{from} -> {to} should be refused");
                    refused += 1;
                }
            }
        }
        // 49 pairs: 16 legal, the 7 self-moves, and every move out of the 4 terminal states.
        assert_eq!(refused, 49 - LEGAL.len());
    }

    #[test]
    fn terminal_states_are_final() {
        for from in TaskStatus::TERMINAL {
            assert!(from.is_terminal());
            assert!(TaskStatus::ALL.iter().all(|&to| !from.can_become(to)));
        }
        for s in TaskStatus::UNFINISHED {
            assert!(!s.is_terminal());
        }
    }

    #[test]
    fn spellings_round_trip_and_filters_are_lenient() {
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::from_db(s.db()), Some(s));
            assert_eq!(s.api(), format!("TASK_STATUS_{}", s.db()));
            assert_eq!(TaskStatus::parse_filter(&s.db().to_lowercase()), Some(s));
            assert_eq!(TaskStatus::parse_filter(s.api()), Some(s));
        }
        assert_eq!(TaskStatus::parse_filter("canceled"), Some(Cancelled));
        assert_eq!(TaskStatus::parse_filter("done"), None);
        assert_eq!(Queued.desktop(), "pending");
        assert_eq!(Timeout.desktop(), "failed");
        assert_eq!(Timeout.word(), "timed out");
    }

    #[test]
    fn update_guards_list_exactly_the_legal_sources() {
        assert_eq!(
            crate::core::store::tasks::sources_list(Running),
            "'QUEUED','PAUSED'"
        );
        assert_eq!(
            crate::core::store::tasks::sources_list(Cancelled),
            "'QUEUED','RUNNING','PAUSED'"
        );
        assert_eq!(crate::core::store::tasks::sources_list(Queued), "");
    }

    /// Moves a stored task from `from` to `to` through the store's status guard, limited to the
    /// legal sources of `to`; returns whether the row moved.
    fn moves_in_the_store(from: TaskStatus, to: TaskStatus) -> bool {
        use crate::core::store::tasks::{NewTask, insert, move_status};
        let mut db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE tasks (id, workflow_id, user_id, session_id, query, mode, status, context,
                 metadata, created_at, updated_at, executor, strategy)",
        )
        .unwrap();
        let tx = db.transaction().unwrap();
        let task = NewTask {
            id: "t",
            workflow_id: "t",
            user_id: "u",
            session_id: None,
            query: "q",
            mode: "standard",
            status: from,
            context: "{}",
            metadata: "{}",
            now: "x",
            executor: "local",
            strategy: "null",
        };
        insert(&tx, &task).unwrap();
        let sources: Vec<TaskStatus> = TaskStatus::ALL
            .into_iter()
            .filter(|s| s.can_become(to))
            .collect();
        move_status(&tx, "t", &sources, to, "y").unwrap()
    }

    /// One test per ordered pair of statuses: legal moves happen, illegal ones leave the row alone.
    macro_rules! transition_tests {
        ($($name:ident: $from:ident -> $to:ident,)*) => {$(
            #[test]
            fn $name() {
                let legal = LEGAL.contains(&($from, $to));
                assert_eq!($from.can_become($to), legal, "{} -> {}", $from, $to);
                assert_eq!(moves_in_the_store($from, $to), legal, "{} -> {} in the store", $from, $to);
            }
        )*};
    }

    transition_tests! {
        queued_to_queued: Queued -> Queued,
        queued_to_running: Queued -> Running,
        queued_to_paused: Queued -> Paused,
        queued_to_completed: Queued -> Completed,
        queued_to_failed: Queued -> Failed,
        queued_to_cancelled: Queued -> Cancelled,
        queued_to_timeout: Queued -> Timeout,
        running_to_queued: Running -> Queued,
        running_to_running: Running -> Running,
        running_to_paused: Running -> Paused,
        running_to_completed: Running -> Completed,
        running_to_failed: Running -> Failed,
        running_to_cancelled: Running -> Cancelled,
        running_to_timeout: Running -> Timeout,
        paused_to_queued: Paused -> Queued,
        paused_to_running: Paused -> Running,
        paused_to_paused: Paused -> Paused,
        paused_to_completed: Paused -> Completed,
        paused_to_failed: Paused -> Failed,
        paused_to_cancelled: Paused -> Cancelled,
        paused_to_timeout: Paused -> Timeout,
        completed_to_queued: Completed -> Queued,
        completed_to_running: Completed -> Running,
        completed_to_paused: Completed -> Paused,
        completed_to_completed: Completed -> Completed,
        completed_to_failed: Completed -> Failed,
        completed_to_cancelled: Completed -> Cancelled,
        completed_to_timeout: Completed -> Timeout,
        failed_to_queued: Failed -> Queued,
        failed_to_running: Failed -> Running,
        failed_to_paused: Failed -> Paused,
        failed_to_completed: Failed -> Completed,
        failed_to_failed: Failed -> Failed,
        failed_to_cancelled: Failed -> Cancelled,
        failed_to_timeout: Failed -> Timeout,
        cancelled_to_queued: Cancelled -> Queued,
        cancelled_to_running: Cancelled -> Running,
        cancelled_to_paused: Cancelled -> Paused,
        cancelled_to_completed: Cancelled -> Completed,
        cancelled_to_failed: Cancelled -> Failed,
        cancelled_to_cancelled: Cancelled -> Cancelled,
        cancelled_to_timeout: Cancelled -> Timeout,
        timeout_to_queued: Timeout -> Queued,
        timeout_to_running: Timeout -> Running,
        timeout_to_paused: Timeout -> Paused,
        timeout_to_completed: Timeout -> Completed,
        timeout_to_failed: Timeout -> Failed,
        timeout_to_cancelled: Timeout -> Cancelled,
        timeout_to_timeout: Timeout -> Timeout,
    }
}
