//! `web_fetch`: a page as readable text, for agents. A desktop agent must not become a way into the
//! user's network, so by default only public addresses are reached: loopback, private, link-local
//! (cloud metadata at 169.254.169.254 among them), shared, multicast and unspecified addresses are
//! refused, checked on every address a name resolves to (the connection only ever uses checked
//! ones, so DNS rebinding does not help) and on every redirect; only http and https. The user can
//! allow the local network (setting `web_fetch.allow_private_network`). Size, time and redirects
//! are bounded.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::{Value, json};

/// Limits of one fetch.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
    pub max_redirects: usize,
    /// Reach loopback and private addresses too (the user's choice).
    pub allow_private: bool,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024,
            timeout: Duration::from_secs(15),
            max_redirects: 5,
            allow_private: false,
        }
    }
}

/// A fetched page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub url: String,
    pub status: u16,
    pub title: String,
    pub text: String,
    pub content_type: String,
    pub truncated: bool,
}

/// Whether an address is one a fetch may not reach without the user's leave.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// Resolves names to the addresses a fetch may use, refusing a name with none.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow || !is_private(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(
                    format!("{host} resolves only to private or loopback addresses").into(),
                );
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// Why a URL may not be fetched, checked before any connection (and on each redirect).
pub fn refused(url: &Url, allow_private: bool) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!(
            "only http and https URLs can be fetched, not {}:",
            url.scheme()
        ));
    }
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Some("the URL has no host".into());
    }
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>()
        && !allow_private
        && is_private(ip)
    {
        return Some(format!("{host} is a private or loopback address"));
    }
    if !allow_private && (host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost")) {
        return Some(format!("{host} is the local machine"));
    }
    None
}

/// Fetches one page as text.
pub async fn fetch(raw: &str, limits: &FetchLimits) -> Result<Page, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if let Some(why) = refused(&url, limits.allow_private) {
        return Err(why);
    }
    crate::core::llm::install_crypto_provider();
    let (allow, max) = (limits.allow_private, limits.max_redirects);
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max {
            return attempt.error(format!("more than {max} redirects"));
        }
        match refused(attempt.url(), allow) {
            Some(why) => attempt.error(format!("redirect refused: {why}")),
            None => attempt.follow(),
        }
    });
    let client = reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver {
            allow_private: allow,
        }))
        .redirect(redirects)
        .timeout(limits.timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!(
            "Mozilla/5.0 (compatible; tauri-plugin-shannon/",
            env!("CARGO_PKG_VERSION"),
            ")"
        ))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let resp = client.get(url).send().await.map_err(describe)?;
    let status = resp.status().as_u16();
    let final_url = resp.url().to_string();
    if resp.status().is_redirection() {
        // A redirect reqwest would not follow (to another scheme): as refused as any.
        let to = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("nowhere");
        return Err(format!("redirect refused: to {to}"));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut body = Vec::new();
    let mut truncated = false;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(describe)?;
        let room = limits.max_bytes - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    let html = content_type.contains("html") || (content_type.is_empty() && looks_like_html(&body));
    let (title, text) = if html {
        let title = title_of(&String::from_utf8_lossy(&body));
        let text = html2text::from_read(body.as_slice(), 100)
            .map_err(|e| format!("cannot read the page: {e}"))?;
        (title, text)
    } else if content_type.starts_with("text/")
        || content_type.contains("json")
        || content_type.is_empty()
    {
        (String::new(), String::from_utf8_lossy(&body).to_string())
    } else {
        return Err(format!("{final_url} is {content_type}, not a page"));
    };
    Ok(Page {
        url: final_url,
        status,
        title,
        text: tidy(&text),
        content_type,
        truncated,
    })
}

/// Pages one call may ask for, fetched at most [`FETCH_CONCURRENCY`] at a time.
pub const MAX_URLS: usize = 5;
const FETCH_CONCURRENCY: usize = 3;
/// Characters of text one call returns over all its pages.
const MAX_TOTAL_CHARS: usize = 200_000;

