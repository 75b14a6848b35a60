//! Runs one task: its life cycle around a strategy ([`strategy`], over `strategies`: the `simple`
//! call, the `standard` model/tool loop, or a team of agents). Starting (WORKFLOW_STARTED, or the
//! resume note), checkpoints around the strategy, pause announced at once, the final answer event,
//! and the end, [`lifecycle::finish`], stored whatever happens. The strategies journal every
//! completed step, so a resumed run repeats nothing it finished.

mod strategy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::RunControl;

use super::journal::{Journal, StepKey, StepKind};
use super::lifecycle::{self, EventType, Outcome, TaskEnd, TaskStatus};
use crate::core::error::ShannonError;
use crate::core::llm::ChatMessage;
use crate::core::run::setup::{self, RunSpec};
use crate::core::sessions::title_from;
use crate::core::tasks::request::Mode;
use crate::core::{Core, time};

enum Stop {
    Cancelled {
        checkpoint: String,
        was_paused: bool,
    },
    Failed(String),
}

impl From<ShannonError> for Stop {
    fn from(e: ShannonError) -> Self {
        Stop::Failed(e.to_string())
    }
}

/// Backoff of the terminal write while storage fails.
const FINISH_RETRY_FIRST: Duration = Duration::from_millis(200);
const FINISH_RETRY_MAX: Duration = Duration::from_secs(2);

pub(crate) fn spawn(core: Core, spec: RunSpec) {
    let control = RunControl {
        cancel: core.engine().shutdown.child_token(),
        pause: Arc::new(watch::channel(spec.start_paused).0),
        timed_out: Arc::default(),
    };
    core.engine()
        .runs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(spec.workflow_id.clone(), control.clone());
    if spec.start_paused {
        core.engine().hub.hold(&spec.workflow_id);
    }
    tokio::spawn(async move {
        let wf = spec.workflow_id.clone();
        let mut run = Run::new(core.clone(), spec, control);
        let outcome = run.outcome().await;
        if core.engine().shutdown.is_cancelled() && !matches!(outcome, Outcome::Completed { .. }) {
            // Stopped by the app's shutdown, not by its user: the task stays unfinished and the
            // next start resumes it from its journal. What it emitted is stored first.
            core.engine().hub.settle(&wf).await;
        } else {
            run.finish(outcome).await;
        }
        core.engine()
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&wf);
    });
}

struct Run {
    core: Core,
    spec: RunSpec,
    control: RunControl,
    pause_rx: watch::Receiver<bool>,
    journal: Journal,
    started: Instant,
    /// WORKFLOW_PAUSED was announced for the current pause (mid-stream or at a checkpoint).
    paused_announced: bool,
    /// What a multi-agent strategy reports of its run, stored with the task's end.
    end_metadata: Option<Value>,
}

impl Run {
    fn new(core: Core, spec: RunSpec, control: RunControl) -> Self {
        let pause_rx = control.pause.subscribe();
        Self {
            core,
            spec,
            control,
            pause_rx,
            journal: Journal::default(),
            started: Instant::now(),
            paused_announced: false,
            end_metadata: None,
        }
    }

    /// Emits an event, unless the run is retracing journaled steps whose events are stored already.
    fn emit(&self, t: EventType, agent: &str, message: String, payload: Option<Value>) {
        if !self.journal.is_replaying() {
            self.announce(t, agent, message, payload);
        }
    }

    /// Emits an event even while replaying (recovery and control events).
    fn announce(&self, t: EventType, agent: &str, message: String, payload: Option<Value>) {
        let hub = &self.core.engine().hub;
        hub.emit(
            &self.spec.workflow_id,
            t,
            Some(agent),
            Some(message),
            payload,
        );
    }

    async fn outcome(&mut self) -> Outcome {
        match self.execute().await {
            Ok(answer) => Outcome::Completed { answer },
            Err(Stop::Cancelled { .. }) if self.control.timed_out.get().is_some() => {
                let message = self.control.timed_out.get().cloned().unwrap_or_default();
                Outcome::TimedOut { message }
            }
            Err(Stop::Cancelled {
                checkpoint,
                was_paused,
            }) => Outcome::Cancelled {
                checkpoint,
                was_paused: Some(was_paused),
            },
            Err(Stop::Failed(message)) => {
                tracing::warn!(workflow_id = %self.spec.workflow_id, error = %message, "task failed");
                Outcome::Failed { message }
            }
        }
    }

