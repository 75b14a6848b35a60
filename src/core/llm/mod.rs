//! LLM provider clients: OpenAI-compatible and Anthropic streaming adapters over reqwest (rustls),
//! retries with backoff that honour Retry-After, cancellation that aborts the request in flight, and
//! the offline demo provider.
//!
//! One [`ProviderClient`] serves one provider at one base URL with an optional key. Its
//! [`ProviderClient::stream_chat`] hands every text delta to a callback as it arrives and returns the
//! assembled [`ChatResponse`]. Usage is normalised to OpenAI's convention: `input_tokens` counts every
//! prompt token, cached ones included (`cache_read_tokens` and `cache_creation_tokens` say how many of
//! them were cache reads and writes).

mod anthropic;
pub mod completions;
mod demo;
pub mod models;
mod openai;
mod retry;
mod types;

use std::collections::HashMap;
use std::sync::Once;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

pub use demo::{DEMO_MODEL, answer as demo_answer};
pub use retry::RetryPolicy;
pub use types::*;

use crate::core::crypto::SecretString;
use crate::core::settings::providers::ProviderProtocol;

/// Longest provider error message kept in an [`LlmError`].
const MAX_MESSAGE_CHARS: usize = 500;
/// Most bytes read from an error response body.
const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Timeouts {
    /// TCP + TLS connection set-up.
    pub connect: Duration,
    /// From sending the request until the response headers arrive (retried when exceeded).
    pub first_byte: Duration,
    /// Between two streamed events once the answer has started (not retried).
    pub idle_between_chunks: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            // Reasoning models can think for a long time before the headers of a stream arrive.
            first_byte: Duration::from_secs(120),
            idle_between_chunks: Duration::from_secs(120),
        }
    }
}

/// Where and how to reach one provider. `Debug` shows the key as `SecretString(***)`.
#[derive(Debug, Clone)]
pub struct ProviderTarget {
    /// Catalogue id (`openai`, `anthropic`, `ollama`, …).
    pub provider: String,
    pub protocol: ProviderProtocol,
    /// Endpoint root: `https://api.openai.com/v1`, `https://api.anthropic.com`, `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Sent as a bearer token (OpenAI-compatible) or `x-api-key` (Anthropic) when present.
    pub api_key: Option<SecretString>,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
}

impl ProviderTarget {
    /// A target with the default retry policy and timeouts.
    pub fn new(
        provider: impl Into<String>,
        protocol: ProviderProtocol,
        base_url: impl Into<String>,
        api_key: Option<SecretString>,
    ) -> Self {
        Self {
            provider: provider.into(),
            protocol,
            base_url: base_url.into(),
            api_key,
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
        }
    }

    /// The offline demo provider (no key, no network).
    pub fn offline_demo() -> Self {
        Self::new("demo", ProviderProtocol::OfflineDemo, "", None)
    }
}

/// A streaming chat client for one provider. Cheap to share by reference; the key is never printed.
pub struct ProviderClient {
    target: ProviderTarget,
    /// `None` for the offline demo.
    http: Option<reqwest::Client>,
    /// Per-word delay of the offline demo.
    demo_delay: Duration,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient")
            .field("provider", &self.target.provider)
            .field("protocol", &self.target.protocol)
            .field("base_url", &self.target.base_url)
            .field("api_key", &self.target.api_key.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

static RUSTLS_PROVIDER: Once = Once::new();

/// reqwest is built without a bundled crypto provider: install ring (pure Rust + asm, no cmake) once.
/// An application that installed its own provider first keeps it.
pub(crate) fn install_crypto_provider() {
    RUSTLS_PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// One HTTP client per kind of target, shared by every run: building one reads the system's root
/// certificates (milliseconds per task), and a shared client keeps its connections (and their TLS
/// sessions) to a provider open between tasks instead of a handshake each time.
fn shared_http_client(loopback: bool, connect: Duration) -> Result<reqwest::Client, LlmError> {
    type Clients = std::sync::Mutex<HashMap<(bool, Duration), reqwest::Client>>;
    static CLIENTS: std::sync::OnceLock<Clients> = std::sync::OnceLock::new();
    let clients = CLIENTS.get_or_init(Default::default);
    let key = (loopback, connect);
    if let Some(client) = clients.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(client.clone());
    }
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect)
        .user_agent(concat!("tauri-plugin-shannon/", env!("CARGO_PKG_VERSION")));
    if loopback {
        // A local model server (Ollama, LM Studio, vLLM) is never reached through a proxy.
        builder = builder.no_proxy();
    }
    let client = builder
        .build()
        .map_err(|e| LlmError::Stream(format!("cannot build the HTTP client: {}", describe(&e))))?;
    clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, client.clone());
    Ok(client)
}

