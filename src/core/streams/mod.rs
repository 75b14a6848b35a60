//! Task events: the cloud's event object, per-task positions, the hub that makes an event visible
//! only once it is stored ([`hub`]), group commits ([`writer`]) and the stored forms ([`rows`]).
//!
//! Stored events get `seq` 1, 2, 3… per task with no gap. Transient events (LLM_PARTIAL, LLM_PROMPT)
//! carry the seq of the stored event before them and a `stream_id` `"<seq>-<n>"` (the n-th transient
//! event after it); they are stored compactly beside the events (see [`rows`]), so a subscriber can
//! resume after any of them and still get every delta it missed.

mod hub;
pub mod payloads;
mod ring;
mod rows;
pub mod subscribe;
#[cfg(test)]
mod tests;
mod writer;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::core::run::lifecycle::EventType;
pub use hub::{Backlog, EventHub, RingConfig, Visible};
pub use rows::{insert_events, read_events, read_stream};
pub use subscribe::TaskSubscription;
pub(crate) use writer::{CURSOR_KIND, StepRecord, UsageRow, insert_usage};

/// Event types that are streamed live but never stored (as the cloud).
pub fn is_transient(event_type: &str) -> bool {
    // Four comparisons, not a parse: this runs for every event every subscriber receives.
    EventType::TRANSIENT
        .iter()
        .any(|t| t.as_str() == event_type)
}

/// One event, in the cloud's shape (see docs/upstream.md#streaming-and-events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskEvent {
    /// The task's workflow id.
    pub workflow_id: String,
    /// `type`: an [`EventType`]'s wire name, e.g. `LLM_OUTPUT`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The agent that emitted it (`orchestrator`, a team member); `None` when none is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Human-readable text (for `LLM_PARTIAL`, the delta).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Structured details, depending on the type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// When it was emitted: RFC 3339 UTC with microseconds.
    pub timestamp: String,
    /// Position in the stored stream, from 1; a transient event carries the last stored one's.
    pub seq: u32,
    /// Transient events only: `"<seq>-<n>"`, their resume id (the cloud's `stream_id`; see
    /// docs/upstream.md#streaming-and-events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
}

/// Where an event stands in its task's stream: stored event `seq` is `(seq, 0)`, the n-th transient
/// event after it is `(seq, n)`. Resume ids name a position; a subscriber gets everything after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamPos {
    pub seq: u32,
    pub n: u32,
}

impl StreamPos {
    pub const START: StreamPos = StreamPos { seq: 0, n: 0 };

    pub fn stored(seq: u32) -> Self {
        Self { seq, n: 0 }
    }

    /// Parses a resume id: a stored seq (`42`) or a transient event's stream id (`42-7`).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        let (seq, n) = match raw.split_once('-') {
            Some((a, b)) if digits(a) && digits(b) => (a, b),
            None if digits(raw) => (raw, "0"),
            _ => return None,
        };
        Some(Self {
            seq: seq.parse().ok()?,
            n: n.parse().ok()?,
        })
    }

    /// The id a client resumes with: the seq for a stored event, `"<seq>-<n>"` otherwise.
    pub fn id(self) -> String {
        if self.n == 0 {
            self.seq.to_string()
        } else {
            format!("{}-{}", self.seq, self.n)
        }
    }
}

impl TaskEvent {
    /// Whether this event is streamed live only, never stored (see [`EventType::TRANSIENT`]).
    pub fn is_transient(&self) -> bool {
        is_transient(&self.event_type)
    }

    /// This event's place in its stream.
    pub fn pos(&self) -> StreamPos {
        self.stream_id
            .as_deref()
            .and_then(StreamPos::parse)
            .unwrap_or(StreamPos::stored(self.seq))
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
#[derive(Debug, Clone, PartialEq)]
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

    /// The event, numbered. Every event the engine emits becomes one here (the hub's queue, a
    /// task's end), so debug builds check each payload against its declared type here: a test
    /// that runs an emission site fails on a payload that drifted from [`payloads`].
    pub(crate) fn into_event(
        self,
        workflow_id: &str,
        seq: u32,
        stream_id: Option<String>,
        timestamp: String,
    ) -> TaskEvent {
        #[cfg(debug_assertions)]
        if let Err(e) = payloads::check(self.event_type, self.payload.as_ref()) {
            panic!("event payload does not match its declared type: {e}");
        }
        TaskEvent {
            workflow_id: workflow_id.to_string(),
            event_type: self.event_type.as_str().to_string(),
            agent_id: self.agent_id,
            message: self.message,
            payload: self.payload,
            timestamp,
            seq,
            stream_id,
        }
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