    /// Ends the task. A store that fails (a full disk) is retried until it works: the task then ends
    /// with its events stored, without calling the provider again.
    async fn finish(&self, outcome: Outcome) {
        let completed = matches!(outcome, Outcome::Completed { .. });
        let end = TaskEnd {
            workflow_id: self.spec.workflow_id.clone(),
            user_id: self.spec.caller.user_id.clone(),
            provider: Some(self.spec.provider.clone()),
            model: completed.then(|| self.spec.model.clone()),
            duration_ms: Some(self.started.elapsed().as_millis() as i64),
            session_title: completed.then(|| title_from(&self.spec.plan.query)),
            metadata: self.end_metadata.clone(),
        };
        let mut delay = FINISH_RETRY_FIRST;
        let mut attempt = 0u32;
        while let Err(e) = lifecycle::finish(&self.core, &end, outcome.clone()).await {
            attempt += 1;
            if attempt == 1 || attempt.is_multiple_of(30) {
                tracing::warn!(workflow_id = %end.workflow_id, error = %e, attempt,
                    "could not store a task's end; retrying until storage works again");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(FINISH_RETRY_MAX);
        }
        // When the run is over, everything it emitted is stored.
        self.core.engine().hub.settle(&self.spec.workflow_id).await;
    }

    /// Stops here when cancelled; waits here while paused (announcing WORKFLOW_PAUSED once).
    async fn checkpoint(&mut self, name: &str) -> Result<(), Stop> {
        let cancelled = |was_paused| Stop::Cancelled {
            checkpoint: name.into(),
            was_paused,
        };
        if self.control.cancel.is_cancelled() {
            return Err(cancelled(false));
        }
        if !*self.pause_rx.borrow_and_update() {
            self.paused_announced = false;
            return Ok(());
        }
        if !self.paused_announced {
            self.announce_paused(name);
        }
        loop {
            tokio::select! {
                _ = self.control.cancel.cancelled() => return Err(cancelled(true)),
                changed = self.pause_rx.changed() => {
                    if changed.is_err() || !*self.pause_rx.borrow_and_update() {
                        self.paused_announced = false;
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Runs `work` while watching for a pause: WORKFLOW_PAUSED (at `checkpoint`) is announced as
    /// soon as one is asked for, not when the work reaches its next checkpoint. Returns the work's
    /// output and whether the pause stands announced.
    async fn announcing_pause<T>(
        &self,
        work: impl std::future::Future<Output = T>,
        checkpoint: &(dyn Fn() -> &'static str + Sync),
    ) -> (T, bool) {
        let mut pause = self.control.pause.subscribe();
        let mut announced = self.paused_announced;
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return (out, announced),
                changed = pause.changed() => {
                    if changed.is_err() {
                        return (work.await, announced);
                    }
                    let paused = *pause.borrow_and_update();
                    if paused && !announced {
                        let payload = json!({"checkpoint": checkpoint()});
                        self.announce(EventType::WorkflowPaused, "orchestrator", "Paused".into(), Some(payload));
                    }
                    announced = paused;
                }
            }
        }
    }

    fn announce_paused(&mut self, checkpoint: &str) {
        let payload = json!({"checkpoint": checkpoint});
        self.announce(
            EventType::WorkflowPaused,
            "orchestrator",
            "Paused".into(),
            Some(payload),
        );
        self.paused_announced = true;
    }

    async fn start(&mut self) -> Result<(), Stop> {
        let (wf, now) = (self.spec.workflow_id.clone(), time::now());
        let status = self
            .core
            .store()
            .write(move |tx| lifecycle::begin_run(tx, &wf, &now))
            .await?;
        let status = if *self.pause_rx.borrow() {
            TaskStatus::Paused
        } else {
            status
        };
        let user = &self.spec.caller.user_id;
        self.core
            .notify_task_status(user, &self.spec.workflow_id, status);
        self.journal =
            Journal::load(&self.core, &self.spec.task_id, &self.spec.workflow_id).await?;
        if self.spec.resuming {
            let done = self.journal.count(StepKind::ModelCall);
            self.announce(
                EventType::ErrorRecovery,
                "orchestrator",
                format!("Resuming after the app restarted, from step {}", done + 1),
                Some(json!({"iteration": done, "journaled_steps": self.journal.pending()})),
            );
        } else {
            let payload = json!({"task_context": self.spec.plan.context});
            self.emit(
                EventType::WorkflowStarted,
                "orchestrator",
                "Starting up".into(),
                Some(payload),
            );
        }
        if let Some(note) = self.spec.fallback_note.clone() {
            let payload = json!({"provider": "demo", "offline_demo": true});
            self.emit(EventType::Progress, "orchestrator", note, Some(payload));
        }
        // As the cloud's router: `skip_synthesis` answers a complex request in one call.
        if self.spec.plan.requested_mode == Mode::Complex && self.spec.plan.strategy.is_one_agent()
        {
            let payload = json!({"requested_mode": "complex", "effective_mode": "simple"});
            self.emit(
                EventType::Delegation,
                "orchestrator",
                "Processing".into(),
                Some(payload),
            );
        }
        Ok(())
    }

    async fn execute(&mut self) -> Result<String, Stop> {
        self.start().await?;
        let client = setup::provider_client(&self.core, &self.spec).await?;
        self.checkpoint("pre_execution").await?;
        self.execute_strategy(client).await
    }

    /// The conversation the run starts from, journaled so a resumed run sees the same one.
    async fn context(&mut self) -> Result<Vec<ChatMessage>, Stop> {
        let key = StepKey::named("context");
        if let Some(messages) = self.journal.replay(&key)? {
            return Ok(messages);
        }
        let messages = setup::initial_messages(&self.core, &self.spec).await?;
        self.journal
            .record(
                &self.core,
                &key,
                StepKind::Context,
                &messages,
                Vec::new(),
                None,
            )
            .await?;
        Ok(messages)
    }
}
