//! `web_search`: the web through a search API the user set up (a key stored like a provider key,
//! or a self-hosted SearXNG at a base URL), its results normalised to
//! `{title, url, snippet, content?, published_date?, source}`. A rate limit is waited out when the
//! API says how long (`Retry-After`) and the wait is short; otherwise the tool says when to retry.

mod wire;

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::Serialize;
use serde_json::{Value, json};

pub use wire::SearchApi;

use crate::core::crypto::SecretString;

/// One result, the same whatever API found it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub title: String,
    pub url: String,
    pub snippet: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_date: Option<String>,
    /// The API that found it (`tavily`, `brave` …).
    pub source: String,
}

/// Where and how searches go: the API, its base URL, its key.
#[derive(Clone)]
pub struct SearchTarget {
    pub api: SearchApi,
    pub base_url: String,
    pub api_key: Option<SecretString>,
    /// The longest `Retry-After` waited out before the tool gives up and reports it.
    pub max_wait: Duration,
    pub timeout: Duration,
    /// Why no search may go out (the key's endpoint changed): every call fails with this, sending
    /// nothing.
    pub refused: Option<String>,
}

impl std::fmt::Debug for SearchTarget {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchTarget")
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl SearchTarget {
    pub fn new(api: SearchApi, base_url: String, api_key: Option<SecretString>) -> Self {
        Self {
            api,
            base_url,
            api_key,
            max_wait: Duration::from_secs(10),
            timeout: Duration::from_secs(20),
            refused: None,
        }
    }

    /// A target every search call fails on with `why`, before any request.
    pub fn refused(api: SearchApi, why: String) -> Self {
        Self {
            refused: Some(why),
            ..Self::new(api, String::new(), None)
        }
    }
}

/// Why a search failed, in words the model (and the user) can act on. Never holds the key.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchError {
    /// 401/403.
    Auth { api: &'static str, status: u16 },
    /// 429 for longer than the engine waits.
    RateLimited {
        api: &'static str,
        retry_after: Option<u64>,
    },
    /// Anything else: a bad answer, a server error that persisted, a network failure.
    Failed(String),
}

impl std::fmt::Display for SearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auth { api, status } => write!(
                f,
                "{api} refused the API key (HTTP {status}); check it on the keys page"
            ),
            Self::RateLimited {
                api,
                retry_after: Some(s),
            } => write!(f, "{api} is rate limiting searches; retry after {s} s"),
            Self::RateLimited { api, .. } => write!(f, "{api} is rate limiting searches"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

/// Attempts per search: the first, and retries after a short rate limit or a server error.
const ATTEMPTS: u32 = 3;
pub const MAX_RESULTS: usize = 10;

/// Searches `query` for at most `max` results.
pub async fn search(
    target: &SearchTarget,
    query: &str,
    max: usize,
) -> Result<Vec<SearchHit>, SearchError> {
    let api = target.api;
    let base = Url::parse(target.base_url.trim()).map_err(|_| {
        SearchError::Failed(format!(
            "the base URL configured for {} is not a valid URL",
            api.id()
        ))
    })?;
    crate::core::llm::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(target.timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("tauri-plugin-shannon/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SearchError::Failed(format!("cannot build the HTTP client: {e}")))?;
    let key = target.api_key.as_ref().map(SecretString::expose);
    let max = max.clamp(1, MAX_RESULTS);
    let mut last = None;
    for attempt in 1..=ATTEMPTS {
        let req = wire::request(api, &base, key, query, max);
        let mut builder = client.request(req.method, req.url);
        for (name, value) in req.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = req.body {
            builder = builder.json(&body);
        }
        let resp = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                // `without_url`: the query string is the user's, but keep errors short.
                last = Some(SearchError::Failed(format!(
                    "cannot reach {}: {}",
                    api.id(),
                    e.without_url()
                )));
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
        };
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(match api {
                SearchApi::Searxng if status == StatusCode::FORBIDDEN => SearchError::Failed(
                    "SearXNG refused the JSON format: add `json` to `search.formats` in its settings.yml"
                        .into(),
                ),
                _ => SearchError::Auth {
                    api: api.id(),
                    status: status.as_u16(),
                },
            });
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let wait = retry_after(resp.headers());
            let limited = status == StatusCode::TOO_MANY_REQUESTS;
            match wait {
                Some(w) if w > target.max_wait => {
                    return Err(SearchError::RateLimited {
                        api: api.id(),
                        retry_after: Some(w.as_secs()),
                    });
                }
                _ if attempt == ATTEMPTS => {
                    return Err(if limited {
                        SearchError::RateLimited {
                            api: api.id(),
                            retry_after: wait.map(|w| w.as_secs()),
                        }
                    } else {
                        SearchError::Failed(format!(
                            "{} answered HTTP {} after {ATTEMPTS} attempts",
                            api.id(),
                            status.as_u16()
                        ))
                    });
                }
                _ => {
                    tokio::time::sleep(wait.unwrap_or_else(|| backoff(attempt))).await;
                    continue;
                }
            }
        }
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(SearchError::Failed(format!(
                "{} rejected the search (HTTP {}): {}",
                api.id(),
                status.as_u16(),
                text.chars().take(300).collect::<String>()
            )));
        }
        let body: Value = resp.json().await.map_err(|e| {
            SearchError::Failed(format!(
                "{} answered with unreadable JSON: {}",
                api.id(),
                e.without_url()
            ))
        })?;
        let mut hits = wire::parse(api, &body).map_err(SearchError::Failed)?;
        hits.truncate(max);
        return Ok(hits);
    }
    Err(last.unwrap_or_else(|| SearchError::Failed(format!("{} did not answer", api.id()))))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(300 * u64::from(attempt))
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
    let secs = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    Some(Duration::from_secs(secs.max(0) as u64))
}

/// The tool's output: `{query, provider, results: [...]}`, or why it failed.
pub async fn tool(args: &Value, target: &SearchTarget) -> (bool, String) {
    if let Some(why) = &target.refused {
        return (false, why.clone());
    }
    let Some(query) = args
        .get("query")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|q| !q.is_empty())
    else {
        return (false, "missing string argument \"query\"".into());
    };
    if query.chars().count() > 500 {
        return (false, "the query is longer than 500 characters".into());
    }
    let max = args
        .get("max_results")
        .and_then(Value::as_u64)
        .map_or(5, |n| n as usize);
    match search(target, query, max).await {
        Ok(hits) => (
            true,
            json!({"query": query, "provider": target.api.id(), "results": hits}).to_string(),
        ),
        Err(e) => (false, format!("web_search failed: {e}")),
    }
}

pub(crate) fn spec() -> crate::core::llm::ToolSpec {
    crate::core::llm::ToolSpec {
        name: "web_search".into(),
        description: "Searches the web and returns the top results: title, URL, snippet and, \
                      where available, page text and date. Read promising pages with web_fetch."
            .into(),
        parameters: json!({"type": "object", "properties": {
            "query": {"type": "string", "description": "What to search for"},
            "max_results": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "description": "Default 5"}},
            "required": ["query"]}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        h.insert(
            "retry-after",
            later.replace("+0000", "GMT").parse().unwrap(),
        );
        let got = retry_after(&h).unwrap().as_secs();
        assert!((85..=90).contains(&got), "{got}");
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn errors_name_the_api_and_never_the_key() {
        let e = SearchError::Auth {
            api: "brave",
            status: 401,
        };
        assert!(e.to_string().contains("brave refused the API key"));
        let e = SearchError::RateLimited {
            api: "tavily",
            retry_after: Some(120),
        };
        assert!(e.to_string().contains("retry after 120 s"));
    }
}
