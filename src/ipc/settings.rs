//! Settings and keys: per-user settings, provider API keys (stored encrypted, listed masked),
//! which providers are ready, and master key rotation.

use tauri::State;

use super::Res;
use crate::core::crypto::SecretString;
use crate::core::error::ShannonError;
use crate::core::settings::secrets::RotationReport;
use crate::core::settings::{
    ALLOW_DANGEROUS_SKILLS, ProviderKeyInfo, ProviderStatus, Setting, opt_in_command_for,
};
use crate::state::Shannon;

/// One setting; `value` is JSON text.
#[tauri::command]
#[specta::specta]
pub async fn get_setting(state: State<'_, Shannon>, key: String) -> Res<Setting> {
    let (core, caller) = state.resolve().await?;
    core.get_setting(&caller, &key).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_settings(state: State<'_, Shannon>) -> Res<Vec<Setting>> {
    let (core, caller) = state.resolve().await?;
    core.list_settings(&caller).await
}

/// Stores `value`, which must be JSON text (`"\"dark\""`, `"42"`, `"{\"a\":1}"`). Settings that
/// decide where requests go or what runs (a provider's `base_url`, `skills.allow_dangerous`) are
/// refused here: they have their own commands behind opt-in permissions.
#[tauri::command]
#[specta::specta]
pub async fn set_setting(state: State<'_, Shannon>, key: String, value: String) -> Res<Setting> {
    refuse_opt_in_setting(&key)?;
    let (core, caller) = state.resolve().await?;
    core.set_setting(&caller, &key, &value).await
}

#[tauri::command]
#[specta::specta]
pub async fn delete_setting(state: State<'_, Shannon>, key: String) -> Res<()> {
    refuse_opt_in_setting(&key)?;
    let (core, caller) = state.resolve().await?;
    core.delete_setting(&caller, &key).await
}

fn refuse_opt_in_setting(key: &str) -> Res<()> {
    match opt_in_command_for(key) {
        Some(command) => Err(ShannonError::PermissionDenied(format!(
            "the setting {key} is changed with {command}"
        ))),
        None => Ok(()),
    }
}

/// Points a provider at another endpoint (`null` = its default), opt-in
/// `shannon:allow-set-provider-endpoints`. A stored key stays bound to the endpoint it was stored
/// for. Returns the endpoint now in use.
#[tauri::command]
#[specta::specta]
pub async fn set_provider_endpoint(
    state: State<'_, Shannon>,
    provider: String,
    base_url: Option<String>,
) -> Res<Option<String>> {
    let (core, caller) = state.resolve().await?;
    core.set_provider_endpoint(&caller, &provider, base_url.as_deref())
        .await
}

/// Lets tasks use skills marked dangerous (`skills.allow_dangerous`), opt-in
/// `shannon:allow-dangerous-skills`.
#[tauri::command]
#[specta::specta]
pub async fn set_dangerous_skills_allowed(state: State<'_, Shannon>, allowed: bool) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.set_setting(&caller, ALLOW_DANGEROUS_SKILLS, &allowed.to_string())
        .await
        .map(drop)
}

/// Encrypts and stores a provider key; returns it masked.
#[tauri::command]
#[specta::specta]
pub async fn set_provider_key(
    state: State<'_, Shannon>,
    provider: String,
    api_key: SecretString,
) -> Res<ProviderKeyInfo> {
    let (core, caller) = state.resolve().await?;
    core.set_provider_key(&caller, &provider, &api_key).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_provider_key(state: State<'_, Shannon>, provider: String) -> Res<ProviderKeyInfo> {
    let (core, caller) = state.resolve().await?;
    core.get_provider_key(&caller, &provider).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_provider_keys(state: State<'_, Shannon>) -> Res<Vec<ProviderKeyInfo>> {
    let (core, caller) = state.resolve().await?;
    core.list_provider_keys(&caller).await
}

/// Destroys a stored provider key (opt-in permission `shannon:allow-delete-provider-keys`).
#[tauri::command]
#[specta::specta]
pub async fn delete_provider_key(state: State<'_, Shannon>, provider: String) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.delete_provider_key(&caller, &provider).await
}

#[tauri::command]
#[specta::specta]
pub async fn mark_provider_key_used(state: State<'_, Shannon>, provider: String) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.mark_provider_key_used(&caller, &provider).await
}

/// Which providers can take a task now, and why not.
#[tauri::command]
#[specta::specta]
pub async fn provider_status(state: State<'_, Shannon>) -> Res<Vec<ProviderStatus>> {
    let (core, caller) = state.resolve().await?;
    core.provider_status(&caller).await
}

/// Re-encrypts every stored secret under a new master key (opt-in `shannon:allow-rotate-master-key`).
#[tauri::command]
#[specta::specta]
pub async fn rotate_master_key(state: State<'_, Shannon>) -> Res<RotationReport> {
    state.core().await?.rotate_master_key().await
}
