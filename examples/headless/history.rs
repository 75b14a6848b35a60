//! `export --out DIR` and `import DIR`: the user's history as a `shannon-history` bundle
//! (docs/guides/history.md), to move it to another data dir or keep a copy.

use std::path::{Path, PathBuf};

use clap::Args;
use tauri_plugin_shannon::RecoveryPolicy;
use tauri_plugin_shannon::ShannonError;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::history::PullOptions;

use crate::{Done, Global, setup};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The folder to write the bundle into (new, or empty)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Keep the streamed deltas too (a resumed stream then replays them exactly)
    #[arg(long)]
    pub include_deltas: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The bundle's folder
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// A progress line on stderr (a terminal only) while an export, import or pull runs; abort it when
/// the operation returns.
fn show_progress(core: &tauri_plugin_shannon::Core) -> tokio::task::JoinHandle<()> {
    use std::io::IsTerminal;
    use tauri_plugin_shannon::core::CoreEvent;
    let mut events = core.subscribe_events();
    let tty = std::io::stderr().is_terminal();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(CoreEvent::HistoryProgress(p)) if tty => {
                    eprint!("\r{}: {} of {} {}   ", p.operation, p.done, p.total, p.unit)
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    })
}

fn absolute(p: &Path) -> Result<String, ShannonError> {
    std::path::absolute(p)
        .map(|p| p.display().to_string())
        .map_err(|e| ShannonError::InvalidRequest(format!("{}: {e}", p.display())))
}

pub async fn export(global: &Global, args: ExportArgs) -> Result<Done, ShannonError> {
    let Some(core) = setup::open_existing(global).await? else {
        return Err(setup::no_data(global, "nothing to export"));
    };
    let out = absolute(&args.out)?;
    let progress = show_progress(&core);
    let done = core
        .export_history(&Caller::embedded(), &out, args.include_deltas)
        .await;
    progress.abort();
    setup::close(&core).await;
    let r = done?;
    let c = &r.counts;
    eprintln!(
        "exported {} sessions, {} tasks, {} events, {} usage rows, {} schedules, {} files to {}",
        c.sessions, c.tasks, c.events, c.usage_rows, c.schedules, c.files, r.dir
    );
    if r.unfinished_skipped > 0 {
        eprintln!(
            "{} unfinished tasks left out: export again once they end",
            r.unfinished_skipped
        );
    }
    Ok(Done::Ok)
}

pub async fn import(global: &Global, args: ImportArgs) -> Result<Done, ShannonError> {
    let dir = absolute(&args.dir)?;
    let core = setup::open(global, RecoveryPolicy::Fail).await?;
    let progress = show_progress(&core);
    let done = core.import_history(&Caller::embedded(), &dir).await;
    progress.abort();
    setup::close(&core).await;
    let r = done?;
    eprintln!(
        "imported {} sessions ({} already here), {} tasks ({} already here), {} events, {} usage rows, {} files",
        r.sessions_added,
        r.sessions_present,
        r.tasks_added,
        r.tasks_present,
        r.events_added,
        r.usage_rows_added,
        r.files_added
    );
    if r.schedules_added_paused > 0 {
        eprintln!(
            "{} schedules arrived paused: resume them where they should fire",
            r.schedules_added_paused
        );
    }
    for s in &r.sessions_refused {
        eprintln!("session {s} not imported: that id belongs to another user here");
    }
    Ok(Done::Ok)
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The Shannon cloud's base URL (its key from SHANNON_API_KEY or SHANNON_BEARER_TOKEN)
    #[arg(long, value_name = "URL")]
    pub remote: String,
    /// Requests per minute on the cloud's rate-limited routes [default: the account's limit]
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,
}

pub async fn pull(global: &Global, args: PullArgs) -> Result<Done, ShannonError> {
    let core = setup::open(global, RecoveryPolicy::Fail).await?;
    let done = async {
        let profile = setup::remote_profile(&core, &args.remote).await?;
        let options = PullOptions {
            rate_limit: args.rate_limit,
            rate_window_secs: None,
        };
        let progress = show_progress(&core);
        let pulled = core
            .pull_history(&Caller::embedded(), &profile, options)
            .await;
        progress.abort();
        pulled
    }
    .await;
    setup::close(&core).await;
    let r = done?;
    eprintln!(
        "pulled {} of {} sessions ({} already here), {} tasks, {} events in {} requests ({} rate-limited)",
        r.sessions_added,
        r.sessions_seen,
        r.sessions_present,
        r.tasks_added,
        r.events_added,
        r.requests,
        r.limited_requests
    );
    for f in &r.failed {
        eprintln!("not pulled: {f} (pull again to retry)");
    }
    for l in &r.lost {
        eprintln!("note: {l}");
    }
    Ok(if r.failed.is_empty() {
        Done::Ok
    } else {
        Done::TaskFailed
    })
}
