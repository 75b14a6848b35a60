//! The cloud's wire, read tolerantly (unknown fields ignored, Go's omitempty defaults): SSE frames
//! with their renamed event names mapped back to our event types, and a task's status.

use serde_json::{Value, json};

use crate::core::run::lifecycle::{EventType, TaskStatus};
use crate::core::streams::{NewEvent, payloads};

/// One SSE frame of a cloud stream, mapped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame {
    /// The Redis stream id (`<ms>-<n>`) from the frame's `id:` line.
    pub stream_id: Option<String>,
    /// The cloud's per-workflow seq, when the frame carries it (renamed control frames do not).
    pub seq: Option<u64>,
    pub event: Mapped,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mapped {
    /// An event to mirror.
    Event(NewEvent),
    /// `done`: the cloud's STREAM_END.
    Done,
    /// A type this build does not know (counted, not mirrored).
    Unknown(String),
}

/// A stream id as a comparable pair: the cloud's Redis ids `<ms>-<n>`, and (for another plugin's
/// listener as the cloud) its `<seq>` and `<seq>-<n>` resume ids, where `<seq>` sorts first.
pub(crate) fn stream_pos(id: &str) -> Option<(u64, u64)> {
    match id.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => Some((id.parse().ok()?, 0)),
    }
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Maps a frame's `event:` name and `data:` to our event (the cloud's renamed events; see
/// docs/guides/remote-mode.md).
pub(crate) fn map_frame(name: &str, data: &str, id: Option<&str>) -> Frame {
    let stream_id = id.filter(|s| !s.is_empty()).map(str::to_string);
    if name == "done" || data.trim() == "[DONE]" {
        return Frame {
            stream_id,
            seq: None,
            event: Mapped::Done,
        };
    }
    let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    let seq = v.get("seq").and_then(Value::as_u64);
    let agent = text(&v, "agent_id");
    let (event_type, message, payload) = match name {
        "thread.message.delta" => (
            Some(EventType::LlmPartial),
            text(&v, "delta").or_else(|| text(&v, "message")),
            None,
        ),
        "thread.message.completed" => (
            Some(EventType::LlmOutput),
            text(&v, "response").or_else(|| text(&v, "message")),
            v.get("metadata").cloned().filter(|m| !m.is_null()),
        ),
        "error" => (
            Some(EventType::ErrorOccurred),
            text(&v, "message"),
            v.get("payload").cloned(),
        ),
        n if n.starts_with("workflow.") => {
            let t = EventType::parse(&n.replacen("workflow.", "WORKFLOW_", 1).to_uppercase());
            let mut p = serde_json::Map::new();
            for k in ["checkpoint", "was_paused"] {
                if let Some(x) = v.get(k).filter(|x| !x.is_null()) {
                    p.insert(k.into(), x.clone());
                }
            }
            (
                t,
                text(&v, "message"),
                (!p.is_empty()).then_some(Value::Object(p)),
            )
        }
        other => {
            let t = text(&v, "type").unwrap_or_else(|| other.to_string());
            match EventType::parse(&t) {
                Some(t) => (Some(t), text(&v, "message"), v.get("payload").cloned()),
                None => {
                    return Frame {
                        stream_id,
                        seq,
                        event: Mapped::Unknown(crate::core::streams::clip(&t, 64)),
                    };
                }
            }
        }
    };
    let Some(event_type) = event_type else {
        return Frame {
            stream_id,
            seq,
            event: Mapped::Unknown(crate::core::streams::clip(name, 64)),
        };
    };
    Frame {
        stream_id,
        seq,
        event: fit(event_type, agent, message, payload),
    }
}

