//! One HTTP client per profile: its TLS roots, timeouts and credential, and every cloud failure
//! mapped to one of our errors with a message that names the host and quotes the server only
//! briefly and escaped.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::ConnectionState;
use super::profiles::{RemoteAuthKind, StoredCredential, credential_name, host_of, parse_ca};
use crate::core::Core;
use crate::core::error::{Result, ShannonError};
use crate::core::store::remote::ProfileRow;

/// Most characters of a server's own words quoted in an error message.
const QUOTED: usize = 200;

/// What a server said, for a message: its `error`/`message` field or its text, at most
/// [`QUOTED`] characters, control characters and quotes escaped.
pub(crate) fn quote(body: &str) -> String {
    let said = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            ["message", "error"].iter().find_map(|k| match v.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Object(o)) => {
                    o.get("message").and_then(Value::as_str).map(str::to_string)
                }
                _ => None,
            })
        })
        .unwrap_or_else(|| body.to_string());
    let short: String = said.chars().take(QUOTED).collect();
    let mut out: String = short.escape_debug().collect();
    if said.chars().count() > QUOTED {
        out.push('…');
    }
    out
}

/// A Shannon cloud, as one profile reaches it.
#[derive(Clone)]
pub struct CloudClient {
    http: reqwest::Client,
    base: String,
    host: String,
    profile_id: String,
    credential_name: String,
    auth: RemoteAuthKind,
    credential: Arc<Mutex<Option<StoredCredential>>>,
    request_timeout: Duration,
}

impl std::fmt::Debug for CloudClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudClient")
            .field("host", &self.host)
            .finish()
    }
}

/// An answer from the cloud that was not 2xx and is not mapped by [`CloudClient::send`].
pub(crate) struct Refused {
    pub status: StatusCode,
    pub said: String,
}

