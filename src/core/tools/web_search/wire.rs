//! Each search API's request and response, as its documentation gives them. Requests are built
//! against the base URL the user (or a test) configured; responses are read into [`SearchHit`]s.

use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::SearchHit;

/// The search APIs the engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchApi {
    /// `POST /search`, `Authorization: Bearer`, `{results: [{title, url, content, published_date}]}`.
    Tavily,
    /// `POST /search`, `x-api-key`, `{results: [{title, url, text, publishedDate}]}`.
    Exa,
    /// `GET /res/v1/web/search?q=&count=`, `X-Subscription-Token`, `{web: {results: [...]}}`.
    Brave,
    /// `POST /search`, `X-API-KEY`, `{organic: [{title, link, snippet, date}]}`.
    Serper,
    /// `GET /search?q=&format=json` on a self-hosted instance, keyless.
    Searxng,
}

impl SearchApi {
    pub fn of(provider: &str) -> Option<Self> {
        Some(match provider {
            "tavily" => Self::Tavily,
            "exa" => Self::Exa,
            "brave" => Self::Brave,
            "serper" => Self::Serper,
            "searxng" => Self::Searxng,
            _ => return None,
        })
    }

    pub fn id(self) -> &'static str {
        match self {
            Self::Tavily => "tavily",
            Self::Exa => "exa",
            Self::Brave => "brave",
            Self::Serper => "serper",
            Self::Searxng => "searxng",
        }
    }
}