impl ProviderClient {
    /// Validates the target and takes its (shared) HTTP client. No request is sent.
    pub fn new(target: ProviderTarget) -> Result<Self, LlmError> {
        let http = if target.protocol == ProviderProtocol::OfflineDemo {
            None
        } else {
            let url =
                reqwest::Url::parse(target.base_url.trim()).map_err(|_| LlmError::BadRequest {
                    status: 0,
                    message: format!(
                        "the base URL configured for {} is not a valid URL",
                        target.provider
                    ),
                })?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(LlmError::BadRequest {
                    status: 0,
                    message: format!(
                        "the base URL configured for {} must be an http:// or https:// URL",
                        target.provider
                    ),
                });
            }
            Some(shared_http_client(
                is_loopback(&url),
                target.timeouts.connect,
            )?)
        };
        Ok(Self {
            target,
            http,
            demo_delay: Duration::from_millis(15),
        })
    }

    /// Sets the offline demo's delay between words (0 in benchmarks and fast tests).
    pub fn with_demo_delay(mut self, delay: Duration) -> Self {
        self.demo_delay = delay;
        self
    }

    /// The catalogue id of the provider.
    pub fn provider(&self) -> &str {
        &self.target.provider
    }

    pub fn protocol(&self) -> ProviderProtocol {
        self.target.protocol
    }

    /// Streams one chat completion: `on_delta` gets every text delta as it arrives; the assembled
    /// answer (text, tool calls, usage, model, finish reason) is returned.
    ///
    /// Failures before the answer starts (429, 408, 5xx, connect errors, first-byte timeouts) are
    /// retried per the target's [`RetryPolicy`]; nothing is retried once the stream has started.
    /// Cancelling `cancel` aborts the request in flight (or the backoff wait) and returns
    /// [`LlmError::Cancelled`].
    pub async fn stream_chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut (dyn FnMut(&str) + Send),
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        if cancel.is_cancelled() {
            return Err(LlmError::Cancelled);
        }
        let result = match self.target.protocol {
            ProviderProtocol::OfflineDemo => {
                demo::stream(req, on_delta, cancel, self.demo_delay).await
            }
            ProviderProtocol::OpenaiCompatible => self.stream_openai(req, on_delta, cancel).await,
            ProviderProtocol::Anthropic => self.stream_anthropic(req, on_delta, cancel).await,
            ProviderProtocol::WebSearch => Err(LlmError::BadRequest {
                status: 0,
                message: format!("{} is a web search API, not a model", self.target.provider),
            }),
        };
        result.map_err(|e| self.scrub(e))
    }

    async fn stream_openai(
        &self,
        req: &ChatRequest,
        on_delta: &mut (dyn FnMut(&str) + Send),
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        let url = self.endpoint("chat/completions");
        let body = openai::request_body(req);
        let resp = self
            .send(cancel, || {
                let mut b = self.http().post(&url).json(&body);
                if let Some(k) = &self.target.api_key {
                    b = b.bearer_auth(k.expose());
                }
                b
            })
            .await?;
        let mut parser = openai::Parser::new(&req.model);
        self.pump(resp, cancel, |_, data| parser.feed(data, on_delta))
            .await?;
        parser.finish()
    }

    async fn stream_anthropic(
        &self,
        req: &ChatRequest,
        on_delta: &mut (dyn FnMut(&str) + Send),
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        let url = self.endpoint("v1/messages");
        let body = anthropic::request_body(req);
        let resp = self
            .send(cancel, || {
                let mut b = self
                    .http()
                    .post(&url)
                    .header("anthropic-version", anthropic::API_VERSION)
                    .json(&body);
                if let Some(k) = &self.target.api_key {
                    b = b.header("x-api-key", k.expose());
                }
                b
            })
            .await?;
        let mut parser = anthropic::Parser::new(&req.model);
        self.pump(resp, cancel, |event, data| {
            parser.feed(event, data, on_delta)
        })
        .await?;
        parser.finish()
    }

    fn endpoint(&self, path: &str) -> String {
        format!(
            "{}/{path}",
            self.target.base_url.trim().trim_end_matches('/')
        )
    }

    fn http(&self) -> &reqwest::Client {
        self.http
            .as_ref()
            .expect("network providers have an HTTP client")
    }

    /// Sends with retries until a 2xx response's headers arrive.
    async fn send(
        &self,
        cancel: &CancellationToken,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, LlmError> {
        let policy = &self.target.retry;
        let max_attempts = policy.max_attempts.max(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sent = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                r = tokio::time::timeout(self.target.timeouts.first_byte, build().send()) => r,
            };
            let (message, retry_after) = match sent {
                Err(_) => (
                    format!(
                        "no response within {} ms",
                        self.target.timeouts.first_byte.as_millis()
                    ),
                    None,
                ),
                Ok(Err(e)) if e.is_builder() => {
                    return Err(LlmError::BadRequest {
                        status: 0,
                        message: format!("cannot build the request: {}", describe(&e)),
                    });
                }
                Ok(Err(e)) => (describe(&e), None),
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16();
                    match status {
                        200..=299 => return Ok(resp),
                        401 | 403 => return Err(LlmError::Auth { status }),
                        s if retry::retryable_status(s) => {
                            let after = retry::retry_after(resp.headers());
                            let reason = resp.status().canonical_reason().unwrap_or("error");
                            (format!("HTTP {status} {reason}"), after)
                        }
                        _ => {
                            let text = tokio::select! {
                                biased;
                                _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                                t = tokio::time::timeout(
                                    self.target.timeouts.idle_between_chunks,
                                    read_error_body(resp),
                                ) => t.unwrap_or_default(),
                            };
                            return Err(LlmError::BadRequest {
                                status,
                                message: provider_message(&text),
                            });
                        }
                    }
                }
            };
            if attempt >= max_attempts {
                return Err(LlmError::Unavailable {
                    attempts: attempt,
                    message,
                });
            }
            let delay = policy.delay(attempt, retry_after);
            tracing::debug!(
                provider = %self.target.provider,
                attempt,
                delay_ms = delay.as_millis() as u64,
                %message,
                "retrying a provider call"
            );
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Reads the SSE body and hands each event (name, data) to `feed` until it reports the end or
    /// the body ends. Dropping the response on return closes the connection.
    async fn pump(
        &self,
        resp: reqwest::Response,
        cancel: &CancellationToken,
        mut feed: impl FnMut(&str, &str) -> Result<bool, LlmError>,
    ) -> Result<(), LlmError> {
        use eventsource_stream::{EventStreamError, Eventsource};
        let idle = self.target.timeouts.idle_between_chunks;
        let mut events = resp.bytes_stream().eventsource();
        loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                n = tokio::time::timeout(idle, events.next()) => n,
            };
            match next {
                Err(_) => {
                    return Err(LlmError::Stream(format!(
                        "the provider sent nothing for {} ms",
                        idle.as_millis()
                    )));
                }
                Ok(None) => return Ok(()),
                Ok(Some(Err(EventStreamError::Transport(e)))) => {
                    return Err(LlmError::Stream(format!(
                        "the connection broke mid-stream: {}",
                        describe(&e)
                    )));
                }
                Ok(Some(Err(EventStreamError::Utf8(_)))) => {
                    return Err(LlmError::Stream("the stream is not valid UTF-8".into()));
                }
                Ok(Some(Err(EventStreamError::Parser(_)))) => {
                    return Err(LlmError::Stream("the stream is not valid SSE".into()));
                }
                Ok(Some(Ok(event))) => {
                    if feed(&event.event, &event.data)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Removes the key from any text a provider echoed into an error.
    fn scrub(&self, err: LlmError) -> LlmError {
        let Some(key) = self.target.api_key.as_ref().map(SecretString::expose) else {
            return err;
        };
        if key.is_empty() {
            return err;
        }
        let clean = |m: String| {
            if m.contains(key) {
                m.replace(key, "***")
            } else {
                m
            }
        };
        match err {
            LlmError::BadRequest { status, message } => LlmError::BadRequest {
                status,
                message: clean(message),
            },
            LlmError::Unavailable { attempts, message } => LlmError::Unavailable {
                attempts,
                message: clean(message),
            },
            LlmError::Stream(m) => LlmError::Stream(clean(m)),
            other => other,
        }
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A reqwest error with its causes, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        let mut s = e.to_string();
        // reqwest appends " for url (…)" to its own message; the URL is left out of errors.
        if let Some(i) = s.find(" for url (") {
            s.truncate(i);
        }
        s
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    truncate(&out)
}

async fn read_error_body(mut resp: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        bytes.extend_from_slice(&chunk);
        if bytes.len() >= MAX_ERROR_BODY {
            bytes.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The provider's own error message from a JSON error body (`{"error": {"message"}}`,
/// `{"message"}`, `{"error": "…"}`), else the body itself, capped at 500 characters.
fn provider_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let msg = parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .or_else(|| v.get("error"))
                .or_else(|| v.get("detail"))
        })
        .and_then(|m| m.as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string());
    if msg.is_empty() {
        return "no error message".to_string();
    }
    truncate(&msg)
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE_CHARS {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    out.push('…');
    out
}

/// A short, safe description of unparsable stream data: the parser's complaint, never the chunk.
fn malformed(what: &str, err: &serde_json::Error) -> LlmError {
    LlmError::Stream(format!(
        "malformed {what} chunk (invalid JSON at line {} column {})",
        err.line(),
        err.column()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_messages_are_extracted_and_capped() {
        assert_eq!(
            provider_message(r#"{"error":{"message":"model not found","type":"x"}}"#),
            "model not found"
        );
        assert_eq!(
            provider_message(
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#
            ),
            "bad"
        );
        assert_eq!(provider_message(r#"{"error":"plain"}"#), "plain");
        assert_eq!(provider_message("  not json  "), "not json");
        assert_eq!(provider_message(""), "no error message");
        let long = "x".repeat(2000);
        assert_eq!(provider_message(&long).chars().count(), 500);
    }

    #[test]
    fn invalid_base_urls_are_refused_without_a_request() {
        for url in ["", "not a url", "ftp://example.com", "file:///etc/passwd"] {
            let err = ProviderClient::new(ProviderTarget::new(
                "openai",
                ProviderProtocol::OpenaiCompatible,
                url,
                None,
            ))
            .unwrap_err();
            assert!(
                matches!(err, LlmError::BadRequest { status: 0, .. }),
                "{url}: {err:?}"
            );
        }
        assert!(ProviderClient::new(ProviderTarget::offline_demo()).is_ok());
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for (u, local) in [
            ("http://localhost:11434/v1", true),
            ("http://127.0.0.1:1234", true),
            ("http://[::1]:8000", true),
            ("https://api.openai.com/v1", false),
        ] {
            assert_eq!(is_loopback(&reqwest::Url::parse(u).unwrap()), local, "{u}");
        }
    }

    #[test]
    fn scrub_removes_an_echoed_key() {
        let client = ProviderClient::new(ProviderTarget::new(
            "openai",
            ProviderProtocol::OpenaiCompatible,
            "https://api.openai.com/v1",
            Some(SecretString::new("sk-very-secret")),
        ))
        .unwrap();
        let err = client.scrub(LlmError::BadRequest {
            status: 400,
            message: "bad key sk-very-secret".into(),
        });
        assert_eq!(
            err.to_string(),
            "the provider rejected the request (HTTP 400): bad key ***"
        );
        assert!(!format!("{client:?}").contains("sk-very-secret"));
    }
}
