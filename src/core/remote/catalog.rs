//! What a Shannon cloud offers, listed with its source beside the local catalogues: its skills
//! (a remote task may name one), agents and tools (`GET /api/v1/skills|agents|tools`). Each listing
//! is asked for on its own; one the cloud does not answer is reported, not fatal.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::Core;
use crate::core::catalog::skills::SkillSummary;
use crate::core::error::Result;

use super::client::CloudClient;

/// An agent or a tool of a cloud, as its listing names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct RemoteCatalogEntry {
    pub name: String,
    pub description: String,
    pub category: String,
}

/// A cloud's catalogues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct RemoteCatalog {
    /// The profile it was read through (the entries' source).
    pub source: String,
    pub host: String,
    pub skills: Vec<SkillSummary>,
    /// Agents by id.
    pub agents: Vec<RemoteCatalogEntry>,
    pub tools: Vec<RemoteCatalogEntry>,
    /// The listings the cloud did not give, each with why.
    pub unavailable: Vec<String>,
}

fn str_of(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .unwrap_or("")
        .to_string()
}

fn entry(v: &Value, id_key: &str) -> Option<RemoteCatalogEntry> {
    let name = str_of(v, &[id_key, "name"]);
    (!name.is_empty()).then(|| RemoteCatalogEntry {
        name,
        description: str_of(v, &["description"]),
        category: str_of(v, &["category"]),
    })
}

/// The array a listing answers with: `{<key>: [...]}` or the array itself (the tools listing is
/// the LLM service's answer passed through).
fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .or(Some(v))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

impl Core {
    /// The skills, agents and tools of the cloud behind `profile_id`.
    pub async fn remote_catalog(&self, profile_id: &str) -> Result<RemoteCatalog> {
        let cloud = self.cloud(profile_id).await?;
        let (skills, agents, tools) = tokio::join!(
            self.listing(&cloud, "/api/v1/skills"),
            self.listing(&cloud, "/api/v1/agents"),
            self.listing(&cloud, "/api/v1/tools"),
        );
        let mut unavailable = Vec::new();
        let mut take = |what: &str, got: std::result::Result<Value, String>| match got {
            Ok(v) => v,
            Err(why) => {
                unavailable.push(format!("{what}: {why}"));
                Value::Null
            }
        };
        let (skills, agents, tools) = (
            take("skills", skills),
            take("agents", agents),
            take("tools", tools),
        );
        Ok(RemoteCatalog {
            source: profile_id.to_string(),
            host: cloud.host().to_string(),
            skills: items(&skills, "skills")
                .iter()
                .filter_map(|s| serde_json::from_value(s.clone()).ok())
                .collect(),
            agents: items(&agents, "agents")
                .iter()
                .filter_map(|a| entry(a, "id"))
                .collect(),
            tools: items(&tools, "tools")
                .iter()
                .filter_map(|t| entry(t, "name"))
                .collect(),
            unavailable,
        })
    }

    async fn listing(&self, cloud: &CloudClient, path: &str) -> std::result::Result<Value, String> {
        match cloud.json(self, Method::GET, path, None, &[]).await {
            Ok(Ok((v, _))) => Ok(v),
            Ok(Err(r)) => Err(format!("{} {}", r.status.as_u16(), r.said)),
            Err(e) => Err(e.to_string()),
        }
    }
}