/// The tool's output: `{url, status, title, content, truncated}` for `url`, or
/// `{pages: [...]}` for `urls` (each page, or its `error`); or why it failed.
pub async fn tool(args: &Value, limits: &FetchLimits) -> (bool, String) {
    if let Some(list) = args.get("urls").and_then(Value::as_array) {
        let urls: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
        if urls.is_empty() || urls.len() > MAX_URLS {
            return (false, format!("\"urls\" takes 1 to {MAX_URLS} URLs"));
        }
        return several(&urls, limits).await;
    }
    let Some(url) = args.get("url").and_then(Value::as_str) else {
        return (
            false,
            "missing string argument \"url\" (or \"urls\")".into(),
        );
    };
    match one(url, limits, MAX_TOTAL_CHARS).await {
        Ok(page) => (true, page.to_string()),
        Err(e) => (false, e),
    }
}

async fn one(url: &str, limits: &FetchLimits, max_chars: usize) -> Result<Value, String> {
    match fetch(url, limits).await {
        Ok(p) if p.status >= 400 => Err(format!("{} answered {}", p.url, p.status)),
        Ok(p) => {
            let cut = p.text.chars().count() > max_chars;
            let content: String = p.text.chars().take(max_chars).collect();
            Ok(
                json!({"url": p.url, "status": p.status, "title": p.title, "content": content,
                      "truncated": p.truncated || cut}),
            )
        }
        Err(e) => Err(format!("cannot fetch {url}: {e}")),
    }
}

/// Several pages, a few at a time, sharing one text budget; a failed page is reported in place.
async fn several(urls: &[&str], limits: &FetchLimits) -> (bool, String) {
    let share = MAX_TOTAL_CHARS / urls.len();
    // Owned inputs: the futures must be `Send` for any lifetime the task runner picks.
    let jobs: Vec<(String, FetchLimits)> = urls
        .iter()
        .map(|u| (u.to_string(), limits.clone()))
        .collect();
    let pages: Vec<Value> = futures_util::stream::iter(jobs)
        .map(|(url, limits)| async move {
            one(&url, &limits, share)
                .await
                .unwrap_or_else(|error| json!({"url": url, "error": error}))
        })
        .buffered(FETCH_CONCURRENCY)
        .collect()
        .await;
    let any = pages.iter().any(|p| p.get("error").is_none());
    (any, json!({"pages": pages}).to_string())
}

fn describe(e: reqwest::Error) -> String {
    use std::error::Error;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}

fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    head.contains("<html") || head.contains("<!doctype html")
}

fn title_of(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let Some(start) = lower.find("<title") else {
        return String::new();
    };
    let Some(open_end) = lower[start..].find('>').map(|i| start + i + 1) else {
        return String::new();
    };
    let Some(close) = lower[open_end..].find("</title>").map(|i| open_end + i) else {
        return String::new();
    };
    html[open_end..close]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// No runs of blank lines, no trailing spaces.
fn tidy(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

pub(crate) const SPEC_DESCRIPTION: &str = "Fetches a web page (http or https), or up to 5 with `urls`, and returns the title and readable text.";

pub(crate) fn spec() -> crate::core::llm::ToolSpec {
    crate::core::llm::ToolSpec {
        name: "web_fetch".into(),
        description: SPEC_DESCRIPTION.into(),
        parameters: json!({"type": "object", "properties": {
            "url": {"type": "string", "description": "The page's URL"},
            "urls": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_URLS,
                     "description": "Several pages at once, instead of url"}}}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_odd_addresses_and_schemes_are_refused() {
        for bad in [
            "http://127.0.0.1/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://192.168.1.1",
            "http://100.64.0.1",
            "http://0.0.0.0",
            "http://[fd00::1]/",
            "http://localhost:8080",
            "file:///etc/passwd",
            "ftp://example.com/x",
            "http://[fe80::1]/",
        ] {
            assert!(refused(&Url::parse(bad).unwrap(), false).is_some(), "{bad}");
        }
        for good in [
            "https://example.com/",
            "http://93.184.216.34/",
            "https://[2606:4700::1111]/",
        ] {
            assert!(
                refused(&Url::parse(good).unwrap(), false).is_none(),
                "{good}"
            );
        }
        assert!(refused(&Url::parse("http://127.0.0.1/").unwrap(), true).is_none());
        assert!(refused(&Url::parse("file:///etc/passwd").unwrap(), true).is_some());
    }

    #[test]
    fn titles_and_blank_lines() {
        assert_eq!(title_of("<html><head><TITLE>  A  page\n</title>"), "A page");
        assert_eq!(tidy("a  \n\n\n\nb\n"), "a\n\nb");
    }
}
