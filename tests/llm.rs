//! Provider clients against a fake provider on 127.0.0.1 that speaks the real wire formats: streamed
//! text and tool calls, usage, retries and Retry-After, auth and request errors, broken streams,
//! cancellation, key redaction; and the offline demo provider.
//!
//! Timings use small backoffs so the file runs in a few seconds; wall-clock bounds are generous
//! guards against hangs, never performance assertions.

#[path = "support/fake_provider.rs"]
mod fake_provider;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_provider::{FakeProvider, FakeUsage, Reply, Scripted};
use serde_json::json;
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::llm::{
    ChatMessage, ChatRequest, ChatResponse, LlmError, ProviderClient, ProviderTarget, RetryPolicy,
    Role, Timeouts, ToolCall, ToolSpec,
};
use tauri_plugin_shannon::core::settings::providers::ProviderProtocol;
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk-test-SUPERSECRET-0123456789abcdef";
/// Upper bound for anything that should be prompt; only there so a bug fails instead of hanging.
const HANG_GUARD: Duration = Duration::from_secs(10);

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    }
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        first_byte: Duration::from_secs(5),
        idle_between_chunks: Duration::from_secs(5),
    }
}

fn target(fake: &FakeProvider, protocol: ProviderProtocol, key: Option<&str>) -> ProviderTarget {
    ProviderTarget {
        provider: match protocol {
            ProviderProtocol::Anthropic => "anthropic".into(),
            _ => "openai".into(),
        },
        protocol,
        base_url: fake.base_url(),
        api_key: key.map(SecretString::new),
        retry: fast_retry(4),
        timeouts: timeouts(),
    }
}

fn client(fake: &FakeProvider, protocol: ProviderProtocol) -> ProviderClient {
    ProviderClient::new(target(fake, protocol, Some(KEY))).unwrap()
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        messages: vec![
            ChatMessage::new(Role::System, "Be brief."),
            ChatMessage::new(Role::User, "Say hello."),
        ],
        tools: Vec::new(),
        temperature: None,
        max_tokens: None,
        json_mode: false,
    }
}

/// Runs one call, collecting deltas; bounded by the hang guard.
async fn run(
    client: &ProviderClient,
    req: &ChatRequest,
    cancel: &CancellationToken,
) -> (Result<ChatResponse, LlmError>, Vec<String>) {
    let mut deltas = Vec::new();
    let result = tokio::time::timeout(
        HANG_GUARD,
        client.stream_chat(req, &mut |d: &str| deltas.push(d.to_string()), cancel),
    )
    .await
    .expect("the call hung");
    (result, deltas)
}

async fn call(client: &ProviderClient) -> (Result<ChatResponse, LlmError>, Vec<String>) {
    run(client, &request(), &CancellationToken::new()).await
}

fn assert_no_key(err: &LlmError) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(KEY), "the key leaked: {text}");
        assert!(!text.contains("SUPERSECRET"), "the key leaked: {text}");
    }
}

/// Declares `mod $name { openai, anthropic }` tests running `$name(protocol)`.
macro_rules! both_protocols {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use tauri_plugin_shannon::core::settings::providers::ProviderProtocol;

            #[tokio::test]
            async fn openai() {
                super::$name(ProviderProtocol::OpenaiCompatible).await
            }

            #[tokio::test]
            async fn anthropic() {
                super::$name(ProviderProtocol::Anthropic).await
            }
        }
    )*};
}

both_protocols!(
    streams_text_and_usage,
    assembles_tool_calls_from_deltas,
    maps_the_conversation_to_the_wire_format,
    sends_no_credentials_without_a_key,
    retries_429_honouring_retry_after,
    retries_408_and_5xx_then_succeeds,
    a_storm_of_500s_ends_unavailable,
    unauthorized_is_auth_without_retry,
    other_4xx_is_bad_request_with_the_provider_message,
    malformed_chunk_is_a_stream_error,
    reset_mid_stream_is_a_stream_error_without_retry,
    in_stream_provider_error_is_a_stream_error,
    idle_stream_times_out_without_retry,
    first_byte_timeout_is_retried,
    cancel_mid_stream_returns_promptly,
    cancel_during_backoff_returns_promptly,
    cancel_before_headers_returns_promptly,
    key_never_appears_in_errors,
);

