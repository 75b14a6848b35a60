//! `ask`: one question, the answer streamed to stdout; and the turn `chat` repeats.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::streams::TaskSubscription;
use tauri_plugin_shannon::core::tasks::SubmitTaskRequest;
use tauri_plugin_shannon::{Core, RecoveryPolicy, ShannonError};

use crate::setup::{self, Interrupts};
use crate::{Done, Global};

pub const DEFAULT_QUESTION: &str = "What can an embedded multi-agent engine do for a desktop app?";

/// How a question runs (shared by `ask` and `chat`).
#[derive(Debug, Clone, Default, Args)]
pub struct RunOptions {
    /// How the engine works on it
    #[arg(long, value_parser = ["simple", "standard", "complex", "supervisor"])]
    pub mode: Option<String>,
    /// The provider to answer on, e.g. openai, anthropic, ollama, demo [default: the first with a
    /// stored key, else a running Ollama or LM Studio, else demo]
    #[arg(long)]
    pub provider: Option<String>,
    /// The model, e.g. gpt-4.1-mini (a model alone picks its provider)
    #[arg(long)]
    pub model: Option<String>,
    /// The conversation to continue (its id or a name of yours); a new one when absent
    #[arg(long)]
    pub session: Option<String>,
    /// Run on a Shannon cloud at URL (key from SHANNON_API_KEY or SHANNON_BEARER_TOKEN)
    #[arg(long, value_name = "URL", conflicts_with_all = ["provider", "model"])]
    pub remote: Option<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct AskArgs {
    /// The question [default: "What can an embedded multi-agent engine do for a desktop app?"]
    #[arg(value_name = "QUESTION")]
    pub question: Option<String>,
    #[command(flatten)]
    pub run: RunOptions,
}

pub async fn run(global: &Global, args: AskArgs) -> Result<Done, ShannonError> {
    let core = setup::open(global, RecoveryPolicy::Fail).await?;
    let mut interrupts = Interrupts::new()?;
    let me = Caller::embedded();
    let target = Target::resolve(&core, &me, &args.run).await?;
    let question = args.question.as_deref().unwrap_or(DEFAULT_QUESTION);
    let turn = answer(
        &core,
        &me,
        &target,
        question,
        args.run.session,
        &mut interrupts,
    )
    .await;
    setup::close(&core).await;
    Ok(turn?.done)
}

/// Where the questions of one command go, settled once.
pub struct Target {
    pub mode: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// A remote profile's id.
    pub remote: Option<String>,
}

impl Target {
    pub async fn resolve(core: &Core, me: &Caller, o: &RunOptions) -> Result<Self, ShannonError> {
        let mut target = Target {
            mode: o.mode.clone(),
            provider: o.provider.clone(),
            model: o.model.clone(),
            remote: None,
        };
        if let Some(url) = &o.remote {
            target.remote = Some(setup::remote_profile(core, url).await?);
            return Ok(target);
        }
        setup::keys_from_env(core, me).await?;
        match (&o.provider, &o.model) {
            (None, None) => {
                let choice = setup::choose(core, me).await?;
                eprintln!("{}", choice.why);
                target.provider = Some(choice.provider);
                target.model = choice.model;
            }
            // A local provider named without a model: the first model it has.
            (Some(provider), None) => target.model = setup::local_model(core, me, provider).await?,
            _ => {}
        }
        Ok(target)
    }

