//! The offline demo provider: a deterministic answer streamed word by word, with no key and no
//! network, labelled as such in its text so nobody mistakes it for a model's answer.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{ChatRequest, ChatResponse, LlmError, Role, Usage};

pub const DEMO_MODEL: &str = "shannon-demo";

/// The canned answer for a request (deterministic: same conversation, same text).
pub fn answer(req: &ChatRequest) -> String {
    let question = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let earlier = req
        .messages
        .iter()
        .filter(|m| matches!(m.role, Role::User | Role::Assistant))
        .count()
        .saturating_sub(1);
    let memory = match earlier {
        0 => String::new(),
        1 => " I was given 1 earlier message of this conversation.".to_string(),
        n => format!(" I was given {n} earlier messages of this conversation."),
    };
    format!(
        "[Offline demo provider: no model was called] You asked: \u{201c}{question}\u{201d}.{memory} \
         This is a canned answer, streamed word by word so you can try the app without an API key. \
         Add a provider key in the settings to get real answers."
    )
}

fn words(n: &str) -> u64 {
    n.split_whitespace().count() as u64
}

pub(super) async fn stream(
    req: &ChatRequest,
    on_delta: &mut (dyn FnMut(&str) + Send),
    cancel: &CancellationToken,
    delay: Duration,
) -> Result<ChatResponse, LlmError> {
    let text = answer(req);
    let mut sent = String::with_capacity(text.len());
    // Each delta is a word with the whitespace that follows it, so the deltas concatenate exactly.
    for piece in text.split_inclusive(' ') {
        if cancel.is_cancelled() {
            return Err(LlmError::Cancelled);
        }
        if !delay.is_zero() {
            tokio::select! {
                _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                _ = tokio::time::sleep(delay) => {}
            }
        }
        on_delta(piece);
        sent.push_str(piece);
    }
    let input: u64 = req.messages.iter().map(|m| words(&m.content)).sum();
    let output = words(&sent);
    Ok(ChatResponse {
        text: sent,
        tool_calls: Vec::new(),
        usage: Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input + output,
            cache_read_tokens: 0,
            cache_creation_tokens: 0,
        },
        model: DEMO_MODEL.to_string(),
        finish_reason: Some("stop".into()),
    })
}
