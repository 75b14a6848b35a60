//! The step journal and what model calls cost: `task_steps` (completed steps by key) and
//! `token_usage` (one row per model call, unique per step key).

use rusqlite::{Connection, params};

use crate::core::error::Result;
use crate::core::llm::Usage;

/// What one model call cost, stored once per step (`token_usage` is unique per step key).
#[derive(Debug, Clone)]
pub(crate) struct UsageRow {
    pub agent_id: String,
    pub provider: String,
    pub model: String,
    pub usage: Usage,
    pub cost_usd: f64,
}

/// Inserts a completed step of a task's journal.
pub(crate) fn insert(
    tx: &rusqlite::Transaction<'_>,
    task_id: &str,
    step_key: &str,
    kind: &str,
    result: &str,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO task_steps (task_id, step_key, kind, result, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![task_id, step_key, kind, result, now])?;
    Ok(())
}

/// Stores a step that is rewritten as it advances (a remote task's stream cursor), replacing the
/// earlier record under the same key.
pub(crate) fn replace(
    tx: &rusqlite::Transaction<'_>,
    task_id: &str,
    step_key: &str,
    kind: &str,
    result: &str,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO task_steps (task_id, step_key, kind, result, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(task_id, step_key) DO UPDATE SET result = excluded.result, created_at = excluded.created_at",
    )?
    .execute(params![task_id, step_key, kind, result, now])?;
    Ok(())
}

/// Whether a usage row is stored under the step key.
pub(crate) fn has_usage(c: &Connection, task_id: &str, step_key: &str) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM token_usage WHERE task_id = ?1 AND step_key = ?2)",
        params![task_id, step_key],
        |r| r.get(0),
    )?)
}

/// A journaled step: its key, kind and result (JSON).
pub(crate) struct StepRow {
    pub step_key: String,
    pub kind: String,
    pub result: String,
}

