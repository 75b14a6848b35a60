//! IPC commands of the catalogues (skills, agents, tools) and a task's timeline.

use serde_json::{Map, Value};
use tauri::State;

use super::Res;
use crate::core::catalog::agents::{
    AgentExecuteRequest, AgentExecuteResponse, AgentInfo, AgentList,
};
use crate::core::catalog::llm_models::LlmModels;
use crate::core::catalog::skills::{self, SkillDetail, SkillList, SkillVersions};
use crate::core::catalog::tools::{ToolExecuteRequest, ToolExecution, ToolInfo};
use crate::core::error::ShannonError;
use crate::state::Shannon;

/// Every skill's newest version, optionally of one category, and the files that do not read.
#[tauri::command]
#[specta::specta]
pub async fn list_skills(state: State<'_, Shannon>, category: Option<String>) -> Res<SkillList> {
    let (core, caller) = state.resolve().await?;
    core.list_skills(&caller, category.as_deref()).await
}

/// A skill, whole: its newest version, or `version`.
#[tauri::command]
#[specta::specta]
pub async fn get_skill(
    state: State<'_, Shannon>,
    name: String,
    version: Option<String>,
) -> Res<SkillDetail> {
    let (core, caller) = state.resolve().await?;
    core.get_skill(&caller, &name, version.as_deref()).await
}

#[tauri::command]
#[specta::specta]
pub async fn skill_versions(state: State<'_, Shannon>, name: String) -> Res<SkillVersions> {
    let (core, caller) = state.resolve().await?;
    core.skill_versions(&caller, &name).await
}

/// Adds a skill version from its markdown (YAML front matter, then the prompt). A skill marked
/// dangerous is refused here: `save_dangerous_skill` saves it, behind an opt-in.
#[tauri::command]
#[specta::specta]
pub async fn save_skill(state: State<'_, Shannon>, content: String) -> Res<SkillDetail> {
    if skills::is_dangerous(&content)? {
        return Err(ShannonError::PermissionDenied(
            "a skill marked dangerous is saved with save_dangerous_skill \
             (permission shannon:allow-dangerous-skills)"
                .into(),
        ));
    }
    let (core, caller) = state.resolve().await?;
    core.save_skill(&caller, &content).await
}

/// Adds a skill version, dangerous or not (opt-in `shannon:allow-dangerous-skills`).
#[tauri::command]
#[specta::specta]
pub async fn save_dangerous_skill(state: State<'_, Shannon>, content: String) -> Res<SkillDetail> {
    let (core, caller) = state.resolve().await?;
    core.save_skill(&caller, &content).await
}

/// Removes a user skill: one version, or every version.
#[tauri::command]
#[specta::specta]
pub async fn delete_skill(
    state: State<'_, Shannon>,
    name: String,
    version: Option<String>,
) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.delete_skill(&caller, &name, version.as_deref()).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_agents(state: State<'_, Shannon>) -> Res<AgentList> {
    let (core, caller) = state.resolve().await?;
    core.list_agents(&caller).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_agent(state: State<'_, Shannon>, id: String) -> Res<AgentInfo> {
    let (core, caller) = state.resolve().await?;
    core.get_agent(&caller, &id).await
}

/// Runs an agent: the input checked against its schema, then a task (subscribe to it as to any).
#[tauri::command]
#[specta::specta]
pub async fn execute_agent(
    state: State<'_, Shannon>,
    id: String,
    input: Value,
    session_id: Option<String>,
) -> Res<AgentExecuteResponse> {
    let (core, caller) = state.resolve().await?;
    let req = AgentExecuteRequest {
        input,
        session_id,
        stream: false,
    };
    core.execute_agent(&caller, &id, req).await
}

/// The tools; dangerous ones only with `include_dangerous`.
#[tauri::command]
#[specta::specta]
pub async fn list_tools(
    state: State<'_, Shannon>,
    category: Option<String>,
    include_dangerous: Option<bool>,
) -> Res<Vec<ToolInfo>> {
    let (core, caller) = state.resolve().await?;
    core.list_tools(
        &caller,
        category.as_deref(),
        include_dangerous.unwrap_or(false),
    )
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn get_tool(state: State<'_, Shannon>, name: String) -> Res<ToolInfo> {
    let (core, caller) = state.resolve().await?;
    core.get_tool(&caller, &name).await
}

/// Runs one tool now; a dangerous one only once the user allowed it (a tool grant).
#[tauri::command]
#[specta::specta]
pub async fn execute_tool(
    state: State<'_, Shannon>,
    name: String,
    args: Map<String, Value>,
    session_id: Option<String>,
) -> Res<ToolExecution> {
    let (core, caller) = state.resolve().await?;
    let req = ToolExecuteRequest {
        arguments: args,
        session_id,
    };
    core.execute_tool(&caller, &name, req).await
}

/// The models of the providers that are ready now, by tier (`small`, `medium`, `large`; all three
/// when `tier` is null), the default provider first.
#[tauri::command]
#[specta::specta]
pub async fn list_llm_models(state: State<'_, Shannon>, tier: Option<String>) -> Res<LlmModels> {
    let (core, caller) = state.resolve().await?;
    core.llm_models(&caller, tier.as_deref()).await
}
