//! OpenAI chat completions, streamed: request body and chunk parser (content and tool-call deltas,
//! the final usage chunk).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ChatRequest, ChatResponse, LlmError, Role, ToolCall, Usage, malformed};

/// More parallel tool calls than this in one answer is treated as a broken stream.
const MAX_TOOL_CALLS: usize = 128;

pub(super) fn request_body(req: &ChatRequest) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| match m.role {
            Role::Assistant if !m.tool_calls.is_empty() => json!({
                "role": "assistant",
                "content": if m.content.is_empty() { Value::Null } else { json!(m.content) },
                "tool_calls": m.tool_calls.iter().map(|c| json!({
                    "id": c.id, "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })).collect::<Vec<_>>(),
            }),
            Role::Tool => json!({
                "role": "tool",
                "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
                "content": m.content,
            }),
            role => json!({"role": role, "content": m.content}),
        })
        .collect();
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .collect();
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(n) = req.max_tokens {
        body["max_tokens"] = json!(n);
    }
    if req.json_mode {
        body["response_format"] = json!({"type": "json_object"});
    }
    body
}

#[derive(Deserialize)]
struct Chunk {
    model: Option<String>,
    choices: Option<Vec<Choice>>,
    usage: Option<ChunkUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    index: Option<usize>,
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    tool_calls: Option<Vec<ToolDelta>>,
}

#[derive(Deserialize)]
struct ToolDelta {
    index: Option<usize>,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

pub(super) struct Parser {
    response: ChatResponse,
    done: bool,
}

impl Parser {
    pub fn new(model: &str) -> Self {
        Self {
            response: ChatResponse {
                model: model.to_string(),
                ..Default::default()
            },
            done: false,
        }
    }

    /// Handles one SSE event's data; returns true at `[DONE]`.
    pub fn feed(
        &mut self,
        data: &str,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, LlmError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| malformed("OpenAI", &e))?;
        if let Some(err) = chunk.error {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the provider reported an error mid-stream");
            return Err(LlmError::Stream(super::truncate(msg)));
        }
        if let Some(m) = chunk.model.filter(|m| !m.is_empty()) {
            self.response.model = m;
        }
        let choices = chunk.choices.unwrap_or_default();
        for choice in choices.into_iter().filter(|c| c.index.unwrap_or(0) == 0) {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    on_delta(&text);
                    self.response.text.push_str(&text);
                }
                for t in delta.tool_calls.unwrap_or_default() {
                    let index = t.index.unwrap_or(0);
                    if index >= MAX_TOOL_CALLS {
                        return Err(LlmError::Stream(format!(
                            "tool call index {index} is out of range"
                        )));
                    }
                    let calls = &mut self.response.tool_calls;
                    while calls.len() <= index {
                        calls.push(ToolCall {
                            id: String::new(),
                            name: String::new(),
                            arguments: String::new(),
                        });
                    }
                    let call = &mut calls[index];
                    if let Some(id) = t.id.filter(|id| !id.is_empty()) {
                        call.id = id;
                    }
                    if let Some(f) = t.function {
                        // The name arrives with the first delta of a call; some servers repeat it
                        // whole in later deltas, which must not double it.
                        if let Some(n) = f.name.filter(|n| !n.is_empty() && *n != call.name) {
                            call.name.push_str(&n);
                        }
                        if let Some(a) = f.arguments {
                            call.arguments.push_str(&a);
                        }
                    }
                }
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.response.finish_reason = Some(reason);
            }
        }
        if let Some(u) = chunk.usage {
            let input = u.prompt_tokens.unwrap_or(0);
            let output = u.completion_tokens.unwrap_or(0);
            self.response.usage = Usage {
                input_tokens: input,
                output_tokens: output,
                total_tokens: u.total_tokens.filter(|t| *t > 0).unwrap_or(input + output),
                cache_read_tokens: u
                    .prompt_tokens_details
                    .and_then(|d| d.cached_tokens)
                    .unwrap_or(0),
                cache_creation_tokens: 0,
            };
        }
        Ok(false)
    }

    pub fn finish(mut self) -> Result<ChatResponse, LlmError> {
        if !self.done && self.response.finish_reason.is_none() {
            return Err(LlmError::Stream(
                "the stream ended before the answer was complete".into(),
            ));
        }
        for (i, call) in self.response.tool_calls.iter_mut().enumerate() {
            if call.id.is_empty() {
                call.id = format!("call_{i}");
            }
        }
        self.response.tool_calls.retain(|c| !c.name.is_empty());
        Ok(self.response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(chunks: &[&str]) -> (Result<ChatResponse, LlmError>, Vec<String>) {
        let mut p = Parser::new("asked");
        let mut deltas = Vec::new();
        let mut on_delta = |d: &str| deltas.push(d.to_string());
        for c in chunks {
            if let Err(e) = p.feed(c, &mut on_delta) {
                return (Err(e), deltas);
            }
        }
        (p.finish(), deltas)
    }

    #[test]
    fn tolerates_nulls_repeated_names_and_missing_ids() {
        let (r, deltas) = feed_all(&[
            r#"{"model":null,"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":null},"finish_reason":null}],"usage":null}"#,
            r#"{"choices":[{"delta":{"content":"hi"}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"calc","arguments":"{\"a\""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"","function":{"name":"calc","arguments":":1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":null}}"#,
            "[DONE]",
        ]);
        let r = r.unwrap();
        assert_eq!(deltas, ["hi"]);
        assert_eq!(r.model, "asked");
        assert_eq!(
            r.tool_calls,
            [ToolCall {
                id: "call_0".into(),
                name: "calc".into(),
                arguments: r#"{"a":1}"#.into()
            }]
        );
        assert_eq!(r.usage.input_tokens, 3);
        assert_eq!(r.usage.total_tokens, 3);
    }

    #[test]
    fn absurd_tool_indexes_and_truncated_streams_are_errors() {
        let (r, _) = feed_all(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":4000000000,"function":{"name":"x"}}]}}]}"#,
        ]);
        assert!(matches!(r, Err(LlmError::Stream(_))), "{r:?}");
        let (r, deltas) = feed_all(&[r#"{"choices":[{"delta":{"content":"par"}}]}"#]);
        assert!(matches!(r, Err(LlmError::Stream(_))), "{r:?}");
        assert_eq!(deltas, ["par"]);
    }
}
