//! Remote mode: Shannon cloud profiles (managing them is opt-in `shannon:allow-remote-profiles`),
//! their verification and state, the switch and default target, and forking a session.

use tauri::State;

use super::Res;
use crate::core::remote::catalog::RemoteCatalog;
use crate::core::remote::push::SchedulePush;
use crate::core::remote::sync::SessionSync;
use crate::core::remote::{
    ForkedSession, RemoteConfig, RemoteCredential, RemoteProfile, RemoteStatus, SaveRemoteProfile,
    VerifyReport,
};
use crate::state::Shannon;

/// Every Shannon cloud profile (never with its credential).
#[tauri::command]
#[specta::specta]
pub async fn list_remote_profiles(state: State<'_, Shannon>) -> Res<Vec<RemoteProfile>> {
    let (core, _) = state.resolve().await?;
    core.list_remote_profiles().await
}

/// Creates or replaces a profile (opt-in: it decides where prompts may go).
#[tauri::command]
#[specta::specta]
pub async fn save_remote_profile(
    state: State<'_, Shannon>,
    profile: SaveRemoteProfile,
) -> Res<RemoteProfile> {
    let (core, _) = state.resolve().await?;
    core.save_remote_profile(profile).await
}

/// Deletes a profile and its credential (opt-in).
#[tauri::command]
#[specta::specta]
pub async fn delete_remote_profile(state: State<'_, Shannon>, profile_id: String) -> Res<()> {
    let (core, _) = state.resolve().await?;
    core.delete_remote_profile(&profile_id).await
}

/// Stores (`null`: deletes) a profile's credential, sealed for its endpoint (opt-in).
#[tauri::command]
#[specta::specta]
pub async fn set_remote_credential(
    state: State<'_, Shannon>,
    profile_id: String,
    credential: Option<RemoteCredential>,
) -> Res<()> {
    let (core, _) = state.resolve().await?;
    core.set_remote_credential(&profile_id, credential).await
}

/// Probes a profile's server: reachable, ready, auth, user, tier, rate limits, latency,
/// capabilities (a report reused for 10 s unless `fresh`).
#[tauri::command]
#[specta::specta]
pub async fn verify_remote_profile(
    state: State<'_, Shannon>,
    profile_id: String,
    fresh: Option<bool>,
) -> Res<VerifyReport> {
    let (core, _) = state.resolve().await?;
    core.verify_remote_profile(&profile_id, fresh.unwrap_or(false))
        .await
}

/// The switch, the default target and each profile's state.
#[tauri::command]
#[specta::specta]
pub async fn remote_status(state: State<'_, Shannon>) -> Res<RemoteStatus> {
    let (core, _) = state.resolve().await?;
    core.remote_status().await
}

/// Turns remote mode on or off and sets where new sessions run by default (opt-in).
#[tauri::command]
#[specta::specta]
pub async fn set_remote_config(state: State<'_, Shannon>, config: RemoteConfig) -> Res<()> {
    let (core, _) = state.resolve().await?;
    core.set_remote_config(config).await
}

/// Copies a session into a new local one (its completed turns become the new session's memory),
/// to continue a remote session on this device.
#[tauri::command]
#[specta::specta]
pub async fn fork_session(state: State<'_, Shannon>, session_id: String) -> Res<ForkedSession> {
    let (core, caller) = state.resolve().await?;
    core.fork_session(&caller, &session_id).await
}

/// A Shannon cloud's skills, agents and tools (the listings beside the local catalogues).
#[tauri::command]
#[specta::specta]
pub async fn remote_catalog(state: State<'_, Shannon>, profile_id: String) -> Res<RemoteCatalog> {
    let (core, _) = state.resolve().await?;
    core.remote_catalog(&profile_id).await
}

/// Brings one page (100, from `offset`) of the user's sessions on a Shannon cloud into the session
/// list, with their backend; their tasks are read from the cloud.
#[tauri::command]
#[specta::specta]
pub async fn sync_remote_sessions(
    state: State<'_, Shannon>,
    profile_id: String,
    offset: Option<u32>,
) -> Res<SessionSync> {
    let (core, caller) = state.resolve().await?;
    core.sync_remote_sessions(&caller, &profile_id, offset)
        .await
}

/// Moves the user's active schedules to a Shannon cloud profile, where they fire while this device
/// sleeps; each local copy is paused once the cloud has it (refusals are reported, left active).
#[tauri::command]
#[specta::specta]
pub async fn push_schedules(state: State<'_, Shannon>, profile_id: String) -> Res<SchedulePush> {
    let (core, caller) = state.resolve().await?;
    core.push_schedules(&caller, &profile_id).await
}
