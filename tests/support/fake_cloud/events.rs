//! One workflow's events as the cloud's Redis and Postgres hold them: a single `seq` counter for
//! every published event (partials included), Redis-style stream ids `<ms>-<n>`, a ring trimmed to a
//! small capacity (an older resume point silently skips), the persisted rows (never LLM_PARTIAL or
//! LLM_PROMPT), live subscribers that lose events when slow, and the fake's own emission log.

use std::collections::VecDeque;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

/// An event as the cloud publishes it (contract §5.1).
#[derive(Clone, Debug)]
pub struct CloudEvent {
    pub workflow_id: String,
    pub event_type: String,
    pub agent_id: Option<String>,
    pub message: String,
    pub payload: Option<Value>,
    pub timestamp: DateTime<Utc>,
    pub seq: u64,
    pub stream_id: String,
}

/// What the fake emitted, for a test to compare with what a client received.
#[derive(Clone, Debug, Serialize)]
pub struct Emitted {
    pub seq: u64,
    pub stream_id: String,
    pub event_type: String,
    pub agent_id: Option<String>,
    pub message: String,
    pub payload: Option<Value>,
    /// Live subscribers that did not get it (slow reader, or an injected drop).
    pub dropped_for: u32,
    /// Kept in the persisted rows (`GET /tasks/{id}/events`).
    pub persisted: bool,
}

/// The cloud never writes these to `event_logs`.
pub fn is_persisted(event_type: &str) -> bool {
    !matches!(
        event_type,
        "LLM_PARTIAL" | "LLM_PROMPT" | "HEARTBEAT" | "PING"
    )
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

impl CloudEvent {
    /// The event JSON (§5.1): optional fields left out when empty, as Go's omitempty does.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "workflow_id": self.workflow_id,
            "type": self.event_type,
            "timestamp": rfc3339(self.timestamp),
            "seq": self.seq,
            "stream_id": self.stream_id,
        });
        if let Some(a) = &self.agent_id {
            v["agent_id"] = json!(a);
        }
        if !self.message.is_empty() {
            v["message"] = json!(self.message);
        }
        if let Some(p) = self
            .payload
            .as_ref()
            .filter(|p| p.as_object().is_some_and(|o| !o.is_empty()))
        {
            v["payload"] = p.clone();
        }
        v
    }

    /// The SSE `event:` name and `data:` line, with the cloud's renames (§5.2).
    pub fn sse_name_and_data(&self) -> (String, String) {
        let base = json!({
            "workflow_id": self.workflow_id,
            "agent_id": self.agent_id.clone().unwrap_or_default(),
        });
        let with = |mut v: Value, extra: Value| {
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v.to_string()
        };
        let payload_field = |k: &str| self.payload.as_ref().and_then(|p| p.get(k)).cloned();
        match self.event_type.as_str() {
            "LLM_PARTIAL" => (
                "thread.message.delta".into(),
                with(
                    base,
                    json!({"delta": self.message, "seq": self.seq, "stream_id": self.stream_id}),
                ),
            ),
            "LLM_OUTPUT" => {
                let mut extra =
                    json!({"response": self.message, "seq": self.seq, "stream_id": self.stream_id});
                if let Some(p) = &self.payload {
                    extra["metadata"] = p.clone();
                }
                ("thread.message.completed".into(), with(base, extra))
            }
            "ERROR_OCCURRED" => ("error".into(), self.to_json().to_string()),
            "STREAM_END" => ("done".into(), "[DONE]".into()),
            "WORKFLOW_PAUSING" | "WORKFLOW_RESUMED" | "WORKFLOW_CANCELLING" => (
                self.event_type
                    .replacen("WORKFLOW_", "workflow.", 1)
                    .to_lowercase(),
                with(base, json!({"message": self.message})),
            ),
            "WORKFLOW_PAUSED" => (
                "workflow.paused".into(),
                with(
                    base,
                    json!({"message": self.message, "checkpoint": payload_field("checkpoint")}),
                ),
            ),
            "WORKFLOW_CANCELLED" => (
                "workflow.cancelled".into(),
                with(
                    base,
                    json!({
                        "message": self.message,
                        "checkpoint": payload_field("checkpoint"),
                        "was_paused": payload_field("was_paused").unwrap_or(json!(false)),
                    }),
                ),
            ),
            other => (other.to_string(), self.to_json().to_string()),
        }
    }
}

