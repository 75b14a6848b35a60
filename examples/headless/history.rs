//! `export --out DIR` and `import DIR`: the user's history as a `shannon-history` bundle
//! (docs/guides/history.md), to move it to another data dir or keep a copy.

use std::path::{Path, PathBuf};

use clap::Args;
use tauri_plugin_shannon::RecoveryPolicy;
use tauri_plugin_shannon::ShannonError;
use tauri_plugin_shannon::core::auth::Caller;

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
    let done = core
        .export_history(&Caller::embedded(), &out, args.include_deltas)
        .await;
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
    let done = core.import_history(&Caller::embedded(), &dir).await;
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
