//! The headless example: the Shannon core as a command-line tool, with no window. SQLite in a local
//! data dir; answers from the first provider with a stored key, else a running Ollama or LM Studio,
//! else the clearly labelled offline demo provider.
//!
//! ```sh
//! cargo run --example headless                                   # ask the default question
//! cargo run --example headless -- ask "Why is the sky blue?" --mode simple
//! cargo run --example headless -- chat --session notes           # an interactive conversation
//! cargo run --example headless -- serve --port 8765              # the loopback HTTP listener
//! cargo run --example headless -- tasks list                     # also: tasks show, sessions list|show
//! printf %s "$KEY" | cargo run --example headless -- keys set openai   # also: keys list, keys delete
//! cargo run --example headless -- export --out ~/shannon-backup   # and: import ~/shannon-backup
//! cargo run --example headless -- --help
//! ```
//!
//! Answers go to stdout, everything else (progress, the task id, usage) to stderr. Exit codes: 0 ok,
//! 1 a failure (the error's stable code is printed), 2 a usage error, 130 interrupted by Ctrl-C
//! (the running task is cancelled first, durably: no later run resumes or bills it).

mod ask;
mod chat;
mod history;
mod keys;
mod records;
mod serve;
mod setup;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tauri_plugin_shannon::{KeyStorage, ShannonError};

#[derive(Debug, Parser)]
#[command(
    name = "headless",
    version,
    about = "The embedded Shannon engine on the command line: ask, chat, serve, and read the history.",
    after_help = "With no subcommand, asks the default question (as `headless ask`).\n\
Environment: SHANNON_DATA_DIR; provider keys such as OPENAI_API_KEY (stored encrypted when set);\n\
for serve SHANNON_PORT, SHANNON_TOKEN, SHANNON_PROVIDER, SHANNON_PROVIDER_BASE_URL; for --remote\n\
SHANNON_API_KEY or SHANNON_BEARER_TOKEN.\n\
Exit codes: 0 ok, 1 failure, 2 usage error, 130 interrupted (the running task is cancelled)."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Where the database and the master key live [default: $SHANNON_DATA_DIR, else
    /// target/shannon-headless in this repository]
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Global options"
    )]
    pub data_dir: Option<PathBuf>,
    /// Where the master key is kept
    #[arg(long, global = true, value_name = "STORAGE", default_value = "file",
          value_parser = ["auto", "keychain", "file"], help_heading = "Global options")]
    pub key_storage: String,
}

impl Global {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .or_else(|| std::env::var_os("SHANNON_DATA_DIR").map(PathBuf::from))
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/shannon-headless")
            })
    }

    pub fn key_storage(&self) -> KeyStorage {
        // The value parser admits only the three names FromStr knows.
        self.key_storage.parse().unwrap_or(KeyStorage::File)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ask one question and stream the answer
    Ask(ask::AskArgs),
    /// An interactive conversation: every line you type is a turn in one session
    Chat(chat::ChatArgs),
    /// Run the loopback HTTP listener (the Shannon cloud's routes) until Ctrl-C
    Serve(serve::ServeArgs),
    /// The task history
    #[command(subcommand)]
    Tasks(records::TasksCommand),
    /// Conversations
    #[command(subcommand)]
    Sessions(records::SessionsCommand),
    /// Provider API keys, encrypted at rest (never printed in full)
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Write the history (sessions, finished tasks, events, usage, schedules, files, memory) to a
    /// shannon-history bundle
    Export(history::ExportArgs),
    /// Add a shannon-history bundle's history to this data dir (again adds nothing)
    Import(history::ImportArgs),
    /// Bring your history on a Shannon cloud into this data dir (again resumes, adds no duplicates)
    Pull(history::PullArgs),
}

/// How a command ended, besides an error.
pub enum Done {
    Ok,
    /// The task ended but not COMPLETED (failed, timed out): exit 1.
    TaskFailed,
    /// Ctrl-C: the task was cancelled; exit 130.
    Interrupted,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error [io]: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(Done::Ok) => 0,
        Ok(Done::TaskFailed) => 1,
        Ok(Done::Interrupted) => 130,
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            1
        }
    };
    // Not through the runtime's drop: a read of stdin still blocked (chat) would hold it open.
    std::process::exit(code);
}

async fn run(cli: Cli) -> Result<Done, ShannonError> {
    let global = cli.global;
    match cli.command {
        None => ask::run(&global, ask::AskArgs::default()).await,
        Some(Command::Ask(args)) => ask::run(&global, args).await,
        Some(Command::Chat(args)) => chat::run(&global, args).await,
        Some(Command::Serve(args)) => serve::run(&global, args).await,
        Some(Command::Tasks(cmd)) => records::tasks(&global, cmd).await,
        Some(Command::Sessions(cmd)) => records::sessions(&global, cmd).await,
        Some(Command::Keys(cmd)) => keys::run(&global, cmd).await,
        Some(Command::Export(args)) => history::export(&global, args).await,
        Some(Command::Import(args)) => history::import(&global, args).await,
        Some(Command::Pull(args)) => history::pull(&global, args).await,
    }
}
