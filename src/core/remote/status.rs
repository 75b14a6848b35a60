//! Remote mode at a glance, and its settings changed in one call.

use serde::{Deserialize, Serialize};

use super::{ConnectionState, RemoteConfig};
use crate::core::Core;
use crate::core::error::Result;

/// The switch, the default target, each profile's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct RemoteStatus {
    pub enabled: bool,
    /// `local` or a profile id.
    pub default_target: String,
    pub profiles: Vec<ProfileState>,
}

/// One profile's last seen state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ProfileState {
    pub profile_id: String,
    pub name: String,
    pub state: ConnectionState,
}

impl Core {
    /// Remote mode at a glance (no profiles while it is off).
    pub async fn remote_status(&self) -> Result<RemoteStatus> {
        let profiles = if self.remote_enabled() {
            self.list_remote_profiles()
                .await?
                .into_iter()
                .map(|p| ProfileState {
                    profile_id: p.id,
                    name: p.name,
                    state: p.state,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(RemoteStatus {
            enabled: self.remote_enabled(),
            default_target: self.default_target(),
            profiles,
        })
    }

    /// Turns remote mode on or off and, when on, sets where new sessions run by default.
    pub async fn set_remote_config(&self, config: RemoteConfig) -> Result<()> {
        self.set_remote_enabled(config.enabled).await?;
        if config.enabled {
            self.set_default_target(&config.default_target).await?;
        }
        Ok(())
    }
}
