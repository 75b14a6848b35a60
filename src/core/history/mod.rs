//! History that moves between installs: a user's sessions, finished tasks with their stored events
//! (deltas on request), token usage, schedules, session workspaces and memory, exported to a
//! `shannon-history` bundle (a folder of JSONL files with a manifest of sha256 checksums) and imported
//! into another data dir. Never keys, tokens or secrets: their tables are not read.
//!
//! - [`bundle`]: the format (manifest, checksums, JSONL files), read and written;
//! - [`export`] and [`import`]: the operations. Import verifies every checksum before it writes
//!   anything, is idempotent by session and workflow id, writes one transaction per session, and
//!   gives every row to the importing user.

pub mod bundle;
mod export;
mod import;
mod pull;

use serde::{Deserialize, Serialize};

pub use bundle::{BundleCounts, Manifest};
pub use pull::{PullOptions, PullReport};

/// An export, import or pull moving on (`history-progress`): for a progress bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct HistoryProgress {
    /// The user whose history it is.
    pub user_id: String,
    /// `export`, `import` or `pull`.
    pub operation: String,
    /// What `done` and `total` count: `tasks` (export), `sessions` (import, pull).
    pub unit: String,
    pub done: u64,
    /// 0 while unknown.
    pub total: u64,
}

impl crate::core::Core {
    pub(crate) fn history_progress(
        &self,
        user: &str,
        operation: &str,
        unit: &str,
        done: u64,
        total: u64,
    ) {
        self.notify(crate::core::CoreEvent::HistoryProgress(HistoryProgress {
            user_id: user.into(),
            operation: operation.into(),
            unit: unit.into(),
            done,
            total,
        }));
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ExportReport {
    /// The bundle's folder.
    pub dir: String,
    pub counts: BundleCounts,
    /// Unfinished tasks left out (a running task's state cannot move; export again once it ends).
    pub unfinished_skipped: u32,
}

/// What an import added and what it left alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ImportReport {
    pub sessions_added: u32,
    /// Sessions already here (their missing tasks are still added).
    pub sessions_present: u32,
    pub tasks_added: u32,
    /// Tasks already here, by workflow id.
    pub tasks_present: u32,
    pub events_added: u64,
    pub usage_rows_added: u32,
    /// Schedules arrive paused, so a schedule never fires in two places: resume it where it belongs.
    pub schedules_added_paused: u32,
    pub files_added: u32,
    /// Sessions not imported because that id belongs to another user here.
    pub sessions_refused: Vec<String>,
}