/// A request ready to send: method, URL, headers (the key among them) and an optional JSON body.
pub struct WireRequest {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

/// The request for `query`, asking for at most `max` results.
pub fn request(
    api: SearchApi,
    base: &Url,
    key: Option<&str>,
    query: &str,
    max: usize,
) -> WireRequest {
    let at = |path: &str| {
        let mut url = base.clone();
        let joined = format!("{}/{path}", base.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    };
    let key = key.unwrap_or_default().to_string();
    match api {
        SearchApi::Tavily => WireRequest {
            method: Method::POST,
            url: at("search"),
            headers: vec![("authorization", format!("Bearer {key}"))],
            body: Some(
                json!({"query": query, "max_results": max, "search_depth": "basic",
                              "include_answer": false}),
            ),
        },
        SearchApi::Exa => WireRequest {
            method: Method::POST,
            url: at("search"),
            headers: vec![("x-api-key", key)],
            body: Some(json!({"query": query, "numResults": max, "type": "auto",
                              "contents": {"text": {"maxCharacters": 2000}}})),
        },
        SearchApi::Brave => {
            let mut url = at("res/v1/web/search");
            url.query_pairs_mut()
                .append_pair("q", query)
                .append_pair("count", &max.min(20).to_string());
            WireRequest {
                method: Method::GET,
                url,
                headers: vec![
                    ("x-subscription-token", key),
                    ("accept", "application/json".into()),
                ],
                body: None,
            }
        }
        SearchApi::Serper => WireRequest {
            method: Method::POST,
            url: at("search"),
            headers: vec![("x-api-key", key)],
            body: Some(json!({"q": query, "num": max})),
        },
        SearchApi::Searxng => {
            let mut url = at("search");
            url.query_pairs_mut()
                .append_pair("q", query)
                .append_pair("format", "json");
            let mut headers = vec![("accept", "application/json".to_string())];
            if !key.is_empty() {
                // An instance behind a proxy that wants a token.
                headers.push(("authorization", format!("Bearer {key}")));
            }
            WireRequest {
                method: Method::GET,
                url,
                headers,
                body: None,
            }
        }
    }
}

/// The hits in a response body, or why it cannot be read.
pub fn parse(api: SearchApi, body: &Value) -> Result<Vec<SearchHit>, String> {
    let (list, title, url, snippet, content, date) = match api {
        SearchApi::Tavily => (
            body.get("results"),
            "title",
            "url",
            "content",
            Some("raw_content"),
            "published_date",
        ),
        SearchApi::Exa => (
            body.get("results"),
            "title",
            "url",
            "summary",
            Some("text"),
            "publishedDate",
        ),
        SearchApi::Brave => (
            body.pointer("/web/results"),
            "title",
            "url",
            "description",
            None,
            "page_age",
        ),
        SearchApi::Serper => (
            body.get("organic"),
            "title",
            "link",
            "snippet",
            None,
            "date",
        ),
        SearchApi::Searxng => (
            body.get("results"),
            "title",
            "url",
            "content",
            None,
            "publishedDate",
        ),
    };
    let list = match list {
        Some(Value::Array(items)) => items,
        // Brave leaves `web` out when nothing matched.
        None if api == SearchApi::Brave && body.is_object() => return Ok(Vec::new()),
        _ => return Err(format!("{} answered without a result list", api.id())),
    };
    let text = |item: &Value, field: &str| {
        item.get(field)
            .and_then(Value::as_str)
            .map(|s| strip_tags(s).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    Ok(list
        .iter()
        .filter_map(|item| {
            let link = text(item, url)?;
            let body_text = content.and_then(|c| text(item, c));
            // Exa's text is its snippet when it gives no summary.
            let snip = text(item, snippet)
                .or_else(|| body_text.as_deref().map(|t| clip_chars(t, 300)))
                .unwrap_or_default();
            Some(SearchHit {
                title: text(item, title).unwrap_or_else(|| link.clone()),
                url: link,
                snippet: snip,
                content: body_text,
                published_date: text(item, date).or_else(|| text(item, "age")),
                source: api.id().to_string(),
            })
        })
        .collect())
}

/// Brave marks matches with `<strong>`; snippets are plain text for the model.
fn strip_tags(s: &str) -> String {
    if !s.contains('<') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn clip_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_reads_its_own_shape() {
        let tavily = json!({"results": [{"title": "T", "url": "https://a.example/1", "content": "c", "published_date": "2026-01-02"}]});
        let brave = json!({"web": {"results": [{"title": "B", "url": "https://b.example", "description": "a <strong>bold</strong> word", "page_age": "2025-05-01"}]}});
        let serper =
            json!({"organic": [{"title": "S", "link": "https://s.example", "snippet": "s"}]});
        let exa = json!({"results": [{"title": "E", "url": "https://e.example", "text": "full text", "publishedDate": "2024"}]});
        let sx = json!({"results": [{"title": "X", "url": "https://x.example", "content": "x", "engine": "ddg"}]});
        let hit = |api, v: &Value| parse(api, v).unwrap().remove(0);
        assert_eq!(
            hit(SearchApi::Tavily, &tavily).published_date.as_deref(),
            Some("2026-01-02")
        );
        assert_eq!(hit(SearchApi::Brave, &brave).snippet, "a bold word");
        assert_eq!(hit(SearchApi::Serper, &serper).url, "https://s.example");
        let e = hit(SearchApi::Exa, &exa);
        assert_eq!(
            (e.snippet.as_str(), e.content.as_deref()),
            ("full text", Some("full text"))
        );
        assert_eq!(hit(SearchApi::Searxng, &sx).source, "searxng");
        assert!(parse(SearchApi::Brave, &json!({})).unwrap().is_empty());
        assert!(parse(SearchApi::Serper, &json!({"error": "x"})).is_err());
    }

    #[test]
    fn requests_carry_the_query_the_key_and_the_path() {
        let base = Url::parse("http://127.0.0.1:9/api/").unwrap();
        let r = request(SearchApi::Brave, &base, Some("k"), "rust & tauri", 5);
        assert_eq!(r.url.path(), "/api/res/v1/web/search");
        assert!(r.url.query().unwrap().contains("q=rust+%26+tauri"));
        assert!(r.headers.contains(&("x-subscription-token", "k".into())));
        let r = request(SearchApi::Serper, &base, Some("k"), "q", 5);
        assert_eq!(r.body.unwrap()["q"], "q");
    }
}