async fn streams_text_and_usage(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Stream(
        Reply::text(["Hel", "lo", ", ", "world", "!"])
            .model("fake-model-2026")
            .usage(FakeUsage::new(42, 5).cached(30, 4)),
    ));
    let (result, deltas) = call(&client(&fake, protocol)).await;
    let r = result.unwrap();
    assert_eq!(deltas, ["Hel", "lo", ", ", "world", "!"]);
    assert_eq!(r.text, "Hello, world!");
    assert!(r.tool_calls.is_empty());
    assert_eq!(r.model, "fake-model-2026");
    assert_eq!(fake.request_count(), 1);
    let u = r.usage;
    assert_eq!(u.output_tokens, 5);
    match protocol {
        ProviderProtocol::Anthropic => {
            assert_eq!(r.finish_reason.as_deref(), Some("end_turn"));
            // Anthropic reports cache reads and writes apart from input_tokens; the client folds
            // them in so input_tokens counts the whole prompt, as OpenAI's prompt_tokens does.
            assert_eq!(u.cache_read_tokens, 30);
            assert_eq!(u.cache_creation_tokens, 4);
            assert_eq!(u.input_tokens, 42 + 30 + 4);
            assert_eq!(u.total_tokens, 42 + 30 + 4 + 5);
        }
        _ => {
            assert_eq!(r.finish_reason.as_deref(), Some("stop"));
            assert_eq!(u.input_tokens, 42);
            assert_eq!(u.cache_read_tokens, 30);
            assert_eq!(u.cache_creation_tokens, 0);
            assert_eq!(u.total_tokens, 47);
        }
    }
}

