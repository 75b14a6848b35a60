//! Anthropic Messages API, streamed: request body (system, tool_use and tool_result blocks) and the
//! named-event parser (text and tool-input deltas, usage with cache tokens).

use serde_json::{Value, json};

use super::{ChatRequest, ChatResponse, LlmError, Role, ToolCall, malformed};

/// The `anthropic-version` header value.
pub(super) const API_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; this is used when the request sets none.
pub(super) const DEFAULT_MAX_TOKENS: u32 = 4096;
/// More content blocks than this in one answer is treated as a broken stream.
const MAX_BLOCKS: usize = 256;

pub(super) fn request_body(req: &ChatRequest) -> Value {
    let system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let mut messages: Vec<Value> = Vec::new();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        match m.role {
            Role::Tool => {
                let block = json!({"type": "tool_result", "tool_use_id": m.tool_call_id.clone().unwrap_or_default(), "content": m.content});
                // Consecutive tool results travel in one user message.
                match messages.last_mut() {
                    Some(last) if last["role"] == "user" && last["content"].is_array() => {
                        last["content"].as_array_mut().unwrap().push(block);
                    }
                    _ => messages.push(json!({"role": "user", "content": [block]})),
                }
            }
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.content}));
                }
                if blocks.is_empty() && m.tool_calls.is_empty() {
                    continue; // Anthropic refuses empty content.
                }
                for c in &m.tool_calls {
                    let input: Value =
                        serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({}));
                    blocks.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                    );
                }
                messages.push(json!({"role": "assistant", "content": blocks}));
            }
            _ => messages.push(json!({"role": "user", "content": m.content})),
        }
    }
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": true,
    });
    let mut system = system;
    if req.json_mode {
        system.push("Answer with one JSON object and nothing else: no prose, no code fences.");
    }
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    body
}

enum Block {
    Text,
    Tool(usize),
    Other,
}

pub(super) struct Parser {
    response: ChatResponse,
    blocks: Vec<Block>,
    stopped: bool,
}

impl Parser {
    pub fn new(model: &str) -> Self {
        Self {
            response: ChatResponse {
                model: model.to_string(),
                ..Default::default()
            },
            blocks: Vec::new(),
            stopped: false,
        }
    }

