//! Session files and memory files (`H/workspace.go`, `H/memory.go`): one folder level per listing,
//! text raw and anything else base64, `..` refused. A test puts files with
//! [`Cloud::put_session_file`] and [`Cloud::put_memory_file`] (the cloud has no upload route).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Cloud;
use super::auth::{Identity, error};
use super::sessions::find_session;

/// Path → content of one folder tree.
pub type Tree = BTreeMap<String, String>;

impl Cloud {
    /// The session (its UUID) a workflow ran in.
    pub fn session_of(&self, workflow_id: &str) -> String {
        self.state.lock().unwrap().tasks[workflow_id]
            .session_uuid
            .clone()
    }

    /// A file in the workspace of a session (by its UUID or the client's id).
    pub fn put_session_file(&self, session: &str, path: &str, content: &str) {
        let mut st = self.state.lock().unwrap();
        let uuid = st
            .sessions
            .iter()
            .find(|s| s.id == session || s.external_id.as_deref() == Some(session))
            .map(|s| s.id.clone())
            .expect("no such session in the fake cloud");
        let tree = st.files.entry(uuid).or_default();
        tree.insert(path.to_string(), content.to_string());
    }

    /// A file in a user's memory folder.
    pub fn put_memory_file(&self, user_id: &str, path: &str, content: &str) {
        let mut st = self.state.lock().unwrap();
        let tree = st.memory.entry(user_id.to_string()).or_default();
        tree.insert(path.to_string(), content.to_string());
    }
}

/// One level of `tree` under `dir`: files and the folders leading to deeper ones.
fn listing(tree: Option<&Tree>, dir: &str) -> Value {
    let prefix = match dir.trim_matches('/') {
        "" => String::new(),
        d => format!("{d}/"),
    };
    let mut seen = BTreeMap::new();
    for (path, content) in tree.into_iter().flatten() {
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        let (name, is_dir) = match rest.split_once('/') {
            Some((folder, _)) => (folder, true),
            None => (rest, false),
        };
        let size = if is_dir { 0 } else { content.len() };
        seen.entry(name.to_string()).or_insert(json!({
            "name": name, "path": format!("{prefix}{name}"), "is_dir": is_dir, "size_bytes": size,
        }));
    }
    json!({"success": true, "files": seen.into_values().collect::<Vec<_>>()})
}

fn file(tree: Option<&Tree>, path: &str) -> Response {
    if path.split('/').any(|p| p == "..") {
        return error(StatusCode::BAD_REQUEST, "invalid path");
    }
    match tree.and_then(|t| t.get(path)) {
        Some(text) => Json(json!({"success": true, "content": text,
            "content_type": "text/plain", "size_bytes": text.len()}))
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "file not found"),
    }
}

fn session_uuid(c: &Cloud, who: &Identity, id: &str) -> Option<String> {
    let st = c.state.lock().unwrap();
    find_session(&st.sessions, &who.user_id, id).map(|i| st.sessions[i].id.clone())
}

pub async fn list_session_files(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(uuid) = session_uuid(&c, &who, &id) else {
        return error(StatusCode::NOT_FOUND, "Session not found");
    };
    let st = c.state.lock().unwrap();
    let dir = q.get("path").map(String::as_str).unwrap_or("");
    Json(listing(st.files.get(&uuid), dir)).into_response()
}

pub async fn read_session_file(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path((id, path)): Path<(String, String)>,
) -> Response {
    let Some(uuid) = session_uuid(&c, &who, &id) else {
        return error(StatusCode::NOT_FOUND, "Session not found");
    };
    let st = c.state.lock().unwrap();
    file(st.files.get(&uuid), &path)
}

pub async fn list_memory_files(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let st = c.state.lock().unwrap();
    let dir = q.get("path").map(String::as_str).unwrap_or("");
    Json(listing(st.memory.get(&who.user_id), dir)).into_response()
}

pub async fn read_memory_file(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path(path): Path<String>,
) -> Response {
    let st = c.state.lock().unwrap();
    file(st.memory.get(&who.user_id), &path)
}