    fn request(&self, question: &str, session: Option<&str>) -> SubmitTaskRequest {
        SubmitTaskRequest {
            query: question.to_string(),
            session_id: session.map(str::to_string),
            mode: self.mode.clone(),
            provider_override: self.provider.clone(),
            model_override: self.model.clone(),
            target: self.remote.clone(),
            ..Default::default()
        }
    }
}

/// What a turn left behind.
pub struct Turn {
    pub done: Done,
    /// The session it ran in (its id).
    pub session_id: String,
}

/// Submits `question`, streams the answer to stdout (a spinner on a terminal's stderr until the
/// first token), and on Ctrl-C cancels the task and waits until the cancel is stored.
pub async fn answer(
    core: &Core,
    me: &Caller,
    target: &Target,
    question: &str,
    session: Option<String>,
    interrupts: &mut Interrupts,
) -> Result<Turn, ShannonError> {
    let submitted = core
        .submit_task(me, target.request(question, session.as_deref()), None)
        .await?;
    let id = submitted.task_id.clone();
    eprintln!("task {id} (session {})", submitted.session_id);
    let mut events = core.subscribe_task(me, &id, None, None).await?;
    let mut status = Status::new();
    let mut streamed = false;
    let mut out = std::io::stdout();
    loop {
        let event = tokio::select! {
            e = events.next() => e,
            _ = interrupts.recv() => {
                status.clear();
                cancel(core, me, &id, &mut events, interrupts).await?;
                return Ok(Turn { done: Done::Interrupted, session_id: submitted.session_id });
            }
        };
        let Some(event) = event else { break };
        match event.event_type.as_str() {
            "LLM_PARTIAL" => {
                status.clear();
                let _ = write!(out, "{}", event.message.unwrap_or_default());
                let _ = out.flush();
                streamed = true;
            }
            "STREAM_END" => break,
            "WORKFLOW_STARTED" | "AGENT_STARTED" | "TOOL_INVOKED" | "TOOL_OBSERVATION"
            | "PROGRESS" | "ERROR_OCCURRED" | "WORKFLOW_CANCELLED" => {
                let line = format!("{} {}", event.event_type, event.message.unwrap_or_default());
                status.step(line.trim());
            }
            _ => {}
        }
    }
    status.clear();
    let task = core.get_task(me, &id).await?;
    if !streamed && !task.result.is_empty() {
        let _ = write!(out, "{}", task.result);
    }
    let _ = writeln!(out);
    let _ = out.flush();
    let usage = task.usage.unwrap_or_default();
    eprintln!(
        "{} on {} / {}: {} tokens, ${:.6}",
        task.status,
        task.provider.as_deref().unwrap_or("?"),
        task.model_used.as_deref().unwrap_or("?"),
        usage.total_tokens.unwrap_or(0),
        usage.estimated_cost.unwrap_or(0.0)
    );
    let done = if task.status == "TASK_STATUS_COMPLETED" {
        Done::Ok
    } else {
        eprintln!(
            "error: the task ended {}{}",
            task.status,
            task.error.map(|e| format!(": {e}")).unwrap_or_default()
        );
        Done::TaskFailed
    };
    Ok(Turn {
        done,
        session_id: submitted.session_id,
    })
}

/// Ctrl-C during an answer: the cancel is stored before this returns (a later start settles the task
/// CANCELLED even if this process dies now), then the run is given a few seconds to stop and store
/// its last events. A second Ctrl-C stops waiting.
async fn cancel(
    core: &Core,
    me: &Caller,
    id: &str,
    events: &mut TaskSubscription,
    interrupts: &mut Interrupts,
) -> Result<(), ShannonError> {
    eprintln!("\ninterrupted: cancelling task {id}");
    core.cancel_task(me, id, Some("interrupted with Ctrl-C".into()))
        .await?;
    let ended = async { while events.next().await.is_some() {} };
    tokio::select! {
        _ = tokio::time::timeout(Duration::from_secs(10), ended) => {}
        _ = interrupts.recv() => {}
    }
    let task = core.get_task(me, id).await?;
    let status = task
        .status
        .strip_prefix("TASK_STATUS_")
        .unwrap_or(&task.status);
    if status == "CANCELLED" {
        eprintln!("task {id} cancelled: it will not be resumed");
    } else {
        // It ended just before the cancel arrived (or is still stopping: the stored cancel ends it
        // CANCELLED at the next start).
        eprintln!("task {id} {}", status.to_lowercase());
    }
    Ok(())
}

/// Progress on stderr: on a terminal one spinner line (the latest step) until the first token; when
/// stderr is a file or pipe, a line per step.
struct Status {
    tty: bool,
    shown: bool,
    spinner: Option<tokio::task::JoinHandle<()>>,
    line: std::sync::Arc<std::sync::Mutex<String>>,
}

const FRAMES: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

impl Status {
    fn new() -> Self {
        let tty = std::io::stderr().is_terminal();
        let line = std::sync::Arc::new(std::sync::Mutex::new("waiting for the answer".to_string()));
        let spinner = tty.then(|| {
            let line = line.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(90));
                for frame in FRAMES.iter().cycle() {
                    tick.tick().await;
                    let text: String = line
                        .lock()
                        .map(|l| l.chars().take(70).collect())
                        .unwrap_or_default();
                    eprint!("\r\x1b[K{frame} {text}");
                }
            })
        });
        Self {
            tty,
            shown: tty,
            spinner,
            line,
        }
    }

    /// A step of the run: the spinner's text, or a line of its own.
    /// A step of the run: the spinner's text, or a line of its own. On a terminal, steps after
    /// the first token are not shown (they would break the answer's lines).
    fn step(&mut self, text: &str) {
        if self.spinner.is_some() {
            if let Ok(mut l) = self.line.lock() {
                *l = text.to_string();
            }
        } else if !self.tty {
            eprintln!("  · {text}");
        }
    }

    /// Stops the spinner and erases its line (the first token, the end, an interrupt).
    fn clear(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.abort();
        }
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}
