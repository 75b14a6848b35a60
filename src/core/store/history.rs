//! History export and import, row by row: a user's sessions, finished tasks, their stored events,
//! deltas and token usage, and schedules, as JSON objects keyed by column name. Rows travel by
//! column name so a bundle from an older schema imports (its missing columns take their defaults)
//! and one from a newer schema loses only the columns this build does not have.

use rusqlite::types::{Value as Sql, ValueRef};
use rusqlite::{Connection, Transaction, params_from_iter};
use serde_json::{Map, Value};

use crate::core::error::{Result, ShannonError};
use crate::core::run::lifecycle::TaskStatus;

/// A row as a JSON object.
pub(crate) type Row = Map<String, Value>;

/// The tables a bundle carries, each with the query selecting one user's rows (`?1`) or one
/// task's (`?1` its workflow id, `?2` its id).
pub(crate) const SESSIONS: &str = "sessions";
pub(crate) const TASKS: &str = "tasks";
pub(crate) const EVENTS: &str = "task_events";
pub(crate) const DELTAS: &str = "task_transient_events";
pub(crate) const USAGE: &str = "token_usage";
pub(crate) const SCHEDULES: &str = "schedules";

fn json_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Value::from(f),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        // No table a bundle carries has blobs.
        ValueRef::Blob(_) => Value::Null,
    }
}

fn sql_of(v: &Value) -> Sql {
    match v {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(*b as i64),
        Value::Number(n) => n
            .as_i64()
            .map(Sql::Integer)
            .unwrap_or_else(|| Sql::Real(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => Sql::Text(s.clone()),
        other => Sql::Text(other.to_string()),
    }
}

/// Runs `sql` and hands each row to `each` as a JSON object.
fn each_row(
    c: &Connection,
    sql: &str,
    params: &[&str],
    mut each: impl FnMut(Row) -> Result<()>,
) -> Result<u64> {
    let mut stmt = c.prepare_cached(sql)?;
    let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
    let mut rows = stmt.query(params_from_iter(params.iter()))?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let mut row = Map::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            row.insert(name.clone(), json_of(r.get_ref(i)?));
        }
        each(row)?;
        n += 1;
    }
    Ok(n)
}

/// The user's live sessions, oldest first.
pub(crate) fn sessions_of(
    c: &Connection,
    user: &str,
    each: impl FnMut(Row) -> Result<()>,
) -> Result<u64> {
    each_row(
        c,
        "SELECT * FROM sessions WHERE user_id = ?1 AND deleted_at IS NULL ORDER BY created_at, id",
        &[user],
        each,
    )
}

/// The user's finished tasks, oldest first (a running task's journal cannot move).
pub(crate) fn finished_tasks_of(
    c: &Connection,
    user: &str,
    each: impl FnMut(Row) -> Result<()>,
) -> Result<u64> {
    let sql = format!(
        "SELECT * FROM tasks WHERE user_id = ?1 AND status IN ({}) ORDER BY created_at, id",
        super::tasks::status_list(TaskStatus::TERMINAL)
    );
    each_row(c, &sql, &[user], each)
}

/// One table's rows of one task: events and deltas by workflow id, usage by task id.
pub(crate) fn rows_of_task(
    c: &Connection,
    table: &str,
    workflow_id: &str,
    task_id: &str,
    each: impl FnMut(Row) -> Result<()>,
) -> Result<u64> {
    match table {
        EVENTS => each_row(
            c,
            "SELECT * FROM task_events WHERE workflow_id = ?1 ORDER BY seq",
            &[workflow_id],
            each,
        ),
        DELTAS => each_row(
            c,
            "SELECT * FROM task_transient_events WHERE workflow_id = ?1 ORDER BY seq, first_n",
            &[workflow_id],
            each,
        ),
        USAGE => each_row(
            c,
            "SELECT * FROM token_usage WHERE task_id = ?1 ORDER BY id",
            &[task_id],
            each,
        ),
        other => Err(ShannonError::Internal(format!("no task rows in {other}"))),
    }
}

/// The user's live schedules.
pub(crate) fn schedules_of(
    c: &Connection,
    user: &str,
    each: impl FnMut(Row) -> Result<()>,
) -> Result<u64> {
    each_row(
        c,
        "SELECT * FROM schedules WHERE user_id = ?1 AND status <> 'DELETED' ORDER BY created_at, id",
        &[user],
        each,
    )
}

/// The columns of `table` in this schema.
pub(crate) fn columns(c: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = c.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(names)
}

/// A JSON value as an SQL parameter, its text borrowed (no copy per row).
struct Param<'a>(&'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ToSqlOutput::{Borrowed, Owned};
        Ok(match self.0 {
            Value::String(s) => Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Null => Borrowed(ValueRef::Null),
            other => Owned(sql_of(other)),
        })
    }
}

thread_local! {
    /// The INSERT statement of each (table, columns present) seen, so a row costs no formatting.
    static INSERTS: std::cell::RefCell<std::collections::HashMap<(&'static str, u64), String>> =
        Default::default();
}

/// Inserts `row` into `table`, keeping the columns this schema has (`known`, at most 64) and
/// leaving out `skip` (a generated key). A row whose key is already there is left alone: returns
/// whether it was inserted.
pub(crate) fn insert(
    tx: &Transaction<'_>,
    table: &'static str,
    known: &[String],
    skip: &[&str],
    row: &Row,
) -> Result<bool> {
    let mut mask = 0u64;
    let mut values = Vec::with_capacity(row.len());
    for (i, c) in known.iter().enumerate().take(64) {
        if let Some(v) = row.get(c.as_str()).filter(|_| !skip.contains(&c.as_str())) {
            mask |= 1 << i;
            values.push(Param(v));
        }
    }
    INSERTS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let sql = cache.entry((table, mask)).or_insert_with(|| {
            let cols: Vec<String> = known
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, c)| format!("\"{c}\""))
                .collect();
            format!(
                "INSERT OR IGNORE INTO {table} ({}) VALUES ({})",
                cols.join(", "),
                (1..=cols.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        Ok(tx.prepare_cached(sql)?.execute(params_from_iter(values))? > 0)
    })
}

/// Whether a session or a task (by workflow id) is already here.
pub(crate) fn exists(c: &Connection, table: &str, key: &str) -> Result<bool> {
    let sql = match table {
        SESSIONS => "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)",
        TASKS => "SELECT EXISTS (SELECT 1 FROM tasks WHERE workflow_id = ?1 OR id = ?1)",
        SCHEDULES => "SELECT EXISTS (SELECT 1 FROM schedules WHERE id = ?1)",
        other => return Err(ShannonError::Internal(format!("no key lookup in {other}"))),
    };
    Ok(c.prepare_cached(sql)?.query_row([key], |r| r.get(0))?)
}

/// Who owns the session `id` here, if it exists.
pub(crate) fn session_owner(c: &Connection, id: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    Ok(
        c.prepare_cached("SELECT user_id FROM sessions WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?,
    )
}

/// How many tasks the user has, finished or not.
pub(crate) fn count_tasks_of(c: &Connection, user: &str) -> Result<u32> {
    Ok(
        c.prepare_cached("SELECT count(*) FROM tasks WHERE user_id = ?1")?
            .query_row([user], |r| r.get(0))?,
    )
}

/// How many tasks a session holds here.
pub(crate) fn count_tasks_of_session(c: &Connection, session_id: &str) -> Result<u32> {
    Ok(
        c.prepare_cached("SELECT count(*) FROM tasks WHERE session_id = ?1")?
            .query_row([session_id], |r| r.get(0))?,
    )
}
