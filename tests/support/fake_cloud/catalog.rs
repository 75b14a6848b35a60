//! The catalogues (`H/skills.go`, `H/agents.go`, `H/tools.go`): a fixed set, in the cloud's shapes;
//! the tools listing is the LLM service's answer passed through, dangerous tools left out.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub async fn skills() -> Response {
    Json(json!({
        "skills": [{"name": "cloud-market-brief", "version": "1.2.0", "category": "research",
            "description": "A one-page market brief with sources", "requires_tools": ["web_search"],
            "dangerous": false, "enabled": true}],
        "count": 1,
        "categories": ["research"],
    }))
    .into_response()
}

pub async fn agents() -> Response {
    Json(json!({
        "agents": [{"id": "ticker-lookup", "name": "Ticker lookup", "category": "finance",
            "description": "Looks up a stock ticker", "tool": "web_search",
            "input_schema": {"type": "object"}, "cost_per_call": 0.001}],
        "count": 1,
    }))
    .into_response()
}

pub async fn tools() -> Response {
    Json(json!([
        {"name": "web_search", "description": "Search the web", "category": "search",
            "parameters": {"type": "object"}},
        {"name": "calculator", "description": "Evaluate arithmetic", "category": "math",
            "parameters": {"type": "object"}},
    ]))
    .into_response()
}