async fn assembles_tool_calls_from_deltas(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Stream(
        Reply::text(["Let me check."])
            .tool_call(
                "call_a",
                "get_weather",
                [r#"{"ci"#, r#"ty": "Pa"#, r#"ris"}"#],
            )
            .tool_call("call_b", "calculator", [r#"{"expression":"#, r#" "2+2"}"#])
            .usage(FakeUsage::new(10, 20)),
    ));
    let (result, deltas) = call(&client(&fake, protocol)).await;
    let r = result.unwrap();
    assert_eq!(deltas, ["Let me check."]);
    assert_eq!(
        r.tool_calls,
        vec![
            ToolCall {
                id: "call_a".into(),
                name: "get_weather".into(),
                arguments: r#"{"city": "Paris"}"#.into(),
            },
            ToolCall {
                id: "call_b".into(),
                name: "calculator".into(),
                arguments: r#"{"expression": "2+2"}"#.into(),
            },
        ]
    );
    for call in &r.tool_calls {
        serde_json::from_str::<serde_json::Value>(&call.arguments).expect("arguments are JSON");
    }
    let expected = match protocol {
        ProviderProtocol::Anthropic => "tool_use",
        _ => "tool_calls",
    };
    assert_eq!(r.finish_reason.as_deref(), Some(expected));
}

async fn maps_the_conversation_to_the_wire_format(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Stream(Reply::text(["It is sunny."])));
    let mut assistant = ChatMessage::new(Role::Assistant, "");
    assistant.tool_calls = vec![ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments: r#"{"city":"Paris"}"#.into(),
    }];
    let mut tool = ChatMessage::new(Role::Tool, "sunny, 21 C");
    tool.tool_call_id = Some("call_1".into());
    let req = ChatRequest {
        model: "test-model".into(),
        messages: vec![
            ChatMessage::new(Role::System, "You are a weather bot."),
            ChatMessage::new(Role::User, "Weather in Paris?"),
            assistant,
            tool,
        ],
        tools: vec![ToolSpec {
            name: "get_weather".into(),
            description: "Current weather".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }],
        temperature: Some(0.5),
        max_tokens: None,
        json_mode: false,
    };
    let (result, _) = run(&client(&fake, protocol), &req, &CancellationToken::new()).await;
    assert_eq!(result.unwrap().text, "It is sunny.");
    let sent = &fake.requests()[0];
    let b = &sent.body;
    assert_eq!(sent.method, "POST");
    assert_eq!(b["model"], "test-model");
    assert_eq!(b["stream"], true);
    assert_eq!(b["temperature"], 0.5);
    assert_eq!(sent.header("content-type"), Some("application/json"));
    match protocol {
        ProviderProtocol::Anthropic => {
            assert_eq!(sent.path, "/v1/messages");
            assert_eq!(sent.header("x-api-key"), Some(KEY));
            assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
            assert_eq!(sent.header("authorization"), None);
            assert_eq!(b["system"], "You are a weather bot.");
            assert_eq!(b["max_tokens"], 4096, "Anthropic requires max_tokens");
            let m = b["messages"].as_array().unwrap();
            assert_eq!(m.len(), 3, "{m:?}");
            assert_eq!(
                m[0],
                json!({"role": "user", "content": "Weather in Paris?"})
            );
            assert_eq!(m[1]["role"], "assistant");
            assert_eq!(
                m[1]["content"][0],
                json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}})
            );
            assert_eq!(m[2]["role"], "user");
            assert_eq!(
                m[2]["content"][0],
                json!({"type": "tool_result", "tool_use_id": "call_1", "content": "sunny, 21 C"})
            );
            assert_eq!(b["tools"][0]["name"], "get_weather");
            assert_eq!(b["tools"][0]["input_schema"]["type"], "object");
        }
        _ => {
            assert_eq!(sent.path, "/chat/completions");
            assert_eq!(
                sent.header("authorization"),
                Some(&*format!("Bearer {KEY}"))
            );
            assert_eq!(sent.header("x-api-key"), None);
            assert_eq!(b["stream_options"]["include_usage"], true);
            assert!(b.get("max_tokens").is_none());
            let m = b["messages"].as_array().unwrap();
            assert_eq!(m.len(), 4);
            assert_eq!(
                m[0],
                json!({"role": "system", "content": "You are a weather bot."})
            );
            assert_eq!(
                m[1],
                json!({"role": "user", "content": "Weather in Paris?"})
            );
            assert_eq!(m[2]["role"], "assistant");
            assert_eq!(
                m[2]["tool_calls"][0],
                json!({"id": "call_1", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}})
            );
            assert_eq!(
                m[3],
                json!({"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"})
            );
            assert_eq!(b["tools"][0]["type"], "function");
            assert_eq!(b["tools"][0]["function"]["name"], "get_weather");
            assert_eq!(b["tools"][0]["function"]["parameters"]["type"], "object");
        }
    }

    // An explicit max_tokens is passed through.
    fake.push(Scripted::Stream(Reply::text(["ok"])));
    let req = ChatRequest {
        max_tokens: Some(77),
        ..request()
    };
    run(&client(&fake, protocol), &req, &CancellationToken::new())
        .await
        .0
        .unwrap();
    assert_eq!(fake.requests()[1].body["max_tokens"], 77);

    // JSON mode (the planner's call): OpenAI's response_format, an instruction on Anthropic.
    fake.push(Scripted::Stream(Reply::text(["{}"])));
    let req = ChatRequest {
        json_mode: true,
        ..request()
    };
    run(&client(&fake, protocol), &req, &CancellationToken::new())
        .await
        .0
        .unwrap();
    let b = &fake.requests()[2].body;
    match protocol {
        ProviderProtocol::Anthropic => {
            assert!(
                b["system"].as_str().unwrap().contains("one JSON object"),
                "{b}"
            );
            assert!(b.get("response_format").is_none());
        }
        _ => assert_eq!(b["response_format"], json!({"type": "json_object"})),
    }
}

