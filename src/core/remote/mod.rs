//! Remote mode: sessions that run on a Shannon cloud deployment through the same commands, events
//! and resume ids as local ones (`docs/guides/remote-mode.md`; the cloud's
//! sources: `docs/upstream.md`). A remote task is an ordinary local task whose row says where it
//! runs; a pump mirrors the cloud's stream into the local event hub, so subscriptions, lists,
//! resume and crash recovery work unchanged.
//!
//! - [`profiles`]: the deployments (`remote_profiles`) and their sealed credentials;
//! - [`client`]: one HTTP client per profile, its auth, and the cloud's errors mapped to ours;
//! - [`verify`]: reachability, readiness, auth and capabilities, probed with short timeouts;
//! - [`wire`]: the cloud's SSE frames and task status, read tolerantly;
//! - [`pump`]: the stream mirror (dedupe, back-fill, reconnect, terminal status by polling);
//! - [`tasks`]: submission and re-attachment of remote tasks; [`control`]: pause, resume, cancel;
//! - [`fork`]: a session copied into a new local one, to continue it offline;
//! - [`sessions`]: a remote session's rename and delete, made on its cloud first; [`sync`]: sessions
//!   made on the cloud by other clients brought into the list;
//! - [`files`], [`review`], [`schedules`], [`catalog`]: a remote session's files and the remote
//!   user's memory, plan review, schedules that fire on the cloud, and the cloud's catalogues.

pub mod approvals;
pub mod catalog;
pub mod client;
pub mod control;
pub mod files;
pub mod fork;
pub mod profiles;
pub mod pump;
pub mod push;
pub mod review;
pub mod schedules;
pub mod sessions;
pub mod status;
pub mod sync;
pub mod tasks;
pub mod verify;
pub mod wire;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use fork::ForkedSession;
pub use profiles::{RemoteAuthKind, RemoteCredential, RemoteProfile, SaveRemoteProfile};
pub use status::{ProfileState, RemoteStatus};
pub use verify::{RemoteAuthState, VerifyReport};

use crate::core::Core;
use crate::core::error::{Result, ShannonError};

/// Remote mode's part of the core configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct RemoteConfig {
    /// The global switch: off refuses every remote feature (profiles stay stored, pumps stop).
    pub enabled: bool,
    /// Where a new session runs when a submission names no target: `local` or a profile id.
    pub default_target: String,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            default_target: LOCAL.into(),
        }
    }
}

/// The target naming the embedded engine.
pub const LOCAL: &str = "local";

/// A profile's connection state, as last seen (kept in memory; `profile_status_changed` events
/// report each change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Not contacted since the app started.
    Unknown,
    /// The last request was answered.
    Online,
    /// The last request could not reach the server.
    Offline,
    /// The server refused the credential.
    AuthFailed,
}

/// Remote mode's live state: the switch, each profile's connection state, the running pumps.
pub(crate) struct RemoteState {
    enabled: AtomicBool,
    default_target: Mutex<String>,
    states: Mutex<HashMap<String, ConnectionState>>,
    pumps: Mutex<HashMap<String, CancellationToken>>,
    clients: Mutex<HashMap<String, (String, client::CloudClient)>>,
    reports: verify::ReportCache,
    /// Per profile, the earliest time of the next paced request on the cloud's rate-limited
    /// routes (shared by every pull of that profile, so two in a row stay under the limit).
    next_limited: Mutex<HashMap<String, tokio::time::Instant>>,
}

impl std::fmt::Debug for RemoteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteState")
            .field("enabled", &self.enabled())
            .field("pumps", &self.pump_count())
            .finish()
    }
}

