//! Where 32-byte keys (the master key and its rotation slot) live: the OS keychain through the
//! `keyring` crate (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows), or a
//! 0600 file in the data dir.
//!
//! A keychain entry has the service [`KEYCHAIN_SERVICE`] and an account naming the slot and the
//! data dir (`master@<16 hex of the SHA-256 of the canonical dir>`), so two apps or two data dirs
//! never share an entry. Its secret is the key as 64 hex characters. Every keychain call runs on a
//! thread of its own and is given [`KEYCHAIN_TIMEOUT`], so a Secret Service that never answers (a
//! locked collection waiting for a prompt nobody sees, a hung daemon) cannot hold up start-up. No
//! key byte ever reaches a log line or an error message.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::core::crypto::{MASTER_KEY_FILE, MasterKey, NEXT_MASTER_KEY_FILE};
use crate::core::error::{Result, ShannonError};

/// The keychain service of every entry the plugin writes.
pub const KEYCHAIN_SERVICE: &str = "tauri-plugin-shannon";
/// How long one keychain call may take before it counts as "the keychain did not answer".
pub const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// The master key's slot.
pub const MASTER_SLOT: &str = "master";
/// The slot a rotation writes the new master key to before its transaction commits.
pub const NEXT_MASTER_SLOT: &str = "master.next";

/// Where keys are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStorage {
    /// The OS keychain when one answers, else the 0600 file in the data dir.
    #[default]
    Auto,
    /// The OS keychain only: a keychain that does not answer is an error.
    Keychain,
    /// A 0600 file in the data dir (`master.key`), as headless servers and CI have it.
    File,
}

impl std::fmt::Display for KeyStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyStorage::Auto => "auto",
            KeyStorage::Keychain => "keychain",
            KeyStorage::File => "file",
        })
    }
}

impl std::str::FromStr for KeyStorage {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(KeyStorage::Auto),
            "keychain" => Ok(KeyStorage::Keychain),
            "file" => Ok(KeyStorage::File),
            other => Err(format!(
                "unknown key storage {other:?} (auto, keychain or file)"
            )),
        }
    }
}

/// The keys of one data dir, in the backend chosen when it was made.
#[derive(Debug, Clone)]
pub struct KeyStore {
    requested: KeyStorage,
    /// `Keychain` or `File`, never `Auto`.
    backend: KeyStorage,
    dir: PathBuf,
    /// 16 hex characters of the SHA-256 of the canonical data dir: the keychain account suffix.
    dir_id: String,
}

impl KeyStore {
    /// Where keys for the data dir `dir` live; Auto = the OS keychain when one answers, else the 0600
    /// file in `dir`. Auto asks the keychain once (blocking, at most [`KEYCHAIN_TIMEOUT`]); call it
    /// off the async executor.
    pub fn new(storage: KeyStorage, dir: &Path) -> Self {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let digest = Sha256::digest(canonical.to_string_lossy().as_bytes());
        let mut store = Self {
            requested: storage,
            backend: storage,
            dir: dir.to_path_buf(),
            dir_id: hex::encode(&digest[..8]),
        };
        if storage == KeyStorage::Auto {
            store.backend = match store.keychain_load(MASTER_SLOT) {
                Ok(_) => KeyStorage::Keychain,
                Err(reason) => {
                    tracing::info!(
                        reason = %reason,
                        "no OS keychain answered; the Shannon master key is kept in a 0600 file in the data dir"
                    );
                    KeyStorage::File
                }
            };
        }
        store
    }

    /// Which backend answered (for logs and tests): [`KeyStorage::Keychain`] or [`KeyStorage::File`].
    pub fn backend(&self) -> KeyStorage {
        self.backend
    }

    /// What the configuration asked for (`Auto` may have become either backend).
    pub fn requested(&self) -> KeyStorage {
        self.requested
    }

    /// The data dir whose keys these are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The same data dir's keys in the 0600 file, whatever this store uses.
    pub fn file_store(&self) -> KeyStore {
        Self {
            requested: KeyStorage::File,
            backend: KeyStorage::File,
            ..self.clone()
        }
    }

    /// The file a slot uses in file mode: `master.key`, `master.key.next`, else `<slot>.key`.
    pub fn slot_path(&self, slot: &str) -> PathBuf {
        self.dir.join(match slot {
            MASTER_SLOT => MASTER_KEY_FILE.to_string(),
            NEXT_MASTER_SLOT => NEXT_MASTER_KEY_FILE.to_string(),
            other => format!("{other}.key"),
        })
    }

    /// The keychain account of a slot: `<slot>@<data dir id>`.
    pub fn account(&self, slot: &str) -> String {
        format!("{slot}@{}", self.dir_id)
    }