async fn sends_no_credentials_without_a_key(protocol: ProviderProtocol) {
    // Local servers (Ollama, LM Studio) need no key: no auth header at all.
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Stream(Reply::text(["hi"])));
    let c = ProviderClient::new(target(&fake, protocol, None)).unwrap();
    assert_eq!(call(&c).await.0.unwrap().text, "hi");
    let sent = &fake.requests()[0];
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.header("x-api-key"), None);
}

async fn retries_429_honouring_retry_after(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Status(429, Some("1".into())))
        .push(Scripted::Stream(Reply::text(["after", " waiting"])));
    let mut t = target(&fake, protocol, Some(KEY));
    // The backoff alone would wait ~1 ms: only Retry-After explains a wait of about a second.
    t.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_secs(5),
    };
    let c = ProviderClient::new(t).unwrap();
    let started = Instant::now();
    let (result, deltas) = call(&c).await;
    assert_eq!(result.unwrap().text, "after waiting");
    assert_eq!(deltas, ["after", " waiting"]);
    assert_eq!(fake.request_count(), 2, "one retry");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 was not honoured ({:?})",
        started.elapsed()
    );

    // A Retry-After beyond max_delay is capped (here at 50 ms, not a minute).
    fake.push(Scripted::Status(429, Some("60".into())))
        .push(Scripted::Stream(Reply::text(["capped"])));
    let (result, _) = call(&client(&fake, protocol)).await;
    assert_eq!(result.unwrap().text, "capped");
    assert_eq!(fake.request_count(), 4);
}

async fn retries_408_and_5xx_then_succeeds(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Status(503, None))
        .push(Scripted::Status(408, None))
        .push(Scripted::Status(502, None))
        .push(Scripted::Stream(Reply::text(["finally"])));
    let (result, _) = call(&client(&fake, protocol)).await;
    assert_eq!(result.unwrap().text, "finally");
    assert_eq!(fake.request_count(), 4);
}

