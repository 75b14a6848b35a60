//! Import: the bundle is checked whole first (manifest, format, every checksum), then written one
//! transaction per session (the session, its new tasks, their events, deltas and usage), so an
//! interruption leaves whole sessions and a second import adds only what is missing. Every row
//! becomes the importing user's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ImportReport;
use super::bundle::{self, Manifest};
use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::files::Workspace;
use crate::core::store::{self, history as rows, history::Row};

/// Tasks without a session are written this many to a transaction.
const LOOSE_TASKS_PER_COMMIT: usize = 200;

/// The bundle's rows, grouped as they are written.
#[derive(Default)]
struct Loaded {
    sessions: Vec<Row>,
    /// Tasks by session id (`""`: none).
    tasks: HashMap<String, Vec<Row>>,
    /// Events and deltas by workflow id, usage by task id.
    events: HashMap<String, Vec<Row>>,
    deltas: HashMap<String, Vec<Row>>,
    usage: HashMap<String, Vec<Row>>,
    schedules: Vec<Row>,
}

fn text(row: &Row, key: &str) -> String {
    row.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn load(root: &Path, m: &Manifest) -> Result<Loaded> {
    let mut l = Loaded::default();
    bundle::rows(root, m, bundle::SESSIONS, |r| {
        l.sessions.push(r);
        Ok(())
    })?;
    bundle::rows(root, m, bundle::TASKS, |r| {
        l.tasks.entry(text(&r, "session_id")).or_default().push(r);
        Ok(())
    })?;
    bundle::rows(root, m, bundle::EVENTS, |r| {
        l.events.entry(text(&r, "workflow_id")).or_default().push(r);
        Ok(())
    })?;
    bundle::rows(root, m, bundle::DELTAS, |r| {
        l.deltas.entry(text(&r, "workflow_id")).or_default().push(r);
        Ok(())
    })?;
    bundle::rows(root, m, bundle::USAGE, |r| {
        l.usage.entry(text(&r, "task_id")).or_default().push(r);
        Ok(())
    })?;
    bundle::rows(root, m, bundle::SCHEDULES, |r| {
        l.schedules.push(r);
        Ok(())
    })?;
    for r in l.sessions.iter().chain(l.tasks.values().flatten()) {
        if text(r, "id").is_empty() {
            return Err(bundle::damaged("a session or task has no id"));
        }
    }
    Ok(l)
}

/// One unit of writing: a session (or none) and its tasks with their rows.
pub(super) struct Unit {
    pub session: Option<Row>,
    pub tasks: Vec<Row>,
    pub events: Vec<Vec<Row>>,
    pub deltas: Vec<Vec<Row>>,
    pub usage: Vec<Vec<Row>>,
}

/// What one unit added.
#[derive(Default)]
pub(super) struct Added {
    pub session: Option<bool>,
    pub refused: Option<String>,
    pub tasks: u32,
    pub present: u32,
    pub events: u64,
    pub usage: u32,
}

fn mine(mut row: Row, user: &str) -> Row {
    if row.contains_key("user_id") {
        row.insert("user_id".into(), Value::String(user.into()));
    }
    row
}

/// Writes one unit in the caller's transaction.
pub(super) fn write_unit(tx: &rusqlite::Transaction<'_>, unit: Unit, user: &str) -> Result<Added> {
    let mut added = Added::default();
    let cols = |t: &str| rows::columns(tx, t);
    if let Some(s) = unit.session {
        let id = text(&s, "id");
        match rows::session_owner(tx, &id)? {
            Some(owner) if owner != user => {
                added.refused = Some(id);
                return Ok(added);
            }
            Some(_) => added.session = Some(false),
            None => {
                rows::insert(
                    tx,
                    rows::SESSIONS,
                    &cols(rows::SESSIONS)?,
                    &[],
                    &mine(s, user),
                )?;
                added.session = Some(true);
            }
        }
    }
    let (task_cols, event_cols, delta_cols, usage_cols) = (
        cols(rows::TASKS)?,
        cols(rows::EVENTS)?,
        cols(rows::DELTAS)?,
        cols(rows::USAGE)?,
    );
    let parts = unit.events.into_iter().zip(unit.deltas).zip(unit.usage);
    for (task, ((events, deltas), usage)) in unit.tasks.into_iter().zip(parts) {
        if rows::exists(tx, rows::TASKS, &text(&task, "workflow_id"))?
            || rows::exists(tx, rows::TASKS, &text(&task, "id"))?
        {
            added.present += 1;
            continue;
        }
        rows::insert(tx, rows::TASKS, &task_cols, &[], &mine(task, user))?;
        added.tasks += 1;
        for e in &events {
            added.events += rows::insert(tx, rows::EVENTS, &event_cols, &[], e)? as u64;
        }
        for d in &deltas {
            rows::insert(tx, rows::DELTAS, &delta_cols, &[], d)?;
        }
        for u in usage {
            // A new row id here: ids are this database's own.
            added.usage +=
                rows::insert(tx, rows::USAGE, &usage_cols, &["id"], &mine(u, user))? as u32;
        }
    }
    Ok(added)
}

/// Files of a bundle folder under `prefix` into `ws`, never over a file already there.
fn copy_in(root: &Path, m: &Manifest, prefix: &str, ws: &Workspace) -> Result<u32> {
    let mut n = 0;
    for name in m.files.keys() {
        let Some(rel) = name.strip_prefix(prefix) else {
            continue;
        };
        let target = ws.resolve(rel)?;
        if target.exists() {
            continue;
        }
        let bytes = std::fs::read(bundle::inside(root, name)?)
            .map_err(|e| ShannonError::Io(format!("{name}: {e}")))?;
        ws.write(rel, &bytes)?;
        n += 1;
    }
    Ok(n)
}

impl Core {
    /// Imports a `shannon-history` bundle from the folder `dir` into the caller's history. A bundle
    /// of a newer format or schema, or one whose files do not match their checksums, is refused
    /// before anything is written. Importing the same bundle again adds nothing.
    pub async fn import_history(&self, caller: &Caller, dir: &str) -> Result<ImportReport> {
        let root = PathBuf::from(dir);
        if !root.is_absolute() {
            return Err(ShannonError::invalid(format!(
                "the bundle folder must be an absolute path: {dir:?}"
            )));
        }
        let schema = *store::SCHEMA_VERSION;
        let at = root.clone();
        let (manifest, mut loaded) = store::blocking(move || {
            let m = bundle::open(&at, schema)?;
            let l = load(&at, &m)?;
            Ok((m, l))
        })
        .await?;
        let mut report = ImportReport::default();
        let mut units = Vec::new();
        let mut new_sessions = Vec::new();
        let take = |tasks: Vec<Row>, l: &mut Loaded| {
            let (mut ev, mut de, mut us) = (Vec::new(), Vec::new(), Vec::new());
            for t in &tasks {
                let (wf, id) = (text(t, "workflow_id"), text(t, "id"));
                ev.push(l.events.remove(&wf).unwrap_or_default());
                de.push(l.deltas.remove(&wf).unwrap_or_default());
                us.push(l.usage.remove(&id).unwrap_or_default());
            }
            (tasks, ev, de, us)
        };
        for s in std::mem::take(&mut loaded.sessions) {
            let tasks = loaded.tasks.remove(&text(&s, "id")).unwrap_or_default();
            let (tasks, events, deltas, usage) = take(tasks, &mut loaded);
            units.push(Unit {
                session: Some(s),
                tasks,
                events,
                deltas,
                usage,
            });
        }
        // Tasks with no session, or whose session the bundle does not carry.
        let loose: Vec<Row> = std::mem::take(&mut loaded.tasks)
            .into_values()
            .flatten()
            .collect();
        for chunk in loose.chunks(LOOSE_TASKS_PER_COMMIT) {
            let (tasks, events, deltas, usage) = take(chunk.to_vec(), &mut loaded);
            units.push(Unit {
                session: None,
                tasks,
                events,
                deltas,
                usage,
            });
        }
        let total = units.len() as u64;
        for (done, unit) in units.into_iter().enumerate() {
            self.history_progress(&caller.user_id, "import", "sessions", done as u64, total);
            let sid = unit.session.as_ref().map(|s| text(s, "id"));
            let user = caller.user_id.clone();
            let added = self
                .store()
                .write(move |tx| write_unit(tx, unit, &user))
                .await?;
            match added.session {
                Some(true) => {
                    report.sessions_added += 1;
                    new_sessions.extend(sid);
                }
                Some(false) => report.sessions_present += 1,
                None => {}
            }
            report.sessions_refused.extend(added.refused);
            report.tasks_added += added.tasks;
            report.tasks_present += added.present;
            report.events_added += added.events;
            report.usage_rows_added += added.usage;
        }
        let (user, schedules) = (caller.user_id.clone(), loaded.schedules);
        report.schedules_added_paused = self
            .store()
            .write(move |tx| {
                let cols = rows::columns(tx, rows::SCHEDULES)?;
                let mut n = 0;
                for s in schedules {
                    let mut s = mine(s, &user);
                    // Paused: the same schedule must never fire in two places.
                    s.insert("status".into(), Value::String("PAUSED".into()));
                    s.insert("next_run_at".into(), Value::Null);
                    if !rows::exists(tx, rows::SCHEDULES, &text(&s, "id"))? {
                        n += rows::insert(tx, rows::SCHEDULES, &cols, &[], &s)? as u32;
                    }
                }
                Ok(n)
            })
            .await?;
        let (data, user) = (self.data_dir().to_path_buf(), caller.user_id.clone());
        report.files_added = store::blocking(move || {
            let mut n = 0;
            for id in new_sessions {
                let ws = Workspace::of_session(&data, &id)?;
                n += copy_in(&root, &manifest, &format!("files/{id}/"), &ws)?;
            }
            n += copy_in(
                &root,
                &manifest,
                "memory/",
                &Workspace::of_user_memory(&data, &user)?,
            )?;
            Ok(n)
        })
        .await?;
        self.history_progress(&caller.user_id, "import", "sessions", total, total);
        if report.tasks_added > 0 {
            self.engine().answers_changed();
        }
        Ok(report)
    }
}