    /// Where a slot lives, for messages (no key material).
    pub fn describe(&self, slot: &str) -> String {
        match self.backend {
            KeyStorage::File => self.slot_path(slot).display().to_string(),
            _ => format!(
                "the OS keychain entry {KEYCHAIN_SERVICE}/{}",
                self.account(slot)
            ),
        }
    }

    /// The 32-byte key in `slot` ("master", "master.next", or another name such as "config"),
    /// created on first use.
    pub fn load_or_create(&self, slot: &str) -> Result<MasterKey> {
        check_slot(slot)?;
        if self.backend == KeyStorage::File {
            return MasterKey::load_or_create(&self.slot_path(slot));
        }
        if let Some(key) = self.load(slot)? {
            return Ok(key);
        }
        self.store(slot, &MasterKey::generate())?;
        // Read back what the keychain holds: a write that did not land is an error now, not a
        // database sealed under a key nobody kept.
        let key = self.load(slot)?.ok_or_else(|| {
            ShannonError::MasterKey(format!(
                "{} was written but reads back empty",
                self.describe(slot)
            ))
        })?;
        tracing::info!(
            entry = %self.describe(slot),
            "created a new Shannon key in the OS keychain"
        );
        Ok(key)
    }

    /// The key in `slot`, if there is one.
    pub fn load(&self, slot: &str) -> Result<Option<MasterKey>> {
        check_slot(slot)?;
        match self.backend {
            KeyStorage::File => {
                let path = self.slot_path(slot);
                if path.exists() {
                    MasterKey::read(&path).map(Some)
                } else {
                    Ok(None)
                }
            }
            _ => self.keychain_load(slot).map_err(|e| self.error(slot, &e)),
        }
    }

    /// Stores `key` in `slot`, replacing what was there.
    pub fn store(&self, slot: &str, key: &MasterKey) -> Result<()> {
        check_slot(slot)?;
        match self.backend {
            KeyStorage::File => key.write(&self.slot_path(slot), true),
            _ => {
                let hex = key.to_hex();
                let account = self.account(slot);
                timed(move || {
                    keyring::Entry::new(KEYCHAIN_SERVICE, &account)?.set_password(hex.as_str())
                })
                .map_err(|e| self.error(slot, &e))
            }
        }
    }

    /// Removes the key in `slot`; nothing there is not an error.
    pub fn remove(&self, slot: &str) -> Result<()> {
        check_slot(slot)?;
        match self.backend {
            KeyStorage::File => match std::fs::remove_file(self.slot_path(slot)) {
                Ok(()) => {
                    sync_dir(&self.dir);
                    Ok(())
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            },
            _ => {
                let account = self.account(slot);
                timed(move || {
                    match keyring::Entry::new(KEYCHAIN_SERVICE, &account)?.delete_credential() {
                        Err(keyring::Error::NoEntry) => Ok(()),
                        other => other,
                    }
                })
                .map_err(|e| self.error(slot, &e))
            }
        }
    }

    /// Makes the key in `from` the key in `to` and empties `from`. A file is renamed (atomic); a
    /// keychain entry is copied, then removed, so a crash in between leaves the key in both.
    pub fn promote(&self, from: &str, to: &str) -> Result<()> {
        check_slot(from)?;
        check_slot(to)?;
        match self.backend {
            KeyStorage::File => {
                std::fs::rename(self.slot_path(from), self.slot_path(to))?;
                sync_dir(&self.dir);
                Ok(())
            }
            _ => {
                let key = self.load(from)?.ok_or_else(|| {
                    ShannonError::MasterKey(format!("{} holds no key", self.describe(from)))
                })?;
                self.store(to, &key)?;
                self.remove(from)
            }
        }
    }

    /// One keychain read, timed. `Ok(None)` = the keychain answered and has no such entry.
    fn keychain_load(&self, slot: &str) -> std::result::Result<Option<MasterKey>, String> {
        let account = self.account(slot);
        let secret =
            timed(
                move || match keyring::Entry::new(KEYCHAIN_SERVICE, &account)?.get_password() {
                    Ok(text) => Ok(Some(zeroize::Zeroizing::new(text))),
                    Err(keyring::Error::NoEntry) => Ok(None),
                    Err(e) => Err(e),
                },
            )?;
        match secret {
            None => Ok(None),
            Some(text) => MasterKey::from_hex(&text)
                .map(Some)
                .ok_or_else(|| "the entry is not a key (expected 64 hex characters)".to_string()),
        }
    }

    /// A keychain failure about `slot` (recognised by [`is_keychain_error`]).
    pub(crate) fn error(&self, slot: &str, reason: &str) -> ShannonError {
        ShannonError::MasterKey(format!(
            "{KEYCHAIN_ERROR} for {}: {reason}",
            self.describe(slot)
        ))
    }
}

const KEYCHAIN_ERROR: &str = "the OS keychain could not be used";

/// Whether `e` is the keychain failing (not answering, refusing, not keeping a key), as opposed to a
/// key that does not fit the database: with [`KeyStorage::Auto`] the former falls back to the file.
pub(crate) fn is_keychain_error(e: &ShannonError) -> bool {
    matches!(e, ShannonError::MasterKey(m) if m.starts_with(KEYCHAIN_ERROR))
}

/// Slot names become file names and keychain accounts: short, lowercase, no separators.
fn check_slot(slot: &str) -> Result<()> {
    let ok = !slot.is_empty()
        && slot.len() <= 64
        && !slot.starts_with('.')
        && slot
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ShannonError::Internal(format!(
            "invalid key slot name {slot:?}"
        )))
    }
}

