//! What a team's tool calls say about the run: `metadata.tool_errors` for the calls that failed,
//! and `metadata.citations` for the sources the web tools returned (see
//! docs/upstream.md#strategies): deduplicated by URL, at most 3 per domain, ranked by credibility,
//! capped at 200.

use std::collections::{HashMap, HashSet};

use reqwest::Url;
use serde_json::{Map, Value, json};

use super::agent::ToolRun;

/// Tools whose results are sources.
const SOURCE_TOOLS: &[&str] = &["web_search", "web_fetch", "web_subpage_fetch", "web_crawl"];
const PER_DOMAIN: usize = 3;
const MAX_CITATIONS: usize = 200;

/// One source, in the shape of `metadata.citations`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Citation {
    pub url: String,
    pub title: String,
    pub source: String,
    pub credibility_score: f64,
    pub quality_score: f64,
}

impl Citation {
    pub fn to_json(&self) -> Value {
        json!({"url": self.url, "title": self.title, "source": self.source,
               "credibility_score": self.credibility_score, "quality_score": self.quality_score})
    }
}

/// `tool_errors` and `citations` of `(agent id, tool run)` pairs; only the fields that have entries.
pub(crate) fn tool_metadata(runs: &[(&str, &ToolRun)]) -> Map<String, Value> {
    let mut m = Map::new();
    let errors: Vec<Value> = runs
        .iter()
        .filter(|(_, r)| !r.success)
        .map(|(agent, r)| json!({"agent_id": agent, "tool": r.tool, "error": r.output}))
        .collect();
    if !errors.is_empty() {
        m.insert("tool_errors".into(), Value::Array(errors));
    }
    let cited = collect(runs.iter().map(|(_, r)| *r));
    if !cited.is_empty() {
        m.insert(
            "citations".into(),
            cited.iter().map(Citation::to_json).collect(),
        );
    }
    m
}

/// The sources in the successful results of the web tools.
pub(crate) fn collect<'a>(runs: impl Iterator<Item = &'a ToolRun>) -> Vec<Citation> {
    let mut found = Vec::new();
    for run in runs.filter(|r| r.success && SOURCE_TOOLS.contains(&r.tool.as_str())) {
        match serde_json::from_str::<Value>(&run.output) {
            Ok(v) => from_json(&v, &mut found),
            Err(_) => from_text(&run.output, &mut found),
        }
    }
    rank(found)
}

/// Objects with a `url` anywhere in a tool's JSON result (`results: [{title, url, snippet}]` …).
fn from_json(v: &Value, out: &mut Vec<Citation>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| from_json(i, out)),
        Value::Object(o) => {
            if let Some(url) = o.get("url").and_then(Value::as_str) {
                let title = o.get("title").and_then(Value::as_str).unwrap_or_default();
                let has_text = ["snippet", "content", "text", "description"]
                    .iter()
                    .any(|k| {
                        o.get(*k)
                            .and_then(Value::as_str)
                            .is_some_and(|s| !s.is_empty())
                    });
                if let Some(c) = citation(url, title, has_text) {
                    out.push(c);
                }
            }
            o.values()
                .filter(|v| v.is_array() || v.is_object())
                .for_each(|v| from_json(v, out));
        }
        _ => {}
    }
}

/// Bare http(s) URLs in a plain-text result.
fn from_text(text: &str, out: &mut Vec<Citation>) {
    for word in text.split(|c: char| c.is_whitespace() || "<>\"'()[]".contains(c)) {
        let word = word.trim_end_matches(['.', ',', ';', ':']);
        if word.starts_with("http://") || word.starts_with("https://") {
            out.extend(citation(word, "", false));
        }
    }
}