/// Parses a Redis stream id `<ms>-<n>`.
pub fn parse_stream_id(id: &str) -> Option<(u64, u64)> {
    let (a, b) = id.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Where a subscriber resumes from.
#[derive(Clone, Debug)]
pub enum Resume {
    /// No resume point: replay whatever the ring still holds.
    All,
    /// After a stream id (exclusive).
    AfterStreamId((u64, u64)),
    /// Every retained event with a larger seq.
    AfterSeq(u64),
}

pub struct Subscription {
    pub replay: Vec<CloudEvent>,
    pub live: mpsc::Receiver<CloudEvent>,
    pub ended: watch::Receiver<bool>,
}

pub struct WfStream {
    next_seq: u64,
    last_id: (u64, u64),
    ring: VecDeque<CloudEvent>,
    pub persisted: Vec<CloudEvent>,
    pub log: Vec<Emitted>,
    subscribers: Vec<mpsc::Sender<CloudEvent>>,
    ended: watch::Sender<bool>,
}

impl Default for WfStream {
    fn default() -> Self {
        Self {
            next_seq: 0,
            last_id: (0, 0),
            ring: VecDeque::new(),
            persisted: Vec::new(),
            log: Vec::new(),
            subscribers: Vec::new(),
            ended: watch::channel(false).0,
        }
    }
}

impl WfStream {
    /// Publishes one event: INCR seq, XADD with a fresh id, trim the ring, persist unless it is a
    /// delta or a prompt, fan out without waiting (a full subscriber loses it, as in the cloud).
    /// `drop_live` > 0 drops this event for every live subscriber (an injected slow reader).
    #[allow(clippy::too_many_arguments)]
    pub fn publish(
        &mut self,
        workflow_id: &str,
        event_type: &str,
        agent_id: Option<&str>,
        message: &str,
        payload: Option<Value>,
        ring_capacity: usize,
        drop_live: &mut u32,
    ) -> CloudEvent {
        self.next_seq += 1;
        let now = Utc::now();
        let ms = now.timestamp_millis() as u64;
        self.last_id = if ms > self.last_id.0 {
            (ms, 0)
        } else {
            (self.last_id.0, self.last_id.1 + 1)
        };
        let event = CloudEvent {
            workflow_id: workflow_id.to_string(),
            event_type: event_type.to_string(),
            agent_id: agent_id.map(str::to_string),
            message: message.to_string(),
            payload,
            timestamp: now,
            seq: self.next_seq,
            stream_id: format!("{}-{}", self.last_id.0, self.last_id.1),
        };
        self.ring.push_back(event.clone());
        while self.ring.len() > ring_capacity.max(1) {
            self.ring.pop_front();
        }
        let persisted = is_persisted(event_type);
        if persisted {
            self.persisted.push(event.clone());
        }
        self.subscribers.retain(|s| !s.is_closed());
        let mut dropped = 0;
        let forced = *drop_live > 0 && !self.subscribers.is_empty();
        for sub in &self.subscribers {
            if forced || sub.try_send(event.clone()).is_err() {
                dropped += 1;
            }
        }
        if forced {
            *drop_live -= 1;
        }
        self.log.push(Emitted {
            seq: event.seq,
            stream_id: event.stream_id.clone(),
            event_type: event.event_type.clone(),
            agent_id: event.agent_id.clone(),
            message: event.message.clone(),
            payload: event.payload.clone(),
            dropped_for: dropped,
            persisted,
        });
        event
    }

    /// Snapshot of the ring after `resume` plus a live channel, taken under the same lock as
    /// `publish` so nothing falls between the replay and the live tail.
    pub fn subscribe(&mut self, resume: &Resume, buffer: usize) -> Subscription {
        let replay = self
            .ring
            .iter()
            .filter(|e| match resume {
                Resume::All => true,
                Resume::AfterSeq(n) => e.seq > *n,
                Resume::AfterStreamId(id) => parse_stream_id(&e.stream_id).is_some_and(|x| x > *id),
            })
            .cloned()
            .collect();
        let (tx, live) = mpsc::channel(buffer.max(1));
        self.subscribers.push(tx);
        Subscription {
            replay,
            live,
            ended: self.ended.subscribe(),
        }
    }

    /// The workflow reached a terminal state: streams without STREAM_END close after a linger.
    pub fn mark_ended(&self) {
        self.ended.send_replace(true);
    }

    pub fn has_ended(&self) -> bool {
        *self.ended.borrow()
    }

    pub fn oldest_in_ring(&self) -> Option<u64> {
        self.ring.front().map(|e| e.seq)
    }
}
