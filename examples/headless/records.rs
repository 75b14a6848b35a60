//! `tasks list|show` and `sessions list|show`: the history, as a table or (`--json`) as the API's
//! JSON. Read-only: on a data dir with no database nothing is created (the lists are empty), and
//! tasks an earlier process left running end FAILED (see `setup::open`).

use clap::{Args, Subcommand};
use serde::Serialize;
use tauri_plugin_shannon::ShannonError;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::sessions::SessionList;
use tauri_plugin_shannon::core::tasks::list::{ListTasksQuery, TaskList};

use crate::setup;
use crate::{Done, Global};

#[derive(Debug, Clone, Args)]
pub struct Page {
    /// How many, newest first (1..100)
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,
    /// How many to skip
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    /// Print the API's JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Tasks, newest first
    List {
        #[command(flatten)]
        page: Page,
        /// Only this session's (its id or your name for it)
        #[arg(long)]
        session: Option<String>,
        /// Only tasks with this status: queued, running, completed, failed, cancelled, timeout
        #[arg(long)]
        status: Option<String>,
    },
    /// One task: its status, answer, usage and error
    Show {
        /// The task id (task-…)
        id: String,
        /// Print the API's JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Conversations, most recently active first
    List {
        #[command(flatten)]
        page: Page,
    },
    /// One conversation and its turns, oldest first
    Show {
        /// The session's id or your name for it
        id: String,
        /// Print the API's JSON
        #[arg(long)]
        json: bool,
    },
}

fn print_json(value: &impl Serialize) -> Result<(), ShannonError> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// One line of a table cell: newlines folded, cut at `max` characters.
fn cell(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn short_status(api: &str) -> String {
    api.strip_prefix("TASK_STATUS_").unwrap_or(api).to_string()
}

pub async fn tasks(global: &Global, cmd: TasksCommand) -> Result<Done, ShannonError> {
    let Some(core) = setup::open_existing(global).await? else {
        return match cmd {
            TasksCommand::List { page, .. } => {
                let none = TaskList {
                    tasks: Vec::new(),
                    total_count: 0,
                };
                print_tasks(&none, page.json).map(|()| Done::Ok)
            }
            TasksCommand::Show { id, .. } => Err(setup::no_data(global, &id)),
        };
    };
    let me = Caller::embedded();
    let result = async {
        match cmd {
            TasksCommand::List {
                page,
                session,
                status,
            } => {
                let list = core
                    .list_tasks(
                        &me,
                        ListTasksQuery {
                            limit: Some(page.limit),
                            offset: Some(page.offset),
                            session_id: session,
                            status,
                        },
                    )
                    .await?;
                print_tasks(&list, page.json)
            }
            TasksCommand::Show { id, json } => {
                let task = core.get_task(&me, &id).await?;
                if json {
                    return print_json(&task);
                }
                let usage = task.usage.clone().unwrap_or_default();
                println!("task       {}", task.task_id);
                println!("status     {}", short_status(&task.status));
                println!("session    {}", task.session_id.as_deref().unwrap_or("-"));
                println!("mode       {}", task.mode);
                println!(
                    "model      {} / {}",
                    task.provider.as_deref().unwrap_or("-"),
                    task.model_used.as_deref().unwrap_or("-")
                );
                println!(
                    "usage      {} tokens, ${:.6}",
                    usage.total_tokens.unwrap_or(0),
                    usage.estimated_cost.unwrap_or(0.0)
                );
                println!("created    {}", task.created_at);
                if let Some(done) = &task.completed_at {
                    println!("completed  {done}");
                }
                if let Some(err) = &task.error {
                    println!("error      {err}");
                }
                println!("\n> {}\n\n{}", task.query, task.result);
                Ok(())
            }
        }
    }
    .await;
    setup::close(&core).await;
    result.map(|()| Done::Ok)
}

pub async fn sessions(global: &Global, cmd: SessionsCommand) -> Result<Done, ShannonError> {
    let Some(core) = setup::open_existing(global).await? else {
        return match cmd {
            SessionsCommand::List { page } => {
                let none = SessionList {
                    sessions: Vec::new(),
                    total_count: 0,
                };
                print_sessions(&none, page.json).map(|()| Done::Ok)
            }
            SessionsCommand::Show { id, .. } => Err(setup::no_data(global, &id)),
        };
    };
    let me = Caller::embedded();
    let result = async {
        match cmd {
            SessionsCommand::List { page } => {
                let list = core
                    .list_sessions(&me, Some(page.limit), Some(page.offset))
                    .await?;
                print_sessions(&list, page.json)
            }
            SessionsCommand::Show { id, json } => {
                let session = core.get_session(&me, &id).await?;
                let history = core.get_session_history(&me, &id).await?;
                if json {
                    return print_json(&serde_json::json!({
                        "session": session,
                        "history": history,
                    }));
                }
                println!("session    {}", session.session_id);
                if let Some(title) = &session.title {
                    println!("title      {title}");
                }
                println!(
                    "tasks      {} ({} tokens, ${:.6})",
                    session.task_count, session.tokens_used, session.total_cost_usd
                );
                for t in &history.tasks {
                    println!("\n[{}] {}", short_status(&t.status), t.workflow_id);
                    println!("> {}", t.query);
                    if let Some(result) = t.result.as_deref().filter(|r| !r.is_empty()) {
                        println!("{result}");
                    }
                    if let Some(err) = &t.error_message {
                        println!("error: {err}");
                    }
                }
                Ok(())
            }
        }
    }
    .await;
    setup::close(&core).await;
    result.map(|()| Done::Ok)
}

fn print_tasks(list: &TaskList, json: bool) -> Result<(), ShannonError> {
    if json {
        return print_json(list);
    }
    println!("{:<62} {:<10} {:>7}  QUERY", "TASK", "STATUS", "TOKENS");
    for t in &list.tasks {
        let tokens = t.total_token_usage.as_ref().map_or(0, |u| u.total_tokens);
        println!(
            "{:<62} {:<10} {:>7}  {}",
            t.task_id,
            short_status(&t.status),
            tokens,
            cell(&t.query, 60)
        );
    }
    eprintln!("{} of {} tasks", list.tasks.len(), list.total_count);
    Ok(())
}

fn print_sessions(list: &SessionList, json: bool) -> Result<(), ShannonError> {
    if json {
        return print_json(list);
    }
    println!("{:<36} {:>5} {:>7}  TITLE", "SESSION", "TASKS", "TOKENS");
    for s in &list.sessions {
        let title = s
            .title
            .as_deref()
            .or(s.latest_task_query.as_deref())
            .unwrap_or("");
        println!(
            "{:<36} {:>5} {:>7}  {}",
            s.session_id,
            s.task_count,
            s.tokens_used,
            cell(title, 60)
        );
    }
    eprintln!("{} of {} sessions", list.sessions.len(), list.total_count);
    Ok(())
}