    /// Handles one named SSE event; returns true at `message_stop`.
    pub fn feed(
        &mut self,
        event: &str,
        data: &str,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, LlmError> {
        if data.trim().is_empty() {
            return Ok(false);
        }
        let v: Value = serde_json::from_str(data).map_err(|e| malformed("Anthropic", &e))?;
        let kind = if event.is_empty() {
            v.get("type").and_then(Value::as_str).unwrap_or_default()
        } else {
            event
        };
        let num = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "message_start" => {
                let u = &mut self.response.usage;
                u.input_tokens = num(&v, "/message/usage/input_tokens");
                u.cache_read_tokens = num(&v, "/message/usage/cache_read_input_tokens");
                u.cache_creation_tokens = num(&v, "/message/usage/cache_creation_input_tokens");
                u.output_tokens = num(&v, "/message/usage/output_tokens");
                if let Some(m) = v.pointer("/message/model").and_then(Value::as_str) {
                    self.response.model = m.to_string();
                }
            }
            "content_block_start" => {
                let index = num(&v, "/index") as usize;
                if index >= MAX_BLOCKS {
                    return Err(LlmError::Stream(format!(
                        "content block index {index} is out of range"
                    )));
                }
                let block = match v.pointer("/content_block/type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = v.pointer("/content_block/text").and_then(Value::as_str)
                            && !t.is_empty()
                        {
                            on_delta(t);
                            self.response.text.push_str(t);
                        }
                        Block::Text
                    }
                    Some("tool_use") => {
                        self.response.tool_calls.push(ToolCall {
                            id: v
                                .pointer("/content_block/id")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            name: v
                                .pointer("/content_block/name")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            arguments: String::new(),
                        });
                        Block::Tool(self.response.tool_calls.len() - 1)
                    }
                    _ => Block::Other,
                };
                while self.blocks.len() <= index {
                    self.blocks.push(Block::Other);
                }
                self.blocks[index] = block;
            }
            "content_block_delta" => {
                let index = num(&v, "/index") as usize;
                match (
                    self.blocks.get(index),
                    v.pointer("/delta/type").and_then(Value::as_str),
                ) {
                    (Some(Block::Text), Some("text_delta")) => {
                        if let Some(t) = v.pointer("/delta/text").and_then(Value::as_str) {
                            on_delta(t);
                            self.response.text.push_str(t);
                        }
                    }
                    (Some(Block::Tool(i)), Some("input_json_delta")) => {
                        if let Some(p) = v.pointer("/delta/partial_json").and_then(Value::as_str) {
                            self.response.tool_calls[*i].arguments.push_str(p);
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.response.finish_reason = Some(r.to_string());
                }
                // Cumulative counts; newer API versions repeat the input side here too.
                let u = &mut self.response.usage;
                for (path, field) in [
                    ("/usage/output_tokens", &mut u.output_tokens),
                    ("/usage/input_tokens", &mut u.input_tokens),
                    ("/usage/cache_read_input_tokens", &mut u.cache_read_tokens),
                    (
                        "/usage/cache_creation_input_tokens",
                        &mut u.cache_creation_tokens,
                    ),
                ] {
                    if let Some(n) = v.pointer(path).and_then(Value::as_u64) {
                        *field = n;
                    }
                }
            }
            "message_stop" => {
                self.stopped = true;
                return Ok(true);
            }
            "error" => {
                let kind = v
                    .pointer("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("error");
                let msg = v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("the provider reported an error mid-stream");
                return Err(LlmError::Stream(super::truncate(&format!("{kind}: {msg}"))));
            }
            _ => {} // ping, content_block_stop
        }
        Ok(false)
    }

    pub fn finish(mut self) -> Result<ChatResponse, LlmError> {
        if !self.stopped {
            return Err(LlmError::Stream(
                "the stream ended before the answer was complete".into(),
            ));
        }
        for call in &mut self.response.tool_calls {
            if call.arguments.trim().is_empty() {
                call.arguments = "{}".into();
            }
        }
        // Anthropic counts cached prompt tokens apart from input_tokens; fold them in so input means
        // "all prompt tokens" for every provider (OpenAI's convention), cache counts staying visible.
        let u = &mut self.response.usage;
        u.input_tokens += u.cache_read_tokens + u.cache_creation_tokens;
        u.total_tokens = u.input_tokens + u.output_tokens;
        Ok(self.response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::llm::ChatMessage;

    #[test]
    fn message_delta_usage_overrides_and_empty_tool_input_is_an_object() {
        let mut p = Parser::new("asked");
        let mut sink = |_: &str| {};
        for (event, data) in [
            (
                "message_start",
                r#"{"message":{"model":"claude-x","usage":{"input_tokens":5,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"index":0,"content_block":{"type":"tool_use","id":"tu_1","name":"now","input":{}}}"#,
            ),
            ("content_block_stop", r#"{"index":0}"#),
            (
                "message_delta",
                r#"{"delta":{"stop_reason":"tool_use"},"usage":{"input_tokens":7,"cache_read_input_tokens":2,"output_tokens":9}}"#,
            ),
        ] {
            assert!(!p.feed(event, data, &mut sink).unwrap());
        }
        assert!(
            p.feed("message_stop", r#"{"type":"message_stop"}"#, &mut sink)
                .unwrap()
        );
        let r = p.finish().unwrap();
        assert_eq!(r.model, "claude-x");
        assert_eq!(r.tool_calls[0].arguments, "{}");
        assert_eq!((r.usage.input_tokens, r.usage.cache_read_tokens), (9, 2));
        assert_eq!((r.usage.output_tokens, r.usage.total_tokens), (9, 18));
    }

    #[test]
    fn empty_assistant_turns_are_left_out_and_tool_results_grouped() {
        let mut r1 = ChatMessage::new(Role::Tool, "1");
        r1.tool_call_id = Some("a".into());
        let mut r2 = ChatMessage::new(Role::Tool, "2");
        r2.tool_call_id = Some("b".into());
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![
                ChatMessage::new(Role::User, "q"),
                ChatMessage::new(Role::Assistant, ""),
                r1,
                r2,
            ],
            tools: Vec::new(),
            temperature: None,
            max_tokens: None,
            json_mode: false,
        };
        let body = request_body(&req);
        let m = body["messages"].as_array().unwrap();
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[1]["content"].as_array().unwrap().len(), 2);
        assert!(body.get("system").is_none());
    }
}