impl CloudClient {
    pub(crate) fn build(row: &ProfileRow, credential: Option<StoredCredential>) -> Result<Self> {
        crate::core::llm::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(row.connect_timeout_ms.into()))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tauri-plugin-shannon/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &row.ca_cert_pem {
            // Only the profile's CA: a server with any other certificate is refused.
            builder = builder.tls_certs_only(parse_ca(pem)?);
        }
        let url = reqwest::Url::parse(&row.base_url)
            .map_err(|_| ShannonError::invalid("the profile's base_url is not a URL"))?;
        if crate::core::settings::providers::is_loopback(&url) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| ShannonError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: row.base_url.clone(),
            host: host_of(&row.base_url),
            profile_id: row.id.clone(),
            credential_name: credential_name(&row.id, &row.base_url),
            auth: row.auth(),
            credential: Arc::new(Mutex::new(credential)),
            request_timeout: Duration::from_millis(row.request_timeout_ms.into()),
        })
    }

    /// `host[:port]`, as messages name it.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn profile_id(&self) -> &str {
        &self.profile_id
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn unreachable(&self, why: impl std::fmt::Display) -> ShannonError {
        ShannonError::RemoteUnreachable(format!(
            "Shannon cloud ({}) is unreachable: {why}",
            self.host
        ))
    }

    /// The transport failure, named without the URL (it may carry a query token).
    fn transport(&self, e: &reqwest::Error) -> ShannonError {
        let why = if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
            let mut text = "could not connect".to_string();
            while let Some(s) = src {
                let t = s.to_string();
                if t.contains("certificate") || t.contains("tls") || t.contains("TLS") {
                    text = format!("TLS failed: {}", quote(&t));
                    break;
                }
                src = s.source();
            }
            text
        } else {
            "the connection failed".to_string()
        };
        self.unreachable(why)
    }

    /// One GET with a short timeout and no mapping: `(status, body, elapsed)`, for probes.
    pub(crate) async fn probe(
        &self,
        path: &str,
        with_credential: bool,
        timeout: Duration,
    ) -> Result<(StatusCode, String, Duration)> {
        let started = std::time::Instant::now();
        let mut req = self.http.get(self.url(path)).timeout(timeout);
        if with_credential {
            req = self.authorize(req).await;
        }
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Ok((status, body, started.elapsed()))
    }

    async fn authorize(&self, req: RequestBuilder) -> RequestBuilder {
        let cred = self.credential.lock().await;
        match (self.auth, cred.as_ref()) {
            (RemoteAuthKind::ApiKey, Some(c)) => req.header("X-API-Key", c.secret.as_str()),
            (RemoteAuthKind::Bearer, Some(c)) => req.bearer_auth(c.secret.as_str()),
            _ => req,
        }
    }

    /// Sends a request with the profile's credential. A 401 with a refresh token refreshes once
    /// and retries; a 401 otherwise is `remote_auth`, a 429 `rate_limited` (with the wait), a 5xx
    /// gateway failure `remote_unreachable`. Other answers are returned for the caller to read.
    pub(crate) async fn send(
        &self,
        core: &Core,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
        timeout: Option<Duration>,
    ) -> Result<Response> {
        let mut refreshed = false;
        loop {
            let mut req = self
                .http
                .request(method.clone(), self.url(path))
                .header("Accept", "application/json");
            if let Some(t) = timeout.or(Some(self.request_timeout)) {
                req = req.timeout(t);
            }
            for (k, v) in headers {
                req = req.header(*k, v.as_str());
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = match self.authorize(req).await.send().await {
                Ok(r) => r,
                Err(e) => {
                    core.note_connection(&self.profile_id, ConnectionState::Offline);
                    return Err(self.transport(&e));
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed && self.refresh(core).await? {
                refreshed = true;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED {
                core.note_connection(&self.profile_id, ConnectionState::AuthFailed);
                let said = quote(&resp.text().await.unwrap_or_default());
                return Err(ShannonError::RemoteAuth(format!(
                    "Shannon cloud ({}) refused the credential: {said}",
                    self.host
                )));
            }
            if matches!(
                status,
                StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            ) && !path.contains("/pause")
                && !path.contains("/resume")
                && !path.contains("/cancel")
            {
                core.note_connection(&self.profile_id, ConnectionState::Offline);
                return Err(self.unreachable(format!("it answered {}", status.as_u16())));
            }
            core.note_connection(&self.profile_id, ConnectionState::Online);
            if status == StatusCode::TOO_MANY_REQUESTS {
                // Without Retry-After it is a quota (the cloud's schedule limit), not a window
                // that passes: its reason, and nothing to wait for.
                let Some(wait) = retry_after(&resp) else {
                    let said = quote(&resp.text().await.unwrap_or_default());
                    return Err(ShannonError::RateLimited(format!(
                        "Shannon cloud ({}) refused: {said}",
                        self.host
                    )));
                };
                return Err(ShannonError::RateLimited(format!(
                    "Shannon cloud ({}) is rate limiting this credential; retry after {} s",
                    self.host,
                    wait.as_secs().max(1)
                )));
            }
            return Ok(resp);
        }
    }

    /// A JSON answer, or the refusal read from a non-2xx one.
    pub(crate) async fn json(
        &self,
        core: &Core,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Result<std::result::Result<(Value, reqwest::header::HeaderMap), Refused>> {
        let resp = self.send(core, method, path, body, headers, None).await?;
        let status = resp.status();
        let head = resp.headers().clone();
        let text = resp.text().await.map_err(|e| self.transport(&e))?;
        if !status.is_success() {
            return Ok(Err(Refused {
                status,
                said: quote(&text),
            }));
        }
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| {
                ShannonError::RemoteUnreachable(format!(
                    "Shannon cloud ({}) answered {path} with something that is not JSON",
                    self.host
                ))
            })?
        };
        Ok(Ok((value, head)))
    }

    /// The error for a refusal the caller does not map itself.
    pub(crate) fn refused(&self, what: &str, r: Refused) -> ShannonError {
        let msg = format!(
            "Shannon cloud ({}) refused to {what} ({}): {}",
            self.host,
            r.status.as_u16(),
            r.said
        );
        match r.status {
            StatusCode::NOT_FOUND => ShannonError::NotFound(msg),
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                ShannonError::InvalidRequest(msg)
            }
            StatusCode::FORBIDDEN => ShannonError::PermissionDenied(msg),
            StatusCode::CONFLICT => ShannonError::Conflict(msg),
            StatusCode::PAYLOAD_TOO_LARGE => ShannonError::PayloadTooLarge(msg),
            StatusCode::BAD_GATEWAY => ShannonError::InvalidState(msg),
            _ => ShannonError::RemoteUnreachable(msg),
        }
    }

    /// Opens the SSE stream of a cloud workflow after a stream id (the stream's first byte is
    /// awaited within the request timeout; the body has none).
    pub(crate) async fn open_stream(
        &self,
        core: &Core,
        remote_workflow_id: &str,
        after: Option<&str>,
    ) -> Result<Response> {
        let mut path = format!(
            "/api/v1/stream/sse?workflow_id={}",
            urlenc(remote_workflow_id)
        );
        if let Some(a) = after {
            path.push_str(&format!("&last_event_id={}", urlenc(a)));
        }
        let mut refreshed = false;
        loop {
            let req = self
                .http
                .get(self.url(&path))
                .header("Accept", "text/event-stream");
            let resp =
                match tokio::time::timeout(self.request_timeout, self.authorize(req).await.send())
                    .await
                {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        core.note_connection(&self.profile_id, ConnectionState::Offline);
                        return Err(self.transport(&e));
                    }
                    Err(_) => {
                        core.note_connection(&self.profile_id, ConnectionState::Offline);
                        return Err(self.unreachable("timed out"));
                    }
                };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed && self.refresh(core).await? {
                refreshed = true;
                continue;
            }
            if status.is_success() {
                core.note_connection(&self.profile_id, ConnectionState::Online);
                return Ok(resp);
            }
            if status == StatusCode::UNAUTHORIZED {
                core.note_connection(&self.profile_id, ConnectionState::AuthFailed);
                return Err(ShannonError::RemoteAuth(format!(
                    "Shannon cloud ({}) refused the credential",
                    self.host
                )));
            }
            let said = quote(&resp.text().await.unwrap_or_default());
            return Err(
                self.unreachable(format!("its stream answered {}: {said}", status.as_u16()))
            );
        }
    }

    /// Trades the refresh token for a new pair (`POST /api/v1/auth/refresh`) and seals it.
    /// Returns whether there is a new access token to retry with.
    async fn refresh(&self, core: &Core) -> Result<bool> {
        if self.auth != RemoteAuthKind::Bearer {
            return Ok(false);
        }
        let mut cred = self.credential.lock().await;
        let Some(refresh_token) = cred.as_ref().and_then(|c| c.refresh_token.clone()) else {
            return Ok(false);
        };
        let resp = self
            .http
            .post(self.url("/api/v1/auth/refresh"))
            .timeout(self.request_timeout)
            .json(&json!({"refresh_token": refresh_token}))
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        if !resp.status().is_success() {
            return Ok(false);
        }
        let body: Value = resp.json().await.map_err(|e| self.transport(&e))?;
        let Some(access) = body.get("access_token").and_then(Value::as_str) else {
            return Ok(false);
        };
        let next = StoredCredential {
            kind: RemoteAuthKind::Bearer,
            secret: access.to_string(),
            refresh_token: body
                .get("refresh_token")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or(Some(refresh_token)),
        };
        core.seal_credential(&self.credential_name, &next).await?;
        *cred = Some(next);
        tracing::info!(host = %self.host, "refreshed the Shannon cloud access token");
        Ok(true)
    }
}

