//! Task events: the cloud's event object, per-task sequence numbers, live fan-out with replay rings
//! ([`hub`]) and batched persistence ([`writer`], never one transaction per token).
//!
//! Stored events get `seq` 1, 2, 3… per task with no gap. Transient events (LLM_PARTIAL,
//! LLM_PROMPT) are broadcast live only and carry the seq of the last stored event before them.

mod hub;
mod writer;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::lifecycle::EventType;
pub use hub::{EventHub, RingConfig};
pub(crate) use writer::{StepRecord, UsageRow, insert_usage};
pub use writer::{insert_events, read_events};

/// Event types that are streamed live but never stored (as the cloud).
pub fn is_transient(event_type: &str) -> bool {
    // Four comparisons, not a parse: this runs for every event every subscriber receives.
    EventType::TRANSIENT
        .iter()
        .any(|t| t.as_str() == event_type)
}

/// One event, in the cloud's shape (contract §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskEvent {
    pub workflow_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    pub timestamp: String,
    pub seq: u32,
}

impl TaskEvent {
    pub fn is_transient(&self) -> bool {
        is_transient(&self.event_type)
    }

    /// Whether this event is of type `t`.
    pub fn is(&self, t: EventType) -> bool {
        self.event_type == t.as_str()
    }

    /// The catalogue type, if this build knows it.
    pub fn kind(&self) -> Option<EventType> {
        EventType::parse(&self.event_type)
    }
}

/// An event before the hub numbers it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: EventType,
    pub agent_id: Option<String>,
    pub message: Option<String>,
    pub payload: Option<Value>,
}

impl NewEvent {
    pub fn new(event_type: EventType, agent_id: &str, message: impl Into<String>) -> Self {
        Self {
            event_type,
            agent_id: Some(agent_id.to_string()),
            message: Some(message.into()),
            payload: None,
        }
    }

    pub fn with_payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }
}

/// Text for an event: at most `max` characters, with an ellipsis when cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// Tool parameters for events: strings capped at 500 characters, as the cloud.
pub(crate) fn clip_params(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(clip(s, 500)),
        Value::Array(a) => Value::Array(a.iter().map(clip_params).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), clip_params(v))).collect())
        }
        other => other.clone(),
    }
}
