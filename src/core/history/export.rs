//! Export: one read snapshot of the user's rows into the bundle's JSONL files, then the session
//! workspaces and the memory folder, then the manifest (written last: a folder without one is an
//! interrupted export, never mistaken for a bundle).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ExportReport;
use super::bundle::{self, BundleCounts, BundleSource, HashedFile, Manifest};
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::files::Workspace;
use crate::core::store::{self, history as rows};
use crate::core::{Core, time};

/// The folder to export into: absolute, and new or empty (an export never mixes with other files).
fn fresh_dir(dir: &str) -> Result<PathBuf> {
    let root = PathBuf::from(dir);
    if !root.is_absolute() {
        return Err(ShannonError::invalid(format!(
            "the export folder must be an absolute path: {dir:?}"
        )));
    }
    if let Ok(mut entries) = std::fs::read_dir(&root)
        && entries.next().is_some()
    {
        return Err(ShannonError::invalid(format!(
            "the export folder {dir:?} is not empty: choose a new or empty one"
        )));
    }
    std::fs::create_dir_all(&root).map_err(|e| ShannonError::Io(format!("{dir}: {e}")))?;
    Ok(root)
}

/// What the rows' export wrote.
struct Written {
    counts: BundleCounts,
    /// Each file's sha256, by its name in the bundle.
    sums: BTreeMap<String, String>,
    sessions: Vec<String>,
    unfinished: u32,
}

/// Tasks between two progress events of an export.
const PROGRESS_EVERY: u32 = 100;

/// Writes the rows, calling `progress(done, total)` as tasks are written.
fn write_rows(
    c: &rusqlite::Connection,
    root: &Path,
    user: &str,
    include_deltas: bool,
    progress: &dyn Fn(u64, u64),
) -> Result<Written> {
    let mut counts = BundleCounts::default();
    let mut sums = BTreeMap::new();
    let mut sessions = Vec::new();
    let mut out = HashedFile::create(&root.join(bundle::SESSIONS))?;
    counts.sessions = rows::sessions_of(c, user, |r| {
        sessions.push(r["id"].as_str().unwrap_or_default().to_string());
        out.line(&r)
    })? as u32;
    sums.insert(bundle::SESSIONS.into(), out.finish()?);

    let mut tasks = HashedFile::create(&root.join(bundle::TASKS))?;
    let mut events = HashedFile::create(&root.join(bundle::EVENTS))?;
    let mut usage = HashedFile::create(&root.join(bundle::USAGE))?;
    let mut deltas = if include_deltas {
        Some(HashedFile::create(&root.join(bundle::DELTAS))?)
    } else {
        None
    };
    let all = rows::count_tasks_of(c, user)?;
    let mut written = 0u32;
    counts.tasks = rows::finished_tasks_of(c, user, |t| {
        written += 1;
        if written.is_multiple_of(PROGRESS_EVERY) {
            progress(written as u64, all as u64);
        }
        let wf = t["workflow_id"].as_str().unwrap_or_default().to_string();
        let id = t["id"].as_str().unwrap_or_default().to_string();
        tasks.line(&t)?;
        counts.events += rows::rows_of_task(c, rows::EVENTS, &wf, &id, |e| events.line(&e))?;
        counts.usage_rows +=
            rows::rows_of_task(c, rows::USAGE, &wf, &id, |u| usage.line(&u))? as u32;
        if let Some(d) = deltas.as_mut() {
            counts.deltas += rows::rows_of_task(c, rows::DELTAS, &wf, &id, |r| d.line(&r))?;
        }
        Ok(())
    })? as u32;
    progress(counts.tasks as u64, all as u64);
    sums.insert(bundle::TASKS.into(), tasks.finish()?);
    sums.insert(bundle::EVENTS.into(), events.finish()?);
    sums.insert(bundle::USAGE.into(), usage.finish()?);
    if let Some(d) = deltas {
        sums.insert(bundle::DELTAS.into(), d.finish()?);
    }

    let mut schedules = HashedFile::create(&root.join(bundle::SCHEDULES))?;
    counts.schedules = rows::schedules_of(c, user, |s| schedules.line(&s))? as u32;
    sums.insert(bundle::SCHEDULES.into(), schedules.finish()?);
    let unfinished = all - counts.tasks;
    Ok(Written {
        counts,
        sums,
        sessions,
        unfinished,
    })
}

/// Copies every file of `ws` under `prefix` in the bundle.
fn copy_folder(
    ws: &Workspace,
    root: &Path,
    prefix: &str,
    sums: &mut BTreeMap<String, String>,
) -> Result<u32> {
    let mut n = 0;
    for file in ws.walk()? {
        let name = format!("{prefix}/{}", ws.relative_of(&file));
        let mut out = HashedFile::create(&bundle::inside(root, &name)?)?;
        let bytes = std::fs::read(&file)
            .map_err(|e| ShannonError::Io(format!("{}: {e}", file.display())))?;
        out.write(&bytes)?;
        sums.insert(name, out.finish()?);
        n += 1;
    }
    Ok(n)
}

impl Core {
    /// Exports the caller's history into the folder `dir` (absolute; created, or empty): sessions,
    /// finished tasks with their stored events (and deltas with `include_deltas`), token usage,
    /// schedules, session workspaces and memory. Never keys, tokens or secrets.
    pub async fn export_history(
        &self,
        caller: &Caller,
        dir: &str,
        include_deltas: bool,
    ) -> Result<ExportReport> {
        let root = fresh_dir(dir)?;
        let (user, at, core) = (caller.user_id.clone(), root.clone(), self.clone());
        let Written {
            mut counts,
            mut sums,
            sessions,
            unfinished,
        } = self
            .store()
            .read(move |c| {
                // One snapshot for every file: a task and its events are always exported together.
                let snapshot = c.unchecked_transaction()?;
                let progress =
                    |done, total| core.history_progress(&user, "export", "tasks", done, total);
                write_rows(&snapshot, &at, &user, include_deltas, &progress)
            })
            .await?;
        let (data, user, at) = (
            self.data_dir().to_path_buf(),
            caller.user_id.clone(),
            root.clone(),
        );
        let (files, sums) = store::blocking(move || {
            let mut files = 0;
            for id in &sessions {
                if let Ok(ws) = Workspace::of_session(&data, id) {
                    files += copy_folder(&ws, &at, &format!("files/{id}"), &mut sums)?;
                }
            }
            files += copy_folder(
                &Workspace::of_user_memory(&data, &user)?,
                &at,
                "memory",
                &mut sums,
            )?;
            Ok((files, sums))
        })
        .await?;
        counts.files = files;
        let manifest = Manifest {
            format: bundle::FORMAT.into(),
            version: bundle::VERSION,
            source: BundleSource {
                kind: "embedded".into(),
                base_url: None,
                plugin_version: env!("CARGO_PKG_VERSION").into(),
                schema_version: *store::SCHEMA_VERSION,
            },
            user_id: caller.user_id.clone(),
            created_at: time::now(),
            counts: counts.clone(),
            files: sums,
        };
        let text = serde_json::to_vec_pretty(&manifest)?;
        let path = root.join(bundle::MANIFEST);
        std::fs::write(&path, text)
            .map_err(|e| ShannonError::Io(format!("{}: {e}", path.display())))?;
        Ok(ExportReport {
            dir: root.display().to_string(),
            counts,
            unfinished_skipped: unfinished,
        })
    }
}