impl RemoteState {
    pub(crate) fn new(config: RemoteConfig) -> Self {
        Self {
            enabled: AtomicBool::new(config.enabled),
            default_target: Mutex::new(config.default_target),
            next_limited: Mutex::default(),
            states: Mutex::default(),
            pumps: Mutex::default(),
            clients: Mutex::default(),
            reports: verify::ReportCache::default(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub(crate) fn default_target(&self) -> String {
        self.default_target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn state_of(&self, profile_id: &str) -> ConnectionState {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(profile_id)
            .copied()
            .unwrap_or(ConnectionState::Unknown)
    }

    /// Records a profile's state; returns whether it changed.
    fn set_state(&self, profile_id: &str, state: ConnectionState) -> bool {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.insert(profile_id.to_string(), state) != Some(state)
    }

    /// Registers a pump; `None` when one already runs for the task.
    pub(crate) fn start_pump(&self, workflow_id: &str) -> Option<CancellationToken> {
        let mut pumps = self.pumps.lock().unwrap_or_else(|p| p.into_inner());
        if pumps.get(workflow_id).is_some_and(|t| !t.is_cancelled()) {
            return None;
        }
        let token = CancellationToken::new();
        pumps.insert(workflow_id.to_string(), token.clone());
        Some(token)
    }

    pub(crate) fn end_pump(&self, workflow_id: &str) {
        self.pumps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(workflow_id);
    }

    /// Reserves the next slot on a profile's rate-limited routes, `gap` after the previous one:
    /// returns when to send.
    pub(crate) fn reserve_limited(
        &self,
        profile_id: &str,
        gap: std::time::Duration,
    ) -> tokio::time::Instant {
        let mut next = self.next_limited.lock().unwrap_or_else(|p| p.into_inner());
        let now = tokio::time::Instant::now();
        let at = next
            .get(profile_id)
            .copied()
            .filter(|t| *t > now)
            .unwrap_or(now);
        next.insert(profile_id.to_string(), at + gap);
        at
    }

    pub(crate) fn pump_count(&self) -> usize {
        self.pumps.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub(crate) fn stop_all_pumps(&self) {
        for (_, token) in self.pumps.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            token.cancel();
        }
    }

    fn forget_client(&self, profile_id: &str) {
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(profile_id);
    }
}

/// Where a task runs, as a submission names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Local,
    Remote(String),
}

impl Target {
    pub(crate) fn parse(s: &str) -> Self {
        match s.trim() {
            "" | LOCAL => Self::Local,
            id => Self::Remote(id.to_string()),
        }
    }
}

impl crate::core::tasks::SubmitTaskRequest {
    /// The request pinned to this device, for the doors and callers that never forward to a cloud
    /// (the HTTP listener, the MCP server, schedules and agents run here): a remote `target` is
    /// refused, an absent one becomes `local` (a configured remote default does not apply).
    pub fn here_only(mut self) -> Result<Self> {
        if let Some(Target::Remote(p)) = self.target.as_deref().map(Target::parse) {
            return Err(ShannonError::invalid(format!(
                "target {p:?}: this door runs tasks on this device only and never forwards to a Shannon cloud"
            )));
        }
        self.target = Some(LOCAL.into());
        Ok(self)
    }
}

impl crate::core::schedules::ScheduleRequest {
    /// The schedule pinned to this device (the HTTP listener never forwards to a cloud).
    pub fn here_only(mut self) -> Result<Self> {
        if let Some(Target::Remote(p)) = self.target.as_deref().map(Target::parse) {
            return Err(ShannonError::invalid(format!(
                "target {p:?}: this door keeps schedules on this device and never forwards to a Shannon cloud"
            )));
        }
        self.target = None;
        Ok(self)
    }
}

impl Core {
    pub(crate) fn remote(&self) -> &RemoteState {
        &self.inner.remote
    }

    /// Turns remote mode on or off. Off stops every pump (their tasks stay as mirrored, and
    /// re-attach when it is turned on again) and refuses remote submissions and profile requests.
    pub async fn set_remote_enabled(&self, enabled: bool) -> Result<()> {
        let was = self.remote().enabled.swap(enabled, Ordering::Relaxed);
        if was && !enabled {
            self.remote().stop_all_pumps();
        } else if !was && enabled {
            self.reattach_remote_tasks().await?;
        }
        Ok(())
    }

    /// Where new sessions run when a submission names no target.
    pub fn default_target(&self) -> String {
        self.remote().default_target()
    }

    /// Whether remote mode is on.
    pub fn remote_enabled(&self) -> bool {
        self.remote().enabled()
    }

    /// Sets where new sessions run when a submission names no target (`local` or a profile id).
    pub async fn set_default_target(&self, target: &str) -> Result<()> {
        if let Target::Remote(id) = Target::parse(target) {
            self.profile_row(&id).await?;
        }
        *self
            .remote()
            .default_target
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = match Target::parse(target) {
            Target::Local => LOCAL.into(),
            Target::Remote(id) => id,
        };
        Ok(())
    }

    pub(crate) fn require_remote_enabled(&self) -> Result<()> {
        if self.remote().enabled() {
            Ok(())
        } else {
            Err(ShannonError::UnsupportedByRemote(
                "remote mode is turned off in this app".into(),
            ))
        }
    }

    /// Records a profile's connection state and tells the doors when it changed.
    pub(crate) fn note_connection(&self, profile_id: &str, state: ConnectionState) {
        if self.remote().set_state(profile_id, state) {
            self.notify(crate::core::CoreEvent::RemoteStatusChanged(
                RemoteStatusChanged {
                    profile_id: profile_id.to_string(),
                    state,
                },
            ));
        }
    }
}

/// A profile's connection state changed (online, offline, auth failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct RemoteStatusChanged {
    /// The profile.
    pub profile_id: String,
    /// Its state now.
    pub state: ConnectionState,
}
