//! Streams: a task's stored events, and a live subscription into a Tauri `Channel`.

use tauri::State;
use tauri::ipc::Channel;

use super::Res;
use crate::core::error::ShannonError;
use crate::core::run::EventType;
use crate::core::streams::StreamPos;
use crate::core::streams::{TaskEvent, TaskSubscription};
use crate::core::tasks::read::TaskEventsPage;
use crate::state::Shannon;

/// Stored events of a task, ascending by `seq` (`limit` 1..200, default 50).
#[tauri::command]
#[specta::specta]
pub async fn get_task_events(
    state: State<'_, Shannon>,
    task_id: String,
    limit: Option<u32>,
    offset: Option<u32>,
) -> Res<TaskEventsPage> {
    let (core, caller) = state.resolve().await?;
    core.get_task_events(&caller, &task_id, limit, offset).await
}

/// Streams a task's events into `on_event` (ordered): the events after `last_event_id` (a stored seq)
/// or `last_stream_id` (a delta's `stream_id`, which wins), then live ones until STREAM_END. `types` keeps only those event types; `coalesce` merges consecutive
/// LLM_PARTIAL deltas arriving within one frame (16 ms) into one message. Stops when the channel is
/// dropped on the JavaScript side.
#[tauri::command]
#[specta::specta]
pub async fn subscribe_task(
    state: State<'_, Shannon>,
    task_id: String,
    last_event_id: Option<u32>,
    last_stream_id: Option<String>,
    types: Option<Vec<String>>,
    coalesce: Option<bool>,
    on_event: Channel<TaskEvent>,
) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    let after =
        match last_stream_id.as_deref() {
            Some(id) => Some(StreamPos::parse(id).ok_or_else(|| {
                ShannonError::invalid("last_stream_id must be <seq> or <seq>-<n>")
            })?),
            None => last_event_id.map(StreamPos::stored),
        };
    let sub = core.subscribe_task(&caller, &task_id, after, types).await?;
    let channel_id = on_event.id();
    let live = state.subscriptions.clone();
    // Held before spawning, so a forward that ends at once cannot be registered after it removed itself.
    let mut registry = live.lock().unwrap_or_else(|e| e.into_inner());
    let forwarding = {
        let live = live.clone();
        tauri::async_runtime::spawn(async move {
            forward(sub, on_event, coalesce.unwrap_or(false)).await;
            live.lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&channel_id);
        })
    };
    if let Some(earlier) = registry.insert(channel_id, forwarding) {
        earlier.abort();
    }
    Ok(())
}

/// Ends a `subscribe_task` subscription in the core: nothing more is sent to the Channel with this id
/// (the JavaScript `close()` and `AbortSignal` call it). Ending one that already ended is not an error.
#[tauri::command]
#[specta::specta]
pub async fn unsubscribe_task(state: State<'_, Shannon>, channel_id: u32) -> Res<()> {
    let forwarding = state
        .subscriptions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&channel_id);
    if let Some(forwarding) = forwarding {
        // Dropping the subscription with the task leaves the hub's subscriber list too. Awaited, so
        // that once this returns not even a send already under way can follow.
        forwarding.abort();
        let _ = forwarding.await;
    }
    Ok(())
}

async fn forward(mut sub: TaskSubscription, channel: Channel<TaskEvent>, coalesce: bool) {
    const FRAME: std::time::Duration = std::time::Duration::from_millis(16);
    let mut held: Option<TaskEvent> = None;
    // A held partial goes out at the latest one frame after the first delta it merges.
    let mut deadline = tokio::time::Instant::now();
    loop {
        let next = match (&held, coalesce) {
            (Some(_), true) => match tokio::time::timeout_at(deadline, sub.next()).await {
                Ok(e) => e,
                Err(_) => {
                    if channel.send(held.take().expect("held")).is_err() {
                        return;
                    }
                    continue;
                }
            },
            _ => sub.next().await,
        };
        let Some(event) = next else { break };
        if coalesce && event.is(EventType::LlmPartial) {
            match held.as_mut() {
                Some(h) if h.agent_id == event.agent_id => {
                    let more = event.message.unwrap_or_default();
                    h.message.get_or_insert_with(String::new).push_str(&more);
                    // The merged delta resumes after its last part.
                    h.stream_id = event.stream_id;
                }
                _ => {
                    deadline = tokio::time::Instant::now() + FRAME;
                    if let Some(h) = held.replace(event)
                        && channel.send(h).is_err()
                    {
                        return;
                    }
                }
            }
            continue;
        }
        if let Some(h) = held.take()
            && channel.send(h).is_err()
        {
            return;
        }
        if channel.send(event).is_err() {
            // The webview dropped the channel (unsubscribed or reloaded).
            return;
        }
    }
    if let Some(h) = held.take() {
        let _ = channel.send(h);
    }
}