/// The journaled steps of a task.
pub(crate) fn list_for_task(c: &Connection, task_id: &str) -> Result<Vec<StepRow>> {
    let mut stmt =
        c.prepare_cached("SELECT step_key, kind, result FROM task_steps WHERE task_id = ?1")?;
    let rows = stmt.query_map(params![task_id], |r| {
        Ok(StepRow {
            step_key: r.get(0)?,
            kind: r.get(1)?,
            result: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Deletes a task's journal.
pub(crate) fn delete_for_task(tx: &rusqlite::Transaction<'_>, task_id: &str) -> Result<()> {
    tx.execute("DELETE FROM task_steps WHERE task_id = ?1", [task_id])?;
    Ok(())
}

/// Inserts one model call's token usage under its step key.
pub(crate) fn insert_usage(
    tx: &rusqlite::Transaction<'_>,
    task_id: &str,
    step_key: &str,
    u: &UsageRow,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO token_usage (task_id, step_key, agent_id, provider, model, input_tokens, output_tokens,
            total_tokens, cache_read_tokens, cache_creation_tokens, cost_usd, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        task_id,
        step_key,
        u.agent_id,
        u.provider,
        u.model,
        u.usage.input_tokens as i64,
        u.usage.output_tokens as i64,
        u.usage.total_tokens as i64,
        u.usage.cache_read_tokens as i64,
        u.usage.cache_creation_tokens as i64,
        u.cost_usd,
        now
    ])?;
    Ok(())
}

/// A task's usage summed over its model calls, and the model of its last call.
pub(crate) struct UsageTotals {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_creation_tokens: i64,
    pub cost_usd: f64,
    pub last_model: Option<String>,
}

/// Sums a task's token usage rows (zeros when it has none).
pub(crate) fn totals(c: &Connection, task_id: &str) -> Result<UsageTotals> {
    Ok(c.query_row(
        "SELECT coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), coalesce(sum(total_tokens), 0),
                coalesce(sum(cache_read_tokens), 0), coalesce(sum(cache_creation_tokens), 0), coalesce(sum(cost_usd), 0),
                (SELECT model FROM token_usage u WHERE u.task_id = ?1 ORDER BY id DESC LIMIT 1)
         FROM token_usage WHERE task_id = ?1",
        [task_id],
        |r| {
            Ok(UsageTotals {
                input_tokens: r.get(0)?,
                output_tokens: r.get(1)?,
                total_tokens: r.get(2)?,
                cache_read_tokens: r.get(3)?,
                cache_creation_tokens: r.get(4)?,
                cost_usd: r.get(5)?,
                last_model: r.get(6)?,
            })
        },
    )?)
}

/// A task's total tokens and cost so far, from its usage rows.
pub(crate) fn tokens_and_cost(c: &Connection, task_id: &str) -> Result<(u32, f64)> {
    Ok(c.query_row(
        "SELECT coalesce(sum(total_tokens), 0), coalesce(sum(cost_usd), 0) FROM token_usage WHERE task_id = ?1",
        [task_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// A task's usage by one (agent, model, provider).
pub(crate) struct AgentUsageRow {
    pub agent_id: String,
    pub model: String,
    pub provider: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    pub cost_usd: f64,
}

/// A task's usage per (agent, model, provider), in order of first use.
pub(crate) fn usage_by_agent(c: &Connection, task_id: &str) -> Result<Vec<AgentUsageRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT agent_id, model, provider, sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(cost_usd)
         FROM token_usage WHERE task_id = ?1 GROUP BY agent_id, model, provider ORDER BY min(id)",
    )?;
    let rows = stmt.query_map([task_id], |r| {
        Ok(AgentUsageRow {
            agent_id: r.get(0)?,
            model: r.get(1)?,
            provider: r.get(2)?,
            input_tokens: r.get(3)?,
            output_tokens: r.get(4)?,
            total_tokens: r.get(5)?,
            cost_usd: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A task's usage by one (provider, model).
pub(crate) struct ModelUsageRow {
    pub provider: String,
    pub model: String,
    pub executions: u32,
    pub total_tokens: u32,
    pub cost_usd: f64,
    pub cache_read_tokens: u32,
    pub cache_creation_tokens: u32,
}

/// A task's usage per (provider, model), by cost then tokens, descending.
pub(crate) fn usage_by_model(c: &Connection, task_id: &str) -> Result<Vec<ModelUsageRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT provider, model, count(*), sum(total_tokens), sum(cost_usd), sum(cache_read_tokens), sum(cache_creation_tokens)
         FROM token_usage WHERE task_id = ?1 GROUP BY provider, model ORDER BY sum(cost_usd) DESC, sum(total_tokens) DESC",
    )?;
    let rows = stmt.query_map([task_id], |r| {
        Ok(ModelUsageRow {
            provider: r.get(0)?,
            model: r.get(1)?,
            executions: r.get(2)?,
            total_tokens: r.get(3)?,
            cost_usd: r.get(4)?,
            cache_read_tokens: r.get(5)?,
            cache_creation_tokens: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Token usage rows after `after_id` (`token_usage.id`, which only grows: rows are never deleted
/// but with their task, and tasks are not deleted), summed, with the last id seen. A range of the
/// rowid: the metrics keep running totals and read only what was added since the last scrape.
pub(crate) struct UsageSince {
    pub last_id: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
}

pub(crate) fn usage_since(c: &Connection, after_id: i64) -> Result<UsageSince> {
    Ok(c.prepare_cached(
        "SELECT coalesce(max(id), ?1), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
                coalesce(sum(cost_usd), 0)
           FROM token_usage WHERE id > ?1",
    )?
    .query_row([after_id], |r| {
        Ok(UsageSince {
            last_id: r.get(0)?,
            input_tokens: r.get(1)?,
            output_tokens: r.get(2)?,
            cost_usd: r.get(3)?,
        })
    })?)
}