async fn a_storm_of_500s_ends_unavailable(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.set_fallback(Scripted::Status(500, None));
    let (result, deltas) = call(&client(&fake, protocol)).await;
    match result.unwrap_err() {
        LlmError::Unavailable { attempts, message } => {
            assert_eq!(attempts, 4);
            assert!(message.contains("500"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(deltas.is_empty());
    assert_eq!(fake.request_count(), 4, "max_attempts requests, no more");
}

async fn unauthorized_is_auth_without_retry(protocol: ProviderProtocol) {
    for status in [401, 403] {
        let fake = FakeProvider::start().await;
        fake.set_fallback(Scripted::Status(status, None));
        let err = call(&client(&fake, protocol)).await.0.unwrap_err();
        assert_eq!(err, LlmError::Auth { status });
        assert_eq!(fake.request_count(), 1, "{status} is not retried");
        assert_no_key(&err);
    }
}

async fn other_4xx_is_bad_request_with_the_provider_message(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    let body = match protocol {
        ProviderProtocol::Anthropic => {
            json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": "model: unknown model 'nope'"}})
        }
        _ => {
            json!({"error": {"message": "model: unknown model 'nope'", "type": "invalid_request_error"}})
        }
    };
    fake.set_fallback(Scripted::StatusWithBody(400, body.to_string()));
    let err = call(&client(&fake, protocol)).await.0.unwrap_err();
    assert_eq!(
        err,
        LlmError::BadRequest {
            status: 400,
            message: "model: unknown model 'nope'".into()
        }
    );
    assert_eq!(fake.request_count(), 1, "4xx is not retried");

    // A huge message is cut to 500 characters.
    let fake = FakeProvider::start().await;
    fake.set_fallback(Scripted::StatusWithBody(422, "e".repeat(5000)));
    match call(&client(&fake, protocol)).await.0.unwrap_err() {
        LlmError::BadRequest { status, message } => {
            assert_eq!(status, 422);
            assert_eq!(message.chars().count(), 500);
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
}

async fn malformed_chunk_is_a_stream_error(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Malformed)
        .set_fallback(Scripted::Stream(Reply::text(["must not be requested"])));
    let (result, deltas) = call(&client(&fake, protocol)).await;
    match result.unwrap_err() {
        LlmError::Stream(msg) => {
            assert!(msg.contains("malformed"), "{msg}");
            assert!(msg.len() < 200, "a short description, not the chunk: {msg}");
            assert!(
                !msg.contains("content_block_delta") && !msg.contains("choices"),
                "{msg}"
            );
        }
        other => panic!("expected Stream, got {other:?}"),
    }
    assert_eq!(
        deltas,
        ["ok"],
        "the delta before the bad chunk was delivered"
    );
    assert_eq!(fake.request_count(), 1);
}

async fn reset_mid_stream_is_a_stream_error_without_retry(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.push(Scripted::ResetMidStream(Reply::text([
        "partial", " answer",
    ])))
    .set_fallback(Scripted::Stream(Reply::text(["must not be requested"])));
    let (result, deltas) = call(&client(&fake, protocol)).await;
    assert!(
        matches!(result, Err(LlmError::Stream(_))),
        "expected Stream, got {result:?}"
    );
    assert_eq!(deltas, ["partial", " answer"]);
    assert_eq!(fake.request_count(), 1, "a started stream is never retried");
}

async fn in_stream_provider_error_is_a_stream_error(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.push(Scripted::StreamError(
        Reply::text(["so far"]),
        "Overloaded".into(),
    ));
    let (result, deltas) = call(&client(&fake, protocol)).await;
    match result.unwrap_err() {
        LlmError::Stream(msg) => assert!(msg.contains("Overloaded"), "{msg}"),
        other => panic!("expected Stream, got {other:?}"),
    }
    assert_eq!(deltas, ["so far"]);
    assert_eq!(fake.request_count(), 1);
}

async fn idle_stream_times_out_without_retry(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Slow(
        Reply::text(["a", "b"]),
        Duration::from_secs(30),
    ));
    let mut t = target(&fake, protocol, Some(KEY));
    t.timeouts.idle_between_chunks = Duration::from_millis(150);
    let c = ProviderClient::new(t).unwrap();
    let (result, deltas) = call(&c).await;
    match result.unwrap_err() {
        LlmError::Stream(msg) => assert!(msg.contains("sent nothing"), "{msg}"),
        other => panic!("expected Stream, got {other:?}"),
    }
    assert!(deltas.is_empty());
    assert_eq!(fake.request_count(), 1);
}

async fn first_byte_timeout_is_retried(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Delayed(
        Duration::from_secs(30),
        Box::new(Scripted::Stream(Reply::text(["too late"]))),
    ))
    .push(Scripted::Stream(Reply::text(["in time"])));
    let mut t = target(&fake, protocol, Some(KEY));
    t.timeouts.first_byte = Duration::from_millis(750);
    let c = ProviderClient::new(t.clone()).unwrap();
    assert_eq!(call(&c).await.0.unwrap().text, "in time");
    assert_eq!(fake.request_count(), 2);

    // Every attempt timing out ends Unavailable.
    let fake = FakeProvider::start().await;
    fake.set_fallback(Scripted::Delayed(
        Duration::from_secs(30),
        Box::new(Scripted::Status(500, None)),
    ));
    t.base_url = fake.base_url();
    t.retry = fast_retry(2);
    let c = ProviderClient::new(t).unwrap();
    match call(&c).await.0.unwrap_err() {
        LlmError::Unavailable { attempts, .. } => assert_eq!(attempts, 2),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// Runs a call and cancels it once the first delta arrived (or, with `after`, after a pause).
async fn call_and_cancel(
    client: &ProviderClient,
    after: Option<Duration>,
) -> (Result<ChatResponse, LlmError>, Vec<String>) {
    let cancel = CancellationToken::new();
    let deltas = Arc::new(Mutex::new(Vec::new()));
    let mut on_delta = {
        let (deltas, cancel) = (deltas.clone(), cancel.clone());
        move |d: &str| {
            deltas.lock().unwrap().push(d.to_string());
            if after.is_none() {
                cancel.cancel();
            }
        }
    };
    if let Some(after) = after {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            cancel.cancel();
        });
    }
    let result = tokio::time::timeout(
        HANG_GUARD,
        client.stream_chat(&request(), &mut on_delta, &cancel),
    )
    .await
    .expect("cancellation did not stop the call");
    let deltas = deltas.lock().unwrap().clone();
    (result, deltas)
}

async fn cancel_mid_stream_returns_promptly(protocol: ProviderProtocol) {
    // The headers arrive at once, then 20 chunks a minute apart: only cancellation can end this
    // call within the hang guard.
    let fake = FakeProvider::start().await;
    let chunks: Vec<String> = (0..20).map(|i| format!("w{i} ")).collect();
    fake.push(Scripted::Slow(Reply::text(chunks), Duration::from_secs(60)));
    let c = client(&fake, protocol);
    let (result, deltas) = call_and_cancel(&c, Some(Duration::from_millis(200))).await;
    assert_eq!(result.unwrap_err(), LlmError::Cancelled);
    assert!(deltas.is_empty());

    // Cancel from inside the delta callback, with more chunks still to come: the delta reaching the
    // callback before the stream ends also shows deltas are not buffered.
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Stream(
        Reply::text(["one", "two", "three"]).delay(Duration::from_millis(300)),
    ));
    let c = client(&fake, protocol);
    let (result, deltas) = call_and_cancel(&c, None).await;
    assert_eq!(result.unwrap_err(), LlmError::Cancelled);
    assert_eq!(deltas, ["one"], "no delta after the cancellation");
    assert_eq!(fake.request_count(), 1);
}

async fn cancel_during_backoff_returns_promptly(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.set_fallback(Scripted::Status(429, Some("60".into())));
    let mut t = target(&fake, protocol, Some(KEY));
    t.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(60),
    };
    let c = ProviderClient::new(t).unwrap();
    let (result, _) = call_and_cancel(&c, Some(Duration::from_millis(200))).await;
    assert_eq!(result.unwrap_err(), LlmError::Cancelled);
    assert_eq!(fake.request_count(), 1, "cancelled while waiting to retry");
}

async fn cancel_before_headers_returns_promptly(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Delayed(
        Duration::from_secs(60),
        Box::new(Scripted::Stream(Reply::text(["never"]))),
    ));
    let mut t = target(&fake, protocol, Some(KEY));
    t.timeouts.first_byte = Duration::from_secs(120);
    let c = ProviderClient::new(t).unwrap();
    let (result, deltas) = call_and_cancel(&c, Some(Duration::from_millis(200))).await;
    assert_eq!(result.unwrap_err(), LlmError::Cancelled);
    assert!(deltas.is_empty());

    // A token cancelled before the call starts sends nothing.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let before = fake.request_count();
    let (result, _) = run(&c, &request(), &cancel).await;
    assert_eq!(result.unwrap_err(), LlmError::Cancelled);
    assert_eq!(fake.request_count(), before);
}