/// A stored cloud event (`GET /tasks/{id}/events`, a back-fill) mapped as a frame.
pub(crate) fn map_stored(v: &Value) -> Frame {
    let stream_id = text(v, "stream_id");
    let seq = v.get("seq").and_then(Value::as_u64);
    let t = text(v, "type").unwrap_or_default();
    if t == EventType::StreamEnd.as_str() {
        return Frame {
            stream_id,
            seq,
            event: Mapped::Done,
        };
    }
    let payload = match v.get("payload") {
        // Some cloud routes send the payload as a JSON string.
        Some(Value::String(s)) => serde_json::from_str(s).ok(),
        other => other.cloned().filter(|p| !p.is_null()),
    };
    let event = match EventType::parse(&t) {
        Some(et) => fit(et, text(v, "agent_id"), text(v, "message"), payload),
        None => Mapped::Unknown(crate::core::streams::clip(&t, 64)),
    };
    Frame {
        stream_id,
        seq,
        event,
    }
}

/// The event with its payload when it is what our catalogue declares for the type; otherwise
/// without it when the type allows none, else a WARNING that keeps the type and message (the
/// typed bindings never see a payload of another shape). A live-only type (a prompt, a heartbeat)
/// that cannot be read is not mirrored.
fn fit(
    t: EventType,
    agent: Option<String>,
    message: Option<String>,
    payload: Option<Value>,
) -> Mapped {
    match fit_event(t, agent, message, payload) {
        Some(e) => Mapped::Event(e),
        None => Mapped::Unknown(format!("{t} (unreadable payload)")),
    }
}

/// The payload without top-level fields our catalogue does not declare for the type (a newer
/// cloud's additions, another plugin's extras for the desktop frontend), when the rest fits.
fn known_fields(t: EventType, mut payload: Value) -> Option<Value> {
    for _ in 0..32 {
        let Err(e) = payloads::check(t, Some(&payload)) else {
            return Some(payload);
        };
        let field = e.split("unknown field `").nth(1)?.split('`').next()?;
        payload.as_object_mut()?.remove(field)?;
    }
    None
}

fn fit_event(
    t: EventType,
    agent: Option<String>,
    message: Option<String>,
    payload: Option<Value>,
) -> Option<NewEvent> {
    let payload = payload.filter(|p| !p.as_object().is_some_and(|o| o.is_empty()));
    let event = |event_type, payload| NewEvent {
        event_type,
        agent_id: agent.clone(),
        message: message.clone(),
        payload,
    };
    if let Some(p) = payload.and_then(|p| known_fields(t, p)) {
        return Some(event(t, Some(p)));
    }
    if payloads::check(t, None).is_ok() {
        return Some(event(t, None));
    }
    if t.is_transient() {
        return None;
    }
    Some(NewEvent {
        event_type: EventType::Warning,
        agent_id: agent,
        message: Some(format!(
            "{t}: {}",
            message.as_deref().unwrap_or("(no message)")
        )),
        payload: Some(json!({"reason": "remote_event_unreadable", "unsourced": false})),
    })
}

/// A cloud task's status (`GET /api/v1/tasks/{id}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CloudStatus {
    pub status: Option<TaskStatus>,
    pub result: String,
    pub error: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub model: Option<String>,
    pub provider: Option<String>,
}

