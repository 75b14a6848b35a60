//! `chat`: an interactive conversation in one session. Each line read from stdin is a turn; the
//! engine sees the earlier turns as the conversation's history.

use std::io::{BufRead, IsTerminal};

use clap::Args;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::{RecoveryPolicy, ShannonError};

use crate::ask::{self, RunOptions, Target};
use crate::setup::{self, Interrupts};
use crate::{Done, Global};

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Type a question and press Enter; /exit or end of input (Ctrl-D) leaves.\n\
Ctrl-C during an answer cancels that answer; Ctrl-C at the prompt leaves."
)]
pub struct ChatArgs {
    #[command(flatten)]
    pub run: RunOptions,
}

pub async fn run(global: &Global, args: ChatArgs) -> Result<Done, ShannonError> {
    let core = setup::open(global, RecoveryPolicy::Fail).await?;
    let mut interrupts = Interrupts::new()?;
    let me = Caller::embedded();
    let target = Target::resolve(&core, &me, &args.run).await?;
    let lines = read_lines();
    let result = converse(
        &core,
        &me,
        &target,
        args.run.session,
        lines,
        &mut interrupts,
    )
    .await;
    setup::close(&core).await;
    result
}

async fn converse(
    core: &tauri_plugin_shannon::Core,
    me: &Caller,
    target: &Target,
    mut session: Option<String>,
    mut lines: tokio::sync::mpsc::Receiver<String>,
    interrupts: &mut Interrupts,
) -> Result<Done, ShannonError> {
    let prompt = std::io::stdin().is_terminal();
    let mut last = Done::Ok;
    loop {
        if prompt {
            eprint!("you> ");
        }
        let line = tokio::select! {
            l = lines.recv() => l,
            _ = interrupts.recv() => {
                eprintln!();
                return Ok(Done::Interrupted);
            }
        };
        let Some(line) = line else { return Ok(last) };
        let question = line.trim();
        if question.is_empty() {
            continue;
        }
        if question == "/exit" || question == "/quit" {
            return Ok(last);
        }
        let turn = ask::answer(core, me, target, question, session.clone(), interrupts).await?;
        // Every later turn joins the session the first one started (or the one named).
        session = Some(turn.session_id);
        // A cancelled answer ends that turn, not the conversation; a failed one makes the exit 1.
        if let Done::TaskFailed = turn.done {
            last = Done::TaskFailed;
        }
    }
}

/// Lines of stdin, read on a thread of their own (a blocked read never holds the runtime).
fn read_lines() -> tokio::sync::mpsc::Receiver<String> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    rx
}