async fn key_never_appears_in_errors(protocol: ProviderProtocol) {
    let fake = FakeProvider::start().await;
    // A provider that echoes the key back in its error message.
    fake.push(Scripted::StatusWithBody(
        400,
        json!({"error": {"message": format!("Incorrect API key provided: {KEY}")}}).to_string(),
    ))
    .push(Scripted::StreamError(
        Reply::text(["x"]),
        format!("key {KEY} exhausted"),
    ))
    .push(Scripted::Status(401, None))
    .push(Scripted::Malformed)
    .push(Scripted::ResetMidStream(Reply::text(["y"])));
    let c = client(&fake, protocol);
    for _ in 0..5 {
        let err = call(&c).await.0.unwrap_err();
        assert_no_key(&err);
    }
    let first = call_err_text(&fake, protocol).await;
    assert!(first.contains("***"), "{first}");

    // Connection errors and timeouts too.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut t = target(&fake, protocol, Some(KEY));
    t.base_url = format!("http://{closed}");
    t.retry = fast_retry(2);
    let c = ProviderClient::new(t.clone()).unwrap();
    let err = call(&c).await.0.unwrap_err();
    assert!(
        matches!(err, LlmError::Unavailable { attempts: 2, .. }),
        "{err:?}"
    );
    assert_no_key(&err);

    // Debug output of the client and its target.
    for text in [format!("{c:?}"), format!("{t:?}")] {
        assert!(!text.contains("SUPERSECRET"), "{text}");
    }
}