/// `TASK_STATUS_COMPLETED` → COMPLETED; anything unknown reads as no status.
pub(crate) fn parse_status(v: &Value) -> CloudStatus {
    let word = v
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim_start_matches("TASK_STATUS_");
    let usage = v.get("usage").cloned().unwrap_or(Value::Null);
    let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
    CloudStatus {
        status: TaskStatus::parse_filter(word),
        result: text(v, "result").unwrap_or_default(),
        error: text(v, "error"),
        input_tokens: n("input_tokens"),
        output_tokens: n("output_tokens"),
        cost_usd: usage
            .get("estimated_cost")
            .or_else(|| usage.get("cost_usd"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        model: text(v, "model_used"),
        provider: text(v, "provider"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_frames_map_back() {
        let f = map_frame(
            "thread.message.delta",
            r#"{"workflow_id":"w","agent_id":"a","delta":"Hel","seq":7,"stream_id":"1-0"}"#,
            Some("1-0"),
        );
        assert_eq!(f.seq, Some(7));
        assert_eq!(f.stream_id.as_deref(), Some("1-0"));
        let Mapped::Event(e) = f.event else { panic!() };
        assert_eq!(e.event_type, EventType::LlmPartial);
        assert_eq!(e.message.as_deref(), Some("Hel"));

        let f = map_frame("done", "[DONE]", Some("2-0"));
        assert_eq!(f.event, Mapped::Done);

        let f = map_frame(
            "workflow.paused",
            r#"{"workflow_id":"w","agent_id":"","message":"Paused","checkpoint":"pre_step_2"}"#,
            Some("3-0"),
        );
        assert_eq!(f.seq, None);
        let Mapped::Event(e) = f.event else { panic!() };
        assert_eq!(e.event_type, EventType::WorkflowPaused);
        assert_eq!(e.payload, Some(json!({"checkpoint": "pre_step_2"})));
        assert_eq!(e.agent_id, None);
    }

    #[test]
    fn a_payload_of_another_shape_never_reaches_the_typed_stream() {
        // TOOL_INVOKED requires its payload: one this build cannot read becomes a WARNING.
        let f = map_frame(
            "TOOL_INVOKED",
            r#"{"type":"TOOL_INVOKED","message":"search","payload":{"surprise":1},"seq":3}"#,
            Some("4-0"),
        );
        let Mapped::Event(e) = f.event else { panic!() };
        assert_eq!(e.event_type, EventType::Warning);
        assert!(e.message.unwrap().starts_with("TOOL_INVOKED: search"));
        // Fields the catalogue does not know are dropped; the rest is kept.
        let f = map_frame(
            "thread.message.completed",
            r#"{"response":"hi","seq":4,"metadata":{"tokens_used":3,"usage":{"total_tokens":3}}}"#,
            Some("4-1"),
        );
        let Mapped::Event(e) = f.event else { panic!() };
        assert_eq!(e.event_type, EventType::LlmOutput);
        assert_eq!(e.payload, Some(json!({"tokens_used": 3})));
        // A type that allows no payload keeps its message and loses the odd payload.
        let f = map_frame(
            "AGENT_STARTED",
            r#"{"type":"AGENT_STARTED","agent_id":"x","message":"go","payload":{"odd":true}}"#,
            None,
        );
        let Mapped::Event(e) = f.event else { panic!() };
        assert_eq!(e.event_type, EventType::AgentStarted);
        assert_eq!(f.stream_id, None);
        // Unknown types are not mirrored.
        let f = map_frame("BRAND_NEW", r#"{"type":"BRAND_NEW"}"#, Some("5-0"));
        assert!(matches!(f.event, Mapped::Unknown(_)));
    }

    #[test]
    fn status_reads_the_cloud_words() {
        let s = parse_status(&json!({
            "status": "TASK_STATUS_COMPLETED", "result": "hi",
            "usage": {"input_tokens": 100, "output_tokens": 50, "estimated_cost": 0.5},
            "model_used": "gpt-5-mini", "unknown": 1
        }));
        assert_eq!(s.status, Some(TaskStatus::Completed));
        assert_eq!((s.input_tokens, s.output_tokens), (100, 50));
        assert_eq!(s.model.as_deref(), Some("gpt-5-mini"));
        assert_eq!(
            parse_status(&json!({"status": "TASK_STATUS_WEIRD"})).status,
            None
        );
        assert!(stream_pos("17-2") > stream_pos("17-1"));
        assert!(stream_pos("18-0") > stream_pos("17-9"));
        assert!(stream_pos("5") < stream_pos("5-1"));
        assert!(stream_pos("5-9") < stream_pos("6"));
        assert_eq!(stream_pos("x"), None);
    }
}
