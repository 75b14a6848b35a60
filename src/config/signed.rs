//! The plugin's own configuration file: what `set_plugin_config` saved, under an HMAC-SHA256 whose key
//! the webview cannot read. tauri-plugin-store resolves any path a script gives it, so no file is out
//! of its reach; what it cannot do is forge the MAC: the key lives in the OS keychain, or in a 0600
//! key file that is not JSON, which the store plugin can neither parse nor rewrite into a usable key.
//!
//! Format: one header line `shannon-plugin-config v1 hmac-sha256=<hex>`, then the JSON body the MAC
//! covers byte for byte. Every save writes the file and a last-good copy; a file that fails its check
//! is refused with an error log line and the last good copy is used, else nothing saved.

use std::fs;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::PluginConfigUpdate;
use crate::core::error::{Result, ShannonError};
use crate::core::keystore::{KeyStorage, KeyStore};

/// The file, in the app's config dir.
pub const FILE: &str = "shannon-plugin-config";
/// The copy of the last file this plugin wrote.
const LAST_GOOD: &str = "shannon-plugin-config.last-good";
/// The key slot (keychain entry, else `<slot>.key` file beside the configuration).
const KEY_SLOT: &str = "config";
const HEADER: &str = "shannon-plugin-config v1 hmac-sha256=";
/// The store plugin's file where earlier versions kept the configuration (ignored now).
pub const LEGACY_STORE_FILE: &str = "shannon-config.json";

type HmacSha256 = Hmac<Sha256>;

/// The signed configuration file of one app.
pub struct SignedConfig {
    dir: PathBuf,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SignedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedConfig")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl SignedConfig {
    /// Opens the file's place in `dir`, creating the MAC key on first use.
    pub fn open(dir: &Path, storage: KeyStorage) -> Result<Self> {
        fs::create_dir_all(dir)?;
        let key = KeyStore::new(storage, dir)
            .load_or_create(KEY_SLOT)?
            .derive("shannon/plugin-config/v1");
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
        })
    }

    /// The file's path: [`FILE`] in the directory it was opened in.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// What was saved: the file if its MAC holds, else the last good copy, else nothing. A refused
    /// file is logged, never applied.
    pub fn load(&self) -> PluginConfigUpdate {
        let path = self.path();
        match self.read_verified(&path) {
            Ok(Some(saved)) => return saved,
            Ok(None) => return PluginConfigUpdate::default(),
            Err(why) => tracing::error!(
                file = %path.display(),
                %why,
                "refused the Shannon plugin configuration file: it was not written by the plugin \
                 (changed by another program or by the webview); using the last good configuration"
            ),
        }
        match self.read_verified(&self.dir.join(LAST_GOOD)) {
            Ok(Some(saved)) => saved,
            Ok(None) => PluginConfigUpdate::default(),
            Err(why) => {
                tracing::error!(%why, "the last good Shannon plugin configuration was refused too; using none");
                PluginConfigUpdate::default()
            }
        }
    }

    /// Writes `saved` (file, then the last good copy), each atomically.
    pub fn save(&self, saved: &PluginConfigUpdate) -> Result<()> {
        let body = serde_json::to_string_pretty(saved)?;
        let text = format!(
            "{HEADER}{}\n{body}\n",
            hex::encode(self.mac_of(body.as_bytes()).finalize().into_bytes())
        );
        for name in [FILE, LAST_GOOD] {
            let path = self.dir.join(name);
            let tmp = self.dir.join(format!(".{name}.tmp"));
            fs::write(&tmp, &text)
                .and_then(|()| fs::File::open(&tmp)?.sync_all())
                .and_then(|()| fs::rename(&tmp, &path))
                .map_err(|e| {
                    let _ = fs::remove_file(&tmp);
                    ShannonError::Config(format!("cannot save {}: {e}", path.display()))
                })?;
        }
        Ok(())
    }

    fn mac_of(&self, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.key.as_ref()).expect("any key length");
        mac.update(body);
        mac
    }

    /// `Ok(None)`: no file. `Err`: a file that is not one this plugin wrote, and why.
    fn read_verified(
        &self,
        path: &Path,
    ) -> std::result::Result<Option<PluginConfigUpdate>, String> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("unreadable: {e}")),
        };
        let (header, body) = text.split_once('\n').ok_or("no header line")?;
        let claimed = header
            .strip_prefix(HEADER)
            .and_then(|h| hex::decode(h.trim()).ok())
            .ok_or("no integrity header")?;
        let body = body.strip_suffix('\n').unwrap_or(body);
        self.mac_of(body.as_bytes())
            .verify_slice(&claimed)
            .map_err(|_| "the integrity check failed".to_string())?;
        serde_json::from_str(body).map_err(|e| format!("signed but malformed: {e}"))
    }
}

/// Logs, once per start, that an earlier version's store-plugin file is ignored: it lies where the
/// webview can write, so nothing in it is applied.
pub fn warn_about_legacy_file(app_data_dir: &Path) {
    let legacy = app_data_dir.join(LEGACY_STORE_FILE);
    if legacy.exists() {
        tracing::warn!(
            file = %legacy.display(),
            "ignored {LEGACY_STORE_FILE}: the Shannon plugin configuration is no longer read from \
             tauri-plugin-store files (the webview can write them); set it from Rust, tauri.conf.json \
             or set_plugin_config"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update() -> PluginConfigUpdate {
        PluginConfigUpdate {
            listener_port: Some(8765),
            ..Default::default()
        }
    }

    #[test]
    fn a_saved_file_loads_and_a_changed_one_falls_back_to_the_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let file = SignedConfig::open(dir.path(), KeyStorage::File).unwrap();
        assert_eq!(file.load(), PluginConfigUpdate::default());
        file.save(&update()).unwrap();
        assert_eq!(file.load(), update());
        // Another program rewrites the file, keeping its header: refused, the last good is used.
        let text = fs::read_to_string(file.path()).unwrap();
        fs::write(file.path(), text.replace("8765", "8766")).unwrap();
        assert_eq!(file.load(), update());
        // Both changed: nothing saved applies.
        let good = dir.path().join(LAST_GOOD);
        fs::write(&good, fs::read_to_string(file.path()).unwrap()).unwrap();
        assert_eq!(file.load(), PluginConfigUpdate::default());
        // Plain JSON, as the store plugin writes: refused.
        fs::write(file.path(), r#"{"listener_port": 9000}"#).unwrap();
        assert_eq!(file.load(), PluginConfigUpdate::default());
    }

    #[test]
    fn another_key_cannot_sign_it() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let forger = SignedConfig::open(b.path(), KeyStorage::File).unwrap();
        forger.save(&update()).unwrap();
        let victim = SignedConfig::open(a.path(), KeyStorage::File).unwrap();
        fs::copy(forger.path(), victim.path()).unwrap();
        assert_eq!(victim.load(), PluginConfigUpdate::default());
    }
}
