//! Where the plugin's 32-byte keys live. This build keeps them in 0600 files in the given
//! directory (`<slot>.key`); the OS keychain joins as a backend separately.

use std::path::{Path, PathBuf};

use crate::core::crypto::MasterKey;
use crate::core::error::Result;

/// Which store holds the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStorage {
    #[default]
    Auto,
    Keychain,
    File,
}

/// The keys of one directory.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    pub fn new(_storage: KeyStorage, dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// The key in `slot`, created on first use.
    pub fn load_or_create(&self, slot: &str) -> Result<MasterKey> {
        MasterKey::load_or_create(&self.dir.join(format!("{slot}.key")))
    }
}