fn citation(raw: &str, title: &str, has_text: bool) -> Option<Citation> {
    let mut url = Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    let host = url.host_str()?.trim_start_matches("www.").to_string();
    let credibility_score = credibility(&host);
    let quality_score = match (title.trim().is_empty(), has_text) {
        (false, true) => 0.9,
        (false, false) | (true, true) => 0.7,
        (true, false) => 0.5,
    };
    Some(Citation {
        url: url.to_string(),
        title: if title.trim().is_empty() {
            host.clone()
        } else {
            title.trim().to_string()
        },
        source: host,
        credibility_score,
        quality_score,
    })
}

/// A coarse prior on a domain: public institutions and references rank above the open web.
fn credibility(host: &str) -> f64 {
    let tld = host.rsplit('.').next().unwrap_or_default();
    if matches!(tld, "gov" | "edu" | "int" | "mil")
        || host.contains(".gov.")
        || host.contains(".ac.")
    {
        0.9
    } else if host.ends_with("wikipedia.org") || host.ends_with("arxiv.org") || tld == "org" {
        0.75
    } else {
        0.6
    }
}

/// Deduplicated (first seen wins), at most [`PER_DOMAIN`] per domain, the most credible first
/// (ties keep the order the tools found them), capped.
fn rank(found: Vec<Citation>) -> Vec<Citation> {
    let mut seen = HashSet::new();
    let mut per_domain: HashMap<String, usize> = HashMap::new();
    let mut kept: Vec<Citation> = found
        .into_iter()
        .filter(|c| seen.insert(c.url.trim_end_matches('/').to_string()))
        .filter(|c| {
            let n = per_domain.entry(c.source.clone()).or_default();
            *n += 1;
            *n <= PER_DOMAIN
        })
        .collect();
    kept.sort_by(|a, b| {
        (b.credibility_score + b.quality_score).total_cmp(&(a.credibility_score + a.quality_score))
    });
    kept.truncate(MAX_CITATIONS);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tool: &str, success: bool, output: &str) -> ToolRun {
        ToolRun {
            tool: tool.into(),
            success,
            output: output.into(),
        }
    }

    #[test]
    fn sources_are_deduplicated_capped_per_domain_and_ranked() {
        let search = run(
            "web_search",
            true,
            r#"{"results": [
                {"title": "A", "url": "https://example.com/a#top", "snippet": "x"},
                {"title": "A again", "url": "https://example.com/a"},
                {"title": "B", "url": "https://example.com/b"},
                {"title": "C", "url": "https://example.com/c"},
                {"title": "D", "url": "https://example.com/d"},
                {"title": "Census", "url": "https://www.census.gov/data", "snippet": "y"},
                {"title": "Bad", "url": "file:///etc/passwd"}
            ]}"#,
        );
        let fetch = run("web_fetch", true, "Read https://news.example.org/story.");
        let failed = run("web_search", false, "https://ignored.example.net");
        let calc = run("calculator", true, "https://not-a-source.example");
        let cited = collect([&search, &fetch, &failed, &calc].into_iter());
        let urls: Vec<&str> = cited.iter().map(|c| c.url.as_str()).collect();
        assert_eq!(urls[0], "https://www.census.gov/data");
        assert!(urls.contains(&"https://news.example.org/story"));
        assert_eq!(urls.iter().filter(|u| u.contains("example.com")).count(), 3);
        assert!(
            !urls
                .iter()
                .any(|u| u.ends_with("/d") || u.contains("ignored"))
        );
        assert!(!urls.iter().any(|u| u.starts_with("file")));
    }

    #[test]
    fn failed_calls_are_tool_errors_with_their_agent() {
        let ok = run("calculator", true, "42");
        let bad = run("calculator", false, "could not evaluate");
        let m = tool_metadata(&[("Ebisu", &ok), ("Gora", &bad)]);
        assert_eq!(
            m["tool_errors"],
            json!([{"agent_id": "Gora", "tool": "calculator", "error": "could not evaluate"}])
        );
        assert!(!m.contains_key("citations"));
        assert!(tool_metadata(&[("Ebisu", &ok)]).is_empty());
    }
}
