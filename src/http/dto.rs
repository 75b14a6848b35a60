//! Bodies only the HTTP door speaks (the core's own DTOs are used as they are). Every handler builds
//! its JSON from these types, and `/openapi.json` is generated from the same types, so the document
//! cannot drift from what is served.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::tasks::SubmitTaskRequest;

/// Every error body outside `/v1/*`: `{"error": …, "code": …}` with a stable machine `code`, and a
/// `message` on auth routes (which also put the code in `error`, as the cloud).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct ErrorBody {
    pub error: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct HealthChecks {
    pub gateway: String,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub time: String,
    pub checks: HealthChecks,
}

#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct ReadinessChecks {
    pub database: String,
    /// `ok`, or `failing` while the event writer cannot commit (a full disk): it keeps the events
    /// and retries, new tasks are refused with 503, reads still work, so the server stays ready.
    pub event_store: String,
    /// Events emitted and not yet stored (so not yet visible to subscribers).
    pub events_waiting: u64,
}

/// `GET /readiness` and `GET /ready` (`status` is `ready` when the database answers).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct Readiness {
    pub status: String,
    pub time: String,
    pub checks: ReadinessChecks,
}

/// `POST /api/v1/tasks/stream` → 201.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct TaskStreamStarted {
    pub workflow_id: String,
    pub task_id: String,
    pub stream_url: String,
}

/// The desktop frontend's submission body: accepted on `POST /api/v1/tasks` as an alias of the
/// cloud body and mapped onto it (`prompt` → `query`, `model` → `model_override`, the tuning fields
/// and `metadata` flags → `context`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct LegacySubmitRequest {
    pub prompt: String,
    pub session_id: Option<String>,
    /// `chat` or `research`.
    pub task_type: Option<String>,
    pub model: Option<String>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub system_prompt: Option<String>,
    pub tools: Option<Vec<String>>,
    /// Flags such as `force_research` and `research_strategy`.
    pub metadata: Map<String, Value>,
}

impl LegacySubmitRequest {
    /// Whether a JSON body is the legacy shape: it has `prompt` and no `query`.
    pub fn matches(body: &Value) -> bool {
        body.get("prompt").is_some() && body.get("query").is_none()
    }

    pub fn into_cloud(self) -> SubmitTaskRequest {
        let mut context = self.metadata;
        let mut put = |k: &str, v: Value| {
            context.entry(k.to_string()).or_insert(v);
        };
        if let Some(m) = self.max_tokens {
            put("max_tokens", m.into());
        }
        if let Some(t) = self.temperature {
            put("temperature", t.into());
        }
        if let Some(p) = self.system_prompt.filter(|p| !p.trim().is_empty()) {
            put("system_prompt", p.into());
        }
        if let Some(tools) = self.tools.filter(|t| !t.is_empty()) {
            put("tools_to_use", tools.into());
        }
        if self
            .task_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("research"))
        {
            put("force_research", true.into());
        }
        let model_override = self.model.filter(|m| !m.trim().is_empty());
        // The frontend may name the provider beside the model, in `metadata.provider`.
        let provider_override = context
            .get("provider")
            .and_then(Value::as_str)
            .map(str::to_string);
        SubmitTaskRequest {
            query: self.prompt,
            session_id: self.session_id,
            context,
            model_override,
            provider_override,
            ..SubmitTaskRequest::default()
        }
    }
}

/// `{reason?}` for pause, resume and cancel (an empty or invalid body is ignored, as the cloud).
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
pub struct ControlRequest {
    pub reason: Option<String>,
}

/// `POST /api/v1/approvals/grants`: let a tool through without asking, for a session or always.
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct GrantToolRequest {
    pub tool: String,
    pub session_id: Option<String>,
}

/// `POST /api/v1/skills`: a skill file's markdown (front matter and body).
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct SaveSkillRequest {
    pub content: String,
}

/// `PATCH /api/v1/sessions/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct RenameSessionRequest {
    pub title: String,
}

/// `POST /api/v1/auth/refresh`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `POST /api/v1/auth/refresh-key` → the new key, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct RefreshedApiKey {
    pub api_key: String,
    pub previous_key_revoked: bool,
}

/// `POST /api/v1/swarm/{id}/message`.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct SwarmMessageRequest {
    pub message: String,
}

/// `{success, message}` acknowledgements.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct Ack {
    pub success: bool,
    pub message: String,
}

/// A setting in the desktop frontend's shape: the value as text with its type. Settings are stored
/// as JSON; strings, numbers and booleans come back as their text, anything else as JSON text.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct UserSetting {
    pub user_id: String,
    pub setting_key: String,
    pub setting_value: String,
    /// `string | number | boolean | json`.
    pub setting_type: String,
    /// Always false: secrets go to the provider-key routes, encrypted at rest.
    pub encrypted: bool,
    /// The store keeps the last write time only, so this equals `updated_at`.
    pub created_at: String,
    pub updated_at: String,
}

impl UserSetting {
    pub fn new(user_id: &str, s: crate::core::settings::Setting) -> Self {
        let value: Value = serde_json::from_str(&s.value).unwrap_or(Value::Null);
        let (setting_value, setting_type) = match value {
            Value::String(text) => (text, "string"),
            Value::Number(n) => (n.to_string(), "number"),
            Value::Bool(b) => (b.to_string(), "boolean"),
            other => (other.to_string(), "json"),
        };
        Self {
            user_id: user_id.to_string(),
            setting_key: s.key,
            setting_value,
            setting_type: setting_type.into(),
            encrypted: false,
            created_at: s.updated_at.clone(),
            updated_at: s.updated_at,
        }
    }
}

/// `POST /api/v1/settings`, the desktop frontend's body: `value` is text read as `setting_type`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct SetSettingRequest {
    pub key: String,
    pub value: String,
    /// `string` (default) | `number` | `boolean` | `json`.
    pub setting_type: Option<String>,
    pub encrypted: bool,
}

impl SetSettingRequest {
    /// The value as the JSON the store keeps, or why it cannot be read as its type.
    pub fn json_value(&self) -> Result<Value, String> {
        let text = self.value.trim();
        match self.setting_type.as_deref().unwrap_or("string") {
            "string" => Ok(Value::String(self.value.clone())),
            "number" => serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_number)
                .ok_or_else(|| format!("{text:?} is not a number")),
            "boolean" => text
                .parse::<bool>()
                .map(Value::Bool)
                .map_err(|_| format!("{text:?} is not true or false")),
            "json" => serde_json::from_str(text).map_err(|e| format!("invalid JSON value: {e}")),
            other => Err(format!(
                "setting_type {other:?} must be string, number, boolean or json"
            )),
        }
    }
}

/// `POST|PUT /api/v1/settings/{key}`: `{"value": <any JSON>}` (a bare JSON value is accepted too).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct SetSettingValue {
    pub value: Value,
}

/// `POST /api/v1/settings/api-keys/{provider}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct SetProviderKeyRequest {
    pub api_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct ProviderKeySaved {
    pub provider: String,
    pub masked_key: String,
    pub message: String,
}