async fn call_err_text(fake: &FakeProvider, protocol: ProviderProtocol) -> String {
    fake.push(Scripted::StatusWithBody(
        400,
        json!({"error": {"message": format!("bad key {KEY}")}}).to_string(),
    ));
    call(&client(fake, protocol))
        .await
        .0
        .unwrap_err()
        .to_string()
}

// ---- the offline demo provider ----

fn demo(delay: Duration) -> ProviderClient {
    ProviderClient::new(ProviderTarget::offline_demo())
        .unwrap()
        .with_demo_delay(delay)
}

#[tokio::test]
async fn demo_streams_a_labelled_deterministic_answer() {
    let c = demo(Duration::ZERO);
    let mut req = request();
    req.messages.push(ChatMessage::new(
        Role::User,
        "What is   the capital of France?",
    ));
    let (first, deltas) = run(&c, &req, &CancellationToken::new()).await;
    let first = first.unwrap();
    assert!(deltas.len() > 10, "streamed word by word: {deltas:?}");
    assert_eq!(deltas.concat(), first.text);
    assert!(
        first.text.starts_with("[Offline demo provider"),
        "{}",
        first.text
    );
    assert!(first.text.contains("no model was called"));
    assert!(first.text.contains("What is the capital of France?"));
    assert_eq!(first.model, "shannon-demo");
    assert!(first.tool_calls.is_empty());
    assert_eq!(first.finish_reason.as_deref(), Some("stop"));
    let words = |s: &str| s.split_whitespace().count() as u64;
    let input: u64 = req.messages.iter().map(|m| words(&m.content)).sum();
    assert_eq!(first.usage.input_tokens, input);
    assert_eq!(first.usage.output_tokens, words(&first.text));
    assert_eq!(first.usage.total_tokens, input + words(&first.text));

    // Same input, same answer; a different question, a different answer.
    let (again, again_deltas) = run(&c, &req, &CancellationToken::new()).await;
    assert_eq!(again.unwrap(), first);
    assert_eq!(again_deltas, deltas);
    let (other, _) = run(&c, &request(), &CancellationToken::new()).await;
    assert_ne!(other.unwrap().text, first.text);
}

#[tokio::test]
async fn demo_needs_no_key_and_ignores_tools() {
    let c = demo(Duration::ZERO);
    let req = ChatRequest {
        tools: vec![ToolSpec {
            name: "calculator".into(),
            description: "math".into(),
            parameters: json!({"type": "object"}),
        }],
        ..request()
    };
    let r = run(&c, &req, &CancellationToken::new()).await.0.unwrap();
    assert!(r.tool_calls.is_empty());
    assert!(r.text.contains("Say hello."));
}

#[tokio::test]
async fn demo_honours_cancellation_between_words() {
    // A 50 ms delay per word: the answer would take seconds; cancel after the first word.
    let c = demo(Duration::from_millis(50));
    let (result, deltas) = call_and_cancel(&c, None).await;
    assert_eq!(result.unwrap_err(), LlmError::Cancelled);
    assert_eq!(deltas.len(), 1);

    // Also while waiting between words, cancelled from outside.
    let c = demo(Duration::from_secs(60));
    let (result, deltas) = call_and_cancel(&c, Some(Duration::from_millis(100))).await;
    assert_eq!(result.unwrap_err(), LlmError::Cancelled);
    assert!(deltas.is_empty());
}