/// Runs one keychain call on its own thread and waits at most [`KEYCHAIN_TIMEOUT`]. A call that
/// does not return in time is left to finish (or hang) on its thread; its result is dropped. Errors
/// are described without any secret (`keyring`'s own messages carry none; a non-UTF-8 secret is
/// described, not shown).
fn timed<T: Send + 'static>(
    call: impl FnOnce() -> keyring::Result<T> + Send + 'static,
) -> std::result::Result<T, String> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("shannon-keychain".into())
        .spawn(move || {
            let _ = tx.send(call());
        })
        .map_err(|e| format!("could not start a keychain thread: {e}"))?;
    match rx.recv_timeout(KEYCHAIN_TIMEOUT) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(describe_keyring_error(&e)),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "the keychain did not answer within {} s",
            KEYCHAIN_TIMEOUT.as_secs()
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("the keychain call failed".into()),
    }
}

fn describe_keyring_error(e: &keyring::Error) -> String {
    match e {
        keyring::Error::NoEntry => "no such entry".into(),
        keyring::Error::BadEncoding(_) => "the entry is not text".into(),
        keyring::Error::Ambiguous(items) => {
            format!(
                "{} keychain entries match; remove the extra ones",
                items.len()
            )
        }
        keyring::Error::PlatformFailure(err) => format!("keychain failure: {err}"),
        keyring::Error::NoStorageAccess(err) => format!("no access to the keychain: {err}"),
        other => other.to_string(),
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_backend_keeps_todays_files() {
        let dir = tempfile::tempdir().unwrap();
        let ks = KeyStore::new(KeyStorage::File, dir.path());
        assert_eq!(ks.backend(), KeyStorage::File);
        assert!(ks.load(MASTER_SLOT).unwrap().is_none());
        let key = ks.load_or_create(MASTER_SLOT).unwrap();
        assert!(dir.path().join("master.key").exists());
        assert!(ks.load_or_create(MASTER_SLOT).unwrap() == key);

        let next = MasterKey::generate();
        ks.store(NEXT_MASTER_SLOT, &next).unwrap();
        assert!(dir.path().join("master.key.next").exists());
        ks.promote(NEXT_MASTER_SLOT, MASTER_SLOT).unwrap();
        assert!(!dir.path().join("master.key.next").exists());
        assert!(ks.load(MASTER_SLOT).unwrap().unwrap() == next);

        ks.load_or_create("config").unwrap();
        assert!(dir.path().join("config.key").exists());
        ks.remove("config").unwrap();
        ks.remove("config").unwrap();
        assert!(!dir.path().join("config.key").exists());
    }

    #[test]
    fn slot_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let ks = KeyStore::new(KeyStorage::File, dir.path());
        for bad in ["", "../x", "a/b", ".hidden", "Master", "a b"] {
            assert!(ks.load(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn accounts_name_the_slot_and_the_canonical_dir() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ka = KeyStore::new(KeyStorage::File, a.path());
        let kb = KeyStore::new(KeyStorage::File, b.path());
        assert_ne!(ka.account(MASTER_SLOT), kb.account(MASTER_SLOT));
        // The same dir reached through another spelling is the same entry.
        let dotted = a.path().join(".");
        assert_eq!(
            KeyStore::new(KeyStorage::File, &dotted).account(MASTER_SLOT),
            ka.account(MASTER_SLOT)
        );
        let account = ka.account(MASTER_SLOT);
        let (slot, id) = account.split_once('@').unwrap();
        assert_eq!(slot, "master");
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn storage_names_parse_and_serialize_lowercase() {
        for (name, storage) in [
            ("auto", KeyStorage::Auto),
            ("keychain", KeyStorage::Keychain),
            ("file", KeyStorage::File),
        ] {
            assert_eq!(name.parse::<KeyStorage>().unwrap(), storage);
            assert_eq!(storage.to_string(), name);
            assert_eq!(
                serde_json::to_string(&storage).unwrap(),
                format!("\"{name}\"")
            );
        }
        assert!("disk".parse::<KeyStorage>().is_err());
        assert_eq!(KeyStorage::default(), KeyStorage::Auto);
    }
}