/// `Retry-After` in seconds (the cloud sends seconds).
pub(crate) fn retry_after(resp: &Response) -> Option<Duration> {
    resp.headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(3600)))
}

/// The wait a `rate_limited` error from the cloud asks for.
pub(crate) fn wait_hint(e: &ShannonError) -> Option<Duration> {
    let ShannonError::RateLimited(m) = e else {
        return None;
    };
    let secs = m.rsplit("retry after ").next()?.split(' ').next()?;
    secs.parse().ok().map(Duration::from_secs)
}

/// Percent-encodes a query value.
pub(crate) fn urlenc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Core {
    /// The profile's client (built once per profile version, rebuilt after a save or a new
    /// credential).
    pub(crate) async fn cloud(&self, profile_id: &str) -> Result<CloudClient> {
        self.require_remote_enabled()?;
        let row = self.profile_row(profile_id).await?;
        if let Some((version, client)) = self
            .remote()
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(profile_id)
            && *version == row.updated_at
        {
            return Ok(client.clone());
        }
        let credential = self.open_credential(&row).await?;
        if row.auth() != RemoteAuthKind::None && credential.is_none() {
            return Err(ShannonError::RemoteAuth(format!(
                "no credential is stored for Shannon cloud ({}); set one for profile {:?}",
                host_of(&row.base_url),
                row.id
            )));
        }
        let client = CloudClient::build(&row, credential)?;
        self.remote()
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                profile_id.to_string(),
                (row.updated_at.clone(), client.clone()),
            );
        Ok(client)
    }
}
